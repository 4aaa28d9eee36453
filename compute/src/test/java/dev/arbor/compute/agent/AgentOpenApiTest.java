package dev.arbor.compute.agent;

import dev.arbor.api.compute.AgentActivity;
import dev.arbor.api.compute.AgentStatus;

import dev.arbor.api.compute.ComputeAgentSpec;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.Problem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.client.Json;
import dev.arbor.testing.AgentProcess;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.OpenApiContract;
import dev.arbor.testing.TempDirectory;
import dev.arbor.server.HttpApi;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The compute agent's {@code /openapi.json} describes what a running agent serves: exactly the routes it
 * registers, {@link AgentStatus} and {@link AgentActivity} field for field, answers that validate against it while the
 * compute starts and once it runs, and the problem types the agent can answer.
 */
class AgentOpenApiTest {

  @Test
  void theDocumentDescribesWhatARunningAgentServes() throws Exception {
    try (var storage = new StorageProcesses(1).start(); var work = TempDirectory.create("arbor-agent-openapi-")) {
      TenantInfo tenant = storage.createTenant(15);
      ComputeAgentSpec spec = AgentSpecs.readWrite(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("agent"), List.of(),
          List.of());
      String url = "http://" + spec.listenHost() + ":" + spec.httpPort();
      try (AgentProcess agent = AgentProcess.start(spec, work.resolve("spec.json"), Map.of())) {
        agent.awaitRunning();
        OpenApiContract contract = OpenApiContract.fetch("the compute agent's OpenAPI document", url, "/openapi.json", Json.MAPPER);

        contract.assertSelfConsistent();
        assertThat(contract.routes()).containsExactlyInAnyOrderElementsOf(new ComputeAgent(spec, name -> null).httpApi().routes());
        contract.assertSchemaIsRecord("AgentStatus", AgentStatus.class);
        contract.assertSchemaIsRecord("AgentActivity", AgentActivity.class);
        contract.assertSchemaIsRecord("Problem", Problem.class);

        AgentStatus running = Json.read(contract.answer(200, "GET", url, "/status", null).body(), AgentStatus.class);
        assertThat(running.phase()).isEqualTo(AgentStatus.Phase.RUNNING);
        contract.answer(200, "GET", url, "/metrics", null);
        assertThat(Json.MAPPER.readTree(contract.answer(200, "GET", url, "/ready", null).body()).path("phase").asText())
            .isEqualTo("Running");
        contract.answer(204, "POST", url, "/activity", null);
        AgentActivity activity = Json.read(contract.answer(200, "GET", url, "/activity", null).body(), AgentActivity.class);
        assertThat(activity.sampledAt()).isNotNull();
        // The same agent, its compute still starting (its start is never called): nothing to sample yet.
        try (HttpApi starting = new ComputeAgent(spec, name -> null).httpApi().start(new InetSocketAddress(spec.listenHost(), 0))) {
          Problem notRunning = Json.read(contract.answer(503, "GET", "http://" + spec.listenHost() + ":" + starting.port(), "/activity",
              null).body(), Problem.class);
          assertThat(notRunning.type()).isEqualTo(ApiProblem.TYPE_BASE + ProblemTypes.COMPUTE_NOT_RUNNING);
          assertThat(notRunning.detail()).startsWith("the compute is Starting");
          // Its readiness probe keeps clients away until then, though PostgreSQL may already accept connections.
          Problem notReady = Json.read(contract.answer(503, "GET", "http://" + spec.listenHost() + ":" + starting.port(), "/ready",
              null).body(), Problem.class);
          assertThat(notReady.type()).isEqualTo(ApiProblem.TYPE_BASE + ProblemTypes.COMPUTE_NOT_RUNNING);
          assertThat(notReady.detail()).startsWith("the compute is Starting, not ready for clients");
        }
        contract.answer(200, "GET", url, "/openapi.json", null);
        contract.answerWithoutRoute(405, "POST", url, "/status");
        assertThat(contract.answerWithoutRoute(404, "GET", url, "/v1/status").text()).contains("the API is described at /openapi.json");
        assertThat(contract.unexercised()).as("documented answers this test did not see").isEmpty();

        Set<String> answered = OpenApiContract.problemTypesIn(ProblemTypes.class, ProblemTypes.INVALID_FIELD,
                "server/src/main/java/dev/arbor/server/HttpApi.java", "compute/src/main/java/dev/arbor/compute/agent")
            .stream().map(t -> ApiProblem.TYPE_BASE + t).collect(Collectors.toCollection(TreeSet::new));
        assertThat(contract.problemTypes()).isEqualTo(answered);
      }
    }
  }
}

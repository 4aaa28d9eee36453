package dev.arbor.compute.agent;

import dev.arbor.api.compute.ComputeAgentSpec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.compute.AgentStatus;
import dev.arbor.api.compute.AgentStatus.Phase;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.client.ComputeAgentClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.testing.AgentProcess;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import dev.arbor.server.HttpApi;
import java.net.InetSocketAddress;
import java.net.ConnectException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The compute agent's client against a real agent process: typed status, metrics text, retries, isRunning and ready. */
class ComputeAgentClientTest {

  @Test
  void theClientWaitsOutTheAgentsStartAndReadsItTyped() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-agent-client-")) {
      TenantInfo tenant = storage.createTenant(15);
      ComputeAgentSpec spec = AgentSpecs.readWrite(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("agent"),
          List.of(), List.of());
      var once = ComputeAgentClient.at(spec.listenHost(), spec.httpPort(), Duration.ofSeconds(5), RetryPolicy.NONE);
      assertThat(once.isRunning()).as("before the agent exists").isFalse();
      assertThatThrownBy(once::status).isInstanceOf(ConnectException.class);

      // The agent's JVM takes a moment to serve: a patient client's first status call rides out the refused connections.
      var patient = ComputeAgentClient.at(spec.listenHost(), spec.httpPort(), Duration.ofSeconds(5),
          new RetryPolicy(60, Duration.ofMillis(100), Duration.ofMillis(500)));
      try (AgentProcess agent = AgentProcess.start(spec, work.resolve("spec.json"), Map.of())) {
        AgentStatus first = patient.status();
        assertThat(first.phase()).isIn(Phase.STARTING, Phase.RUNNING);
        assertThat(first.mode()).isEqualTo(ComputeAgentSpec.Mode.READ_WRITE);
        assertThat(first.tenant()).isEqualTo(tenant.tenantId());
        assertThat(first.timeline()).isEqualTo(tenant.rootTimelineId());

        AgentStatus running = agent.awaitRunning();
        assertThat(running.generation()).isPositive();
        assertThat(running.currentLsn()).isNotNull();
        assertThat(once.isRunning()).isTrue();
        assertThat(PrometheusText.parse(once.metrics())).containsEntry("arbor_compute_up", 1.0)
            .containsEntry("arbor_compute_phase{phase=\"Running\"}", 1.0);
        // After the metrics: PrometheusText takes a histogram's _bucket, _count and _sum for families of their own,
        // so a second series of the request histogram (route /ready) would read as a family split in two.
        assertThat(once.ready()).as("GET /ready of a running compute").isTrue();
        // The same agent, its compute still starting (its start is never called): not ready, though it answers.
        try (HttpApi starting = new ComputeAgent(spec, name -> null).httpApi().start(new InetSocketAddress(spec.listenHost(), 0))) {
          assertThat(ComputeAgentClient.at(spec.listenHost(), starting.port(), Duration.ofSeconds(5), RetryPolicy.NONE).ready())
              .as("GET /ready of a starting compute").isFalse();
        }

        assertThat(agent.sigterm()).isEqualTo(0);
        assertThat(once.isRunning()).as("after SIGTERM").isFalse();
        assertThatThrownBy(once::ready).as("no agent: an outage, not an answer").isInstanceOf(ConnectException.class);
      }
    }
  }
}

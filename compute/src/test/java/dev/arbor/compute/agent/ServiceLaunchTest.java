package dev.arbor.compute.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.compute.AgentCommand;
import dev.arbor.api.compute.InvalidSpecException;
import dev.arbor.client.ComputeSpecJson;
import dev.arbor.client.ServiceLaunch;
import dev.arbor.storage.StorageMain;
import org.junit.jupiter.api.Test;

/** The launchers name the services' main classes by string (they do not depend on the modules): keep them true. */
class ServiceLaunchTest {
  @Test
  void theLaunchersNameTheRealMainClasses() {
    assertThat(ServiceLaunch.COMPUTE_AGENT.mainClass()).isEqualTo(ComputeAgent.class.getName());
    assertThat(ServiceLaunch.STORAGE_ENGINE.mainClass()).isEqualTo(StorageMain.class.getName());
  }

  /** What the operator's and the CLI's spec tests check a rendered spec with is what the agent runs first. */
  @Test
  void theAgentAcceptsExactlyWhatTheClientParserAccepts() {
    assertThat(AgentCommand.MAIN_CLASS).isEqualTo(ComputeAgent.class.getName());
    String json = """
        {"format_version": 1, "tenant_id": "%s", "timeline_id": "%s", "mode": "read_only", "lsn": "0/16B5A50",
         "pageserver_url": "http://127.0.0.1:9898", "postgres_version": 15, "listen_host": "127.0.0.1", "port": 55432,
         "http_port": 0, "work_dir": "/tmp/arbor-compute"}""".formatted("a".repeat(32), "b".repeat(32));
    assertThat(ComputeAgent.acceptSpec(json)).isEqualTo(ComputeSpecJson.parse(json));
    String unknownField = json.replaceFirst("\\{", "{\"no_such_field\": 1,");
    assertThatThrownBy(() -> ComputeAgent.acceptSpec(unknownField)).isInstanceOf(InvalidSpecException.class);
    assertThatThrownBy(() -> ComputeSpecJson.parse(unknownField)).isInstanceOf(InvalidSpecException.class);
  }

  @Test
  void theClasspathIsTheModulesBuild() {
    assertThat(ServiceLaunch.COMPUTE_AGENT.classpath()).startsWith(System.getProperty("arbor.repo.root") + "/compute/target/classes:");
  }
}

package dev.arbor.compute.agent;

import static org.assertj.core.api.Assertions.assertThat;

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

  @Test
  void theClasspathIsTheModulesBuild() {
    assertThat(ServiceLaunch.COMPUTE_AGENT.classpath()).startsWith(System.getProperty("arbor.repo.root") + "/compute/target/classes:");
  }
}

package dev.arbor.testing;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.postgres.MissingPrerequisiteException;
import dev.arbor.postgres.PostgresInstallation;
import org.junit.jupiter.api.Test;

/** A missing prerequisite fails with the command that provides it; nothing skips silently. */
class MissingPrerequisiteTest {

  @Test
  void missingKubernetesBinariesNameTheScriptThatBuildsThem() {
    try (var dir = TempDirectory.create("arbor-empty-")) {
      assertThatThrownBy(() -> new KubernetesFixture(dir.path()).start())
          .hasMessageContaining("scripts/kube-binaries")
          .hasMessageContaining(dir.path().toString());
    }
  }

  @Test
  void missingPostgresMajorVersionNamesThePackage() {
    assertThatThrownBy(() -> PostgresInstallation.find(99))
        .isInstanceOf(MissingPrerequisiteException.class)
        .hasMessageContaining("apt-get install postgresql-99")
        .hasMessageContaining("ARBOR_PG99_BIN");
  }
}

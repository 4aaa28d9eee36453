package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testing.RepoFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * What the operator image carries is {@code operator/target/quarkus-app} (images/build copies it): it holds the
 * contracts and the clients, and none of the services. The enforcer's module-graph rule keeps the dependency
 * away; this looks at the packaged result.
 */
class OperatorPackageIT {
  @Test
  void thePackagedOperatorCarriesNoStorageEngineComputeOrServer() throws IOException {
    Path lib = RepoFiles.root().resolve("operator/target/quarkus-app/lib/main");
    assertThat(lib).as("the packaged operator (run after package)").isDirectory();
    List<String> ours;
    try (Stream<Path> jars = Files.list(lib)) {
      ours = jars.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("dev.arbor.")).sorted().toList();
    }
    assertThat(ours).as("Arbor's jars in the operator image").isNotEmpty()
        .allSatisfy(n -> assertThat(n).matches("dev\\.arbor\\.arbor-(api|client|crds)-.*\\.jar"));
  }
}

package dev.arbor.crds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import dev.arbor.testing.RepoFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The committed CRD YAML is exactly what the model generates, so that what a user installs (from
 * {@code crds/generated/} or the Helm chart) is what the operator was built against. With
 * {@code -Darbor.crds.update=true} (what {@code crds/update} does) it writes the YAML instead of comparing.
 */
class CommittedCrdsTest {

  static final List<String> COMMITTED_DIRS = List.of("crds/generated", "helm/arbor/crds");

  @Test
  void committedCrdsMatchTheModel() throws IOException {
    Map<String, String> generated = CrdYaml.generate();
    assertThat(generated).hasSize(CrdYaml.KINDS.size());
    boolean update = Boolean.getBoolean("arbor.crds.update");
    for (String dirName : COMMITTED_DIRS) {
      Path dir = RepoFiles.root().resolve(dirName);
      if (update) {
        write(dir, generated);
      }
      for (var file : generated.entrySet()) {
        Path committed = dir.resolve(file.getKey());
        if (!Files.exists(committed)) {
          fail(committed + " is missing: the model has a CRD that is not committed. Run '" + CrdYaml.REGENERATE + "' and commit the result.");
        }
        String onDisk = Files.readString(committed);
        if (!onDisk.equals(file.getValue())) {
          fail(dirName + "/" + file.getKey() + " differs from what the model in dev.arbor.crds.v1alpha1 generates "
              + firstDifference(onDisk, file.getValue()) + ". Run '" + CrdYaml.REGENERATE + "' and commit the result.");
        }
      }
      try (Stream<Path> files = Files.list(dir)) {
        List<String> stale = files.map(p -> p.getFileName().toString()).filter(n -> !generated.containsKey(n)).toList();
        assertThat(stale)
            .as("files in %s that no model class generates; remove them or run '%s'", dirName, CrdYaml.REGENERATE)
            .isEmpty();
      }
    }
  }

  private static void write(Path dir, Map<String, String> generated) throws IOException {
    Files.createDirectories(dir);
    try (Stream<Path> files = Files.list(dir)) {
      for (Path stale : files.filter(p -> p.toString().endsWith(".yaml") && !generated.containsKey(p.getFileName().toString())).toList()) {
        Files.delete(stale);
      }
    }
    for (var file : generated.entrySet()) {
      Files.writeString(dir.resolve(file.getKey()), file.getValue());
    }
  }

  private static String firstDifference(String committed, String generated) {
    String[] a = committed.split("\n", -1);
    String[] b = generated.split("\n", -1);
    for (int i = 0; i < Math.max(a.length, b.length); i++) {
      String x = i < a.length ? a[i] : "<end of file>";
      String y = i < b.length ? b[i] : "<end of file>";
      if (!x.equals(y)) {
        return "(first at line " + (i + 1) + ": committed [" + x + "], generated [" + y + "])";
      }
    }
    return "";
  }
}

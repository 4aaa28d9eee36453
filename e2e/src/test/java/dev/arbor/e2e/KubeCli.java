package dev.arbor.e2e;

import dev.arbor.testing.RepoFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code helm} and {@code kubectl} as a user runs them, against the test cluster's kubeconfig: the binaries
 * that {@code scripts/kube-binaries} builds from Go module sources.
 */
final class KubeCli {
  private final Path kubeconfig;
  private final Path binaries;

  KubeCli(Path kubeconfig) {
    this.kubeconfig = kubeconfig;
    this.binaries = binaryDirectory();
  }

  record Result(List<String> command, int exit, String out, String err) {
    Result check() {
      if (exit != 0) {
        throw new AssertionError(String.join(" ", command) + " failed (exit " + exit + "):\n" + out + err);
      }
      return this;
    }
  }

  Result helm(String... args) {
    return run(null, "helm", args);
  }

  Result kubectl(String... args) {
    return run(null, "kubectl", args);
  }

  /** kubectl with {@code stdin} as its input (e.g. {@code apply -f -}). */
  Result kubectlWithInput(String stdin, String... args) {
    return run(stdin, "kubectl", args);
  }

  private Result run(String stdin, String program, String... args) {
    Path binary = binaries.resolve(program);
    if (!Files.isExecutable(binary)) {
      throw new IllegalStateException(binary + " is missing: run scripts/kube-binaries " + program + " (scripts/test does)");
    }
    List<String> command = new ArrayList<>(List.of(binary.toString()));
    command.addAll(List.of(args));
    try {
      Path err = Files.createTempFile("arbor-cli-", ".err");
      try {
        ProcessBuilder pb = new ProcessBuilder(command).directory(RepoFiles.root().toFile()).redirectError(err.toFile());
        pb.environment().put("KUBECONFIG", kubeconfig.toString());
        pb.environment().put("HELM_CACHE_HOME", System.getProperty("java.io.tmpdir") + "/arbor-e2e-helm/cache");
        pb.environment().put("HELM_CONFIG_HOME", System.getProperty("java.io.tmpdir") + "/arbor-e2e-helm/config");
        pb.environment().put("HELM_DATA_HOME", System.getProperty("java.io.tmpdir") + "/arbor-e2e-helm/data");
        Process p = pb.start();
        if (stdin != null) {
          p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(15, TimeUnit.MINUTES)) {
          p.destroyForcibly();
          throw new AssertionError(String.join(" ", command) + " did not finish in 15 minutes");
        }
        return new Result(command, p.exitValue(), out, Files.readString(err));
      } finally {
        Files.deleteIfExists(err);
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot run " + command, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted running " + command, e);
    }
  }

  /** Where scripts/kube-binaries puts what it builds ({@code --print-dir}). */
  static Path binaryDirectory() {
    try {
      Process p = new ProcessBuilder(RepoFiles.root().resolve("scripts/kube-binaries").toString(), "--print-dir")
          .redirectError(ProcessBuilder.Redirect.DISCARD).start();
      String dir = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      if (p.waitFor() != 0 || dir.isEmpty()) {
        throw new IllegalStateException("scripts/kube-binaries --print-dir failed");
      }
      return Path.of(dir);
    } catch (IOException e) {
      throw new IllegalStateException("cannot run scripts/kube-binaries --print-dir", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}

package dev.arbor.cli;

import dev.arbor.testing.RepoFiles;

import dev.arbor.cli.CliProcesses.Result;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code arbor} command for one ARBOR_HOME, each call a separate process (the main class the
 * {@code ./arbor} script runs, with this build's classpath), as a user at a terminal runs it.
 *
 * <p>{@code env} is added to the test's environment, from which the AWS variables are removed first: a test
 * states the object store settings it means, and a developer's own AWS settings never reach it.
 */
record Arbor(Path home, Map<String, String> env) {
  private static final Duration TIMEOUT = Duration.ofMinutes(15);

  Arbor {
    env = Map.copyOf(env);
  }

  Arbor(Path home) {
    this(home, Map.of());
  }

  /** This {@code arbor} with {@code more} added to its environment. */
  Arbor with(Map<String, String> more) {
    Map<String, String> all = new HashMap<>(env);
    all.putAll(more);
    return new Arbor(home, all);
  }

  Result run(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
        "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Darbor.repo.root=" + RepoFiles.root(), "-cp", System.getProperty("java.class.path"), ArborCli.class.getName()));
    cmd.addAll(List.of(args));
    var pb = new ProcessBuilder(cmd);
    pb.environment().keySet().removeIf(k -> k.startsWith("AWS_"));
    pb.environment().put("ARBOR_HOME", home.toString());
    pb.environment().putAll(env);
    return CliProcesses.run(pb, TIMEOUT);
  }

  /** {@link #run}, failing the test with its stderr unless it exited 0. */
  Result ok(String... args) throws IOException, InterruptedException {
    return CliProcesses.ok(run(args));
  }
}

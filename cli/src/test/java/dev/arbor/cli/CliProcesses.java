package dev.arbor.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.postgres.PostgresInstallation;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a process as a person would at a terminal (the CLI, {@code psql}) and keeps what it printed: shared by
 * the CLI's end-to-end tests, which run {@code arbor} through {@link Arbor}.
 */
final class CliProcesses {
  private CliProcesses() {}

  record Result(int exit, String out, String err) {
    /** The last line of stdout: what a command prints for scripts (a connection URI, an LSN). */
    String lastLine() {
      var lines = out.strip().lines().toList();
      return lines.isEmpty() ? "" : lines.getLast();
    }

    /** The lines of stderr that are not progress of steps that went well ("starting sk-0 ... ok (0.2 s)"). */
    List<String> errorLines() {
      return err.lines().filter(l -> !l.matches(".* \\.\\.\\. ok \\(.*\\)")).toList();
    }
  }

  /** {@code r}, failing the test with its stderr unless it exited 0. */
  static Result ok(Result r) {
    assertThat(r.exit()).as("exit code; stderr:\n" + r.err()).isZero();
    return r;
  }

  /** A person reads stderr: no exception class name, no stack trace. */
  static void assertNoJavaIn(Result r) {
    assertThat(r.err()).doesNotContain("Exception").doesNotContain("java.").doesNotContain("\tat ");
  }

  /** Runs {@code pb} to its end, or fails the test (and kills it) after {@code timeout}. */
  static Result run(ProcessBuilder pb, Duration timeout) throws IOException, InterruptedException {
    Path err = Files.createTempFile("arbor-cli-err", ".txt");
    try {
      Process p = pb.redirectError(err.toFile()).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        throw new AssertionError(pb.command() + " did not finish within " + timeout);
      }
      return new Result(p.exitValue(), out, Files.readString(err));
    } finally {
      Files.deleteIfExists(err);
    }
  }

  /** The answer of one statement through the real {@code psql} (unaligned, tuples only), failing the test on an error. */
  static String psql(String uri, String sql) throws IOException, InterruptedException {
    Result r = psqlResult(uri, sql);
    assertThat(r.exit()).as("psql: " + r.err()).isZero();
    return r.out().strip();
  }

  static Result psqlResult(String uri, String sql) throws IOException, InterruptedException {
    Path psql = PostgresInstallation.find(15).binary("psql");
    return run(new ProcessBuilder(psql.toString(), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", sql),
        Duration.ofMinutes(2));
  }
}

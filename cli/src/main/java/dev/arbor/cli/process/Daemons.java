package dev.arbor.cli.process;

import dev.arbor.cli.CliException;
import dev.arbor.cli.home.ArborHome;
import dev.arbor.client.ServiceLaunch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;

/**
 * Processes the CLI starts in the background (storage engine components, compute agents). Each runs in its
 * own session ({@code setsid}), so it outlives the CLI and a closed terminal, writes its output to
 * {@code logs/<name>.log}, and is remembered by a pid file. A pid is only trusted while the process's
 * command line still names Arbor, so a recycled pid is never signalled.
 */
public final class Daemons {
  private static final String MARKER = "dev.arbor.";
  private final ArborHome home;

  public Daemons(ArborHome home) {
    this.home = home;
  }

  /** The JVM command that runs {@code service} from this checkout's build of it. */
  public static List<String> java(ServiceLaunch service, List<String> args) {
    try {
      List<String> options = new ArrayList<>(List.of("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
      // A daemon that launches services itself (the local proxy starts computes) finds them as this JVM does.
      System.getProperties().stringPropertyNames().stream().filter(k -> k.startsWith("arbor.")).sorted()
          .forEach(k -> options.add("-D" + k + "=" + System.getProperty(k)));
      return service.command(options, args);
    } catch (IllegalStateException notBuilt) {
      throw new CliException(notBuilt.getMessage());
    }
  }

  /** Starts {@code name} in the background and waits until {@code ready} holds (or the process dies). */
  public long start(String name, List<String> command, Duration timeout, BooleanSupplier ready) {
    if (pid(name).isPresent()) {
      throw new IllegalStateException(name + " is already running");
    }
    try {
      Path log = home.log(name);
      Files.createDirectories(log.getParent());
      Files.createDirectories(home.pidFile(name).getParent());
      long pid = spawn(command, log);
      Files.writeString(home.pidFile(name), Long.toString(pid));
      long deadline = System.nanoTime() + timeout.toNanos();
      while (System.nanoTime() < deadline) {
        if (!running(pid)) {
          Files.deleteIfExists(home.pidFile(name));
          throw new CliException(name + " exited while starting: " + lastWords(log) + " (its log: " + log + ")");
        }
        if (ready.getAsBoolean()) {
          return pid;
        }
        Thread.sleep(25);
      }
      stop(name, Duration.ofSeconds(5));
      throw new CliException(name + " did not become ready within " + timeout.toSeconds() + " s: " + lastWords(log)
          + " (its log: " + log + ")");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CliException("interrupted while starting " + name);
    }
  }

  /**
   * Runs {@code command} in its own session with its output appended to {@code log}, as an orphan: a shell
   * starts it in the background, prints its pid and exits. Not a child of this JVM, because a JVM exits
   * only after waiting up to 0.3 s for threads blocked in native code, and the thread that waits for a
   * child process is one for as long as the child lives: every {@code arbor up} and {@code endpoint start}
   * paid that on the way out.
   */
  private static long spawn(List<String> command, Path log) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("sh", "-c", "log=\"$1\"; shift; setsid \"$@\" </dev/null >>\"$log\" 2>&1 & echo $!",
        "sh", log.toString()));
    cmd.addAll(command);
    Process sh = new ProcessBuilder(cmd)
        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
        .redirectErrorStream(true)
        .start();
    String out = new String(sh.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    if (sh.waitFor() != 0 || !out.matches("[0-9]+")) {
      throw new CliException("could not start " + String.join(" ", command) + ": " + out);
    }
    return Long.parseLong(out);
  }

  /**
   * Whether {@code pid} runs: exists and is not a zombie (an orphan that exited and was not reaped yet).
   * While a daemon starts, this is the test, not {@link #isOurs}: its command line reads empty for a moment
   * in each exec (sh, then setsid, then java).
   */
  private static boolean running(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
      char state = stat.charAt(stat.lastIndexOf(')') + 2);
      return state != 'Z' && state != 'X';
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** Whether {@code pid} is alive and still an Arbor process (not a zombie, not a recycled pid). */
  private static boolean isOurs(long pid) {
    return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).isPresent() && cmdline(pid).contains(MARKER);
  }

  /** The pid of {@code name} if it is running. */
  public Optional<Long> pid(String name) {
    Path file = home.pidFile(name);
    try {
      if (!Files.exists(file)) {
        return Optional.empty();
      }
      long pid = Long.parseLong(Files.readString(file).trim());
      if (isOurs(pid)) {
        return Optional.of(pid);
      }
      Files.deleteIfExists(file); // stale: the process is gone (or the pid was reused by something else)
      return Optional.empty();
    } catch (IOException | NumberFormatException e) {
      return Optional.empty();
    }
  }

  /** SIGTERM, then SIGKILL after {@code grace}. Returns whether it was running. */
  public boolean stop(String name, Duration grace) {
    Optional<Long> pid = pid(name);
    if (pid.isEmpty()) {
      return false;
    }
    ProcessHandle h = ProcessHandle.of(pid.get()).orElseThrow();
    h.destroy();
    try {
      h.onExit().get(grace.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    } catch (Exception timeout) {
      h.descendants().forEach(ProcessHandle::destroyForcibly);
      h.destroyForcibly();
    }
    try {
      Files.deleteIfExists(home.pidFile(name));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return true;
  }

  /** Names of every process with a pid file (running or not). */
  public List<String> known() {
    Path dir = home.pidFile("x").getParent();
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (var s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".pid"))
          .map(n -> n.substring(0, n.length() - 4)).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String cmdline(long pid) {
    try {
      return new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  /**
   * The last line of a log that says something: not a stack frame ("\tat ...", "... 3 more"), which follows the
   * line that matters. Our daemons end a failed start with one line saying what to do.
   */
  static String lastWords(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8).stream()
          .filter(l -> !l.isBlank() && !Character.isWhitespace(l.charAt(0)) && !l.startsWith("Caused by:")).toList();
      return lines.isEmpty() ? "it wrote nothing" : lines.getLast().strip();
    } catch (IOException e) {
      return "it left no log";
    }
  }

  public static String tail(Path log, int lines) {
    try {
      List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException e) {
      return "(no log)";
    }
  }
}

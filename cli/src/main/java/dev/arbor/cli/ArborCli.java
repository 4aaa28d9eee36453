package dev.arbor.cli;

import dev.arbor.cli.command.BranchCommand;
import dev.arbor.cli.command.ConnstrCommand;
import dev.arbor.cli.command.DownCommand;
import dev.arbor.cli.command.EndpointCommand;
import dev.arbor.cli.command.LsnCommand;
import dev.arbor.cli.command.ProjectCommand;
import dev.arbor.cli.command.ProxyDaemonCommand;
import dev.arbor.cli.command.StatusCommand;
import dev.arbor.cli.command.UpCommand;
import dev.arbor.cli.home.ArborHome;
import dev.arbor.api.ApiProblem;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.LinkedHashSet;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * {@code arbor}: Arbor on one machine, no cluster — the storage engine and computes as local processes.
 *
 * <p>A failure prints one line, {@code arbor: <what happened and what to do>}, and never a Java class name:
 * a person reads it, not a developer. Usage errors (exit 2) point at the command's {@code --help}; errors a
 * person can act on (exit 1) print their message; anything else is a bug, and its stack trace goes to
 * {@code logs/cli.log} in the home, which the line names.
 */
@Command(name = "arbor", mixinStandardHelpOptions = true, version = "arbor 0.1.0-SNAPSHOT",
    description = "Branchable PostgreSQL with storage separated from compute, on this machine.",
    subcommands = {UpCommand.class, DownCommand.class, StatusCommand.class, ProjectCommand.class, BranchCommand.class,
        EndpointCommand.class, ConnstrCommand.class, LsnCommand.class, ProxyDaemonCommand.class})
public final class ArborCli {

  public static void main(String[] args) {
    System.exit(run(args));
  }

  public static int run(String... args) {
    var err = new LineTrackingStream(System.err);
    System.setErr(err); // commands print progress ("starting sk-0 ... ") to System.err
    var cli = new CommandLine(new ArborCli()).setErr(new PrintWriter(err, true));
    if (args.length == 0) {
      cli.usage(err);
      return cli.getCommandSpec().exitCodeOnInvalidInput();
    }
    return cli
        .setParameterExceptionHandler((e, a) -> {
          String command = "./" + e.getCommandLine().getCommandSpec().qualifiedName(" ");
          String suggestion = e instanceof UnmatchedArgumentException u && !u.getSuggestions().isEmpty()
              ? "; did you mean " + String.join(" or ", u.getSuggestions().stream().map(c -> command + " " + c).toList()) + "?" : "";
          String help = command + " --help";
          fail(err, oneLine(e.getMessage()) + suggestion + " (see " + help + ")");
          return e.getCommandLine().getCommandSpec().exitCodeOnInvalidInput();
        })
        .setExecutionExceptionHandler((e, cmd, parsed) -> {
          fail(err, message(e));
          return cmd.getCommandSpec().exitCodeOnExecutionException();
        })
        .execute(args);
  }

  /** The line a person reads for {@code e}. */
  static String message(Throwable e) {
    if (e instanceof ApiProblem p && p.status() >= 500) {
      // The storage engine's own log has the stack trace; the detail says what failed.
      return "the storage engine failed: " + oneLine(p.getMessage()) + " (its logs: " + ArborHome.resolve().root().resolve("logs") + ")";
    }
    if (e instanceof CliException || e instanceof ApiProblem || e instanceof IOException
        || e instanceof java.io.UncheckedIOException || e instanceof dev.arbor.postgres.MissingPrerequisiteException) {
      return describe(e);
    }
    return "unexpected error: " + describe(e) + " (this is a bug in Arbor; " + logBug(e) + ")";
  }

  /**
   * The messages of {@code e} and its causes, joined, without class names: a wrapper that only repeats its
   * cause ({@code new UncheckedIOException(e)} says {@code java.io.IOException: ...}) adds nothing.
   */
  static String describe(Throwable e) {
    var parts = new LinkedHashSet<String>();
    for (Throwable t = e; t != null && parts.size() < 5; t = t.getCause()) {
      String m = t.getMessage();
      if (m != null && !m.isBlank() && (t.getCause() == null || !m.equals(t.getCause().toString()))) {
        parts.add(oneLine(m));
      }
    }
    return parts.isEmpty() ? "no message" : String.join(": ", parts);
  }

  static String oneLine(String message) {
    return message == null ? "" : message.strip().replaceAll("\\s*\\R\\s*", " / ");
  }

  private static void fail(LineTrackingStream err, String line) {
    if (!err.atLineStart()) {
      err.println("failed"); // ends a progress line such as "creating project default (initdb) ... "
    }
    err.println("arbor: " + line);
    err.flush();
  }

  /** Appends the stack trace of a bug to the home's logs/cli.log; says where it went. */
  private static String logBug(Throwable e) {
    Path log = ArborHome.resolve().log("cli");
    var trace = new StringWriter();
    e.printStackTrace(new PrintWriter(trace));
    try {
      Files.createDirectories(log.getParent());
      Files.writeString(log, Instant.now() + " event=cli_failed\n" + trace, StandardCharsets.UTF_8,
          StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      return "the details are in " + log;
    } catch (IOException notWritten) {
      return "please report it with the command you ran";
    }
  }

  /** Knows whether the last byte written was a line end, so an error never lands after a progress line's "... ". */
  static final class LineTrackingStream extends PrintStream {
    private volatile boolean atLineStart = true;

    LineTrackingStream(OutputStream out) {
      super(out, true, StandardCharsets.UTF_8);
    }

    boolean atLineStart() {
      return atLineStart;
    }

    @Override
    public void write(int b) {
      super.write(b);
      atLineStart = b == '\n';
    }

    @Override
    public void write(byte[] buf, int off, int len) {
      super.write(buf, off, len);
      if (len > 0) {
        atLineStart = buf[off + len - 1] == '\n';
      }
    }
  }
}

package dev.arbor.cli;

import dev.arbor.cli.command.BranchCommand;
import dev.arbor.cli.command.ConnstrCommand;
import dev.arbor.cli.command.DownCommand;
import dev.arbor.cli.command.EndpointCommand;
import dev.arbor.cli.command.LsnCommand;
import dev.arbor.cli.command.ProjectCommand;
import dev.arbor.cli.command.StatusCommand;
import dev.arbor.cli.command.UpCommand;
import dev.arbor.postgres.MissingPrerequisiteException;
import dev.arbor.storage.http.ApiProblem;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code arbor}: Arbor on one machine, no cluster — the storage engine and computes as local processes. */
@Command(name = "arbor", mixinStandardHelpOptions = true, version = "arbor 0.1.0-SNAPSHOT",
    description = "Branchable PostgreSQL with storage separated from compute, on this machine.",
    subcommands = {UpCommand.class, DownCommand.class, StatusCommand.class, ProjectCommand.class, BranchCommand.class,
        EndpointCommand.class, ConnstrCommand.class, LsnCommand.class})
public final class ArborCli {

  public static void main(String[] args) {
    System.exit(run(args));
  }

  public static int run(String... args) {
    return new CommandLine(new ArborCli())
        .setExecutionExceptionHandler((e, cmd, parsed) -> {
          // Errors a user can act on print their message only; anything else is a bug worth a trace.
          if (e instanceof CliException || e instanceof ApiProblem || e instanceof MissingPrerequisiteException) {
            cmd.getErr().println("arbor: " + e.getMessage());
            return 1;
          }
          if (e instanceof UncheckedIOException io) {
            cmd.getErr().println("arbor: " + io.getMessage() + ": " + io.getCause().getMessage());
            return 1;
          }
          throw e;
        })
        .execute(args);
  }
}

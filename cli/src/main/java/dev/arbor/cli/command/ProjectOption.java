package dev.arbor.cli.command;

import dev.arbor.cli.CliException;
import dev.arbor.cli.home.LocalState;
import picocli.CommandLine.Option;

/** {@code --project NAME}, default {@code default}. */
public final class ProjectOption {
  @Option(names = "--project", description = "The project (default: ${DEFAULT-VALUE}).", defaultValue = "default")
  String name;

  LocalState.Project require(LocalState state) {
    return state.project(name).orElseThrow(() -> new CliException("no project '" + name + "'"
        + (state.projects().isEmpty() ? "; run ./arbor up (creates 'default') or ./arbor project create " + name
            : "; projects: " + String.join(", ", state.projects().keySet()))));
  }

  /** The branch of the project, or an error that lists the branches there are. */
  static LocalState.Branch branch(LocalState.Project p, String project, String branch) {
    LocalState.Branch b = p.branches().get(branch);
    if (b == null) {
      throw new CliException("no branch '" + branch + "' in project " + project + "; branches: " + String.join(", ", p.branches().keySet()));
    }
    return b;
  }
}

package dev.arbor.cli.command;

import dev.arbor.cli.CliException;
import dev.arbor.cli.home.ArborHome;
import dev.arbor.cli.home.LocalConfig;
import dev.arbor.cli.home.LocalState;
import dev.arbor.cli.process.Pageserver;

/** The local installation a command works on: its home, layout, state and pageserver client. */
final class Installation {
  final ArborHome home = ArborHome.resolve();

  LocalConfig config() {
    return home.config().orElseThrow(() -> new CliException("no Arbor installation in " + home.root()
        + "; start one with: ./arbor up   (or set ARBOR_HOME)"));
  }

  LocalState state() {
    return home.state();
  }

  Pageserver pageserver() {
    return new Pageserver(config(), home.adminTokens(), home.certificates().clientTls());
  }
}

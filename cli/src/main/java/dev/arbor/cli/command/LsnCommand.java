package dev.arbor.cli.command;

import dev.arbor.cli.CliException;
import dev.arbor.cli.home.LocalState;
import dev.arbor.api.pageserver.TimelineInfo;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(name = "lsn", description = "The head LSN of BRANCH: everything committed on it is at or below this LSN.")
public final class LsnCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "BRANCH") String branch;
  @Mixin ProjectOption project;
  @Mixin Output output;

  @Override
  public Integer call() {
    var inst = new Installation();
    LocalState.Project p = project.require(inst.state());
    LocalState.Branch b = ProjectOption.branch(p, project.name, branch);
    TimelineInfo t = inst.pageserver().timeline(p.tenantId(), b.timelineId());
    if (t.lastDurableLsn() == null) {
      throw new CliException("the head of " + branch + " is unknown: " + t.walStatus());
    }
    output.print(System.out, Map.of("branch", branch, "lsn", t.lastDurableLsn().toString()), t.lastDurableLsn().toString());
    return 0;
  }
}

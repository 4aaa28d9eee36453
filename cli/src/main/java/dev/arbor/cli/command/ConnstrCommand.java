package dev.arbor.cli.command;

import dev.arbor.cli.CliException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(name = "connstr", description = "The connection URI of BRANCH's running endpoint.")
public final class ConnstrCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "BRANCH") String branch;
  @Mixin ProjectOption project;

  @Override
  public Integer call() {
    var inst = new Installation();
    project.require(inst.state());
    var info = Endpoints.info(inst, project.name, branch);
    boolean running = Endpoints.running(inst, project.name).contains(branch);
    if (info.isEmpty() || Endpoints.displayState(info.get(), running).equals(Endpoints.STOPPED)) {
      throw new CliException("branch " + branch + " has no endpoint; start one with: ./arbor endpoint start " + branch
          + (project.name.equals("default") ? "" : " --project " + project.name));
    }
    System.out.println(Endpoints.uri(inst, info.get()));
    return 0;
  }
}

package dev.arbor.cli.command;

import dev.arbor.cli.process.LocalStorage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

@Command(name = "down", description = "Stop every process Arbor started here (the proxy, endpoints, then the storage engine); data stays.")
public final class DownCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    var inst = new Installation();
    if (inst.home.config().isEmpty()) {
      System.out.println("nothing to stop: no Arbor installation in " + inst.home.root());
      return 0;
    }
    List<String> stopped = new ArrayList<>();
    // The proxy first: it would start a compute again for a client that connects meanwhile.
    if (LocalProxy.stop(inst)) {
      stopped.add("proxy");
    }
    for (String project : inst.state().projects().keySet()) {
      for (String branch : Endpoints.running(inst, project)) {
        System.err.print("stopping endpoint " + project + "/" + branch + " ... ");
        Endpoints.stop(inst, project, branch, null);
        System.err.println("ok");
        stopped.add("endpoint " + project + "/" + branch);
      }
    }
    stopped.addAll(new LocalStorage(inst.home).stop(inst.config()));
    System.out.println(stopped.isEmpty() ? "nothing was running" : "stopped: " + String.join(", ", stopped));
    return 0;
  }
}

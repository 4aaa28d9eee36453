package dev.arbor.cli.command;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code arbor proxy-daemon}: the local proxy ({@link LocalProxy}) in the foreground; the CLI starts it as a daemon. */
@Command(name = "proxy-daemon", hidden = true,
    description = "Run the local proxy in the foreground (./arbor up and ./arbor endpoint start run it in the background).")
public final class ProxyDaemonCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    var inst = new Installation();
    inst.config(); // fails with the fix when there is no installation
    new LocalProxy(inst).run();
    return 0;
  }
}

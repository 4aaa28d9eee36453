package dev.arbor.cli.command;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code arbor proxy-daemon}: the local proxy ({@link LocalProxy}) in the foreground; the CLI starts it as a daemon. */
@Command(name = "proxy-daemon", hidden = true,
    description = "Run the local proxy in the foreground (./arbor up and ./arbor endpoint start run it in the background).")
public final class ProxyDaemonCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    // One line per event with its wall-clock time, as the other daemons write (before any logger exists).
    setIfAbsent("org.slf4j.simpleLogger.defaultLogLevel", "info");
    setIfAbsent("org.slf4j.simpleLogger.showDateTime", "true");
    setIfAbsent("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    setIfAbsent("org.slf4j.simpleLogger.showThreadName", "false");
    setIfAbsent("org.slf4j.simpleLogger.showShortLogName", "true");
    var inst = new Installation();
    inst.config(); // fails with the fix when there is no installation
    new LocalProxy(inst).run();
    return 0;
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }
}

package dev.arbor.cli.command;

import dev.arbor.cli.home.LocalConfig;
import dev.arbor.cli.process.Daemons;
import dev.arbor.cli.process.LocalStorage;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

@Command(name = "status", description = "Processes, ports and health of the local installation.")
public final class StatusCommand implements Callable<Integer> {
  @Mixin Output output;

  @Override
  public Integer call() {
    var inst = new Installation();
    if (inst.home.config().isEmpty()) {
      output.print(System.out, List.of(), "no Arbor installation in " + inst.home.root() + "; start one with: ./arbor up");
      return 0;
    }
    List<Map<String, Object>> rows = rows(inst);
    if (output.json()) {
      output.print(System.out, rows, "");
    } else {
      print(inst, System.out);
    }
    return 0;
  }

  static List<Map<String, Object>> rows(Installation inst) {
    LocalConfig config = inst.config();
    var storage = new LocalStorage(inst.home);
    Daemons daemons = storage.daemons();
    List<Map<String, Object>> rows = new ArrayList<>();
    var tls = inst.home.certificates().clientTls();
    for (var sk : config.safekeepers().entrySet()) {
      rows.add(row(sk.getKey(), daemons.pid(sk.getKey()).orElse(null), sk.getValue(), LocalStorage.safekeeper(sk.getValue(), tls).isRunning()));
    }
    rows.add(row(LocalStorage.PAGESERVER, daemons.pid(LocalStorage.PAGESERVER).orElse(null), config.pageserverPort(),
        storage.pageserverRunning(config, tls)));
    Long proxyPid = daemons.pid(LocalProxy.DAEMON).orElse(null);
    rows.add(row(LocalProxy.DAEMON + " (every endpoint's port)", proxyPid, null, proxyPid != null));
    for (var e : Endpoints.all(inst)) {
      String name = Endpoints.daemonName(e.project(), e.branch());
      Long pid = daemons.pid(name).orElse(null);
      Map<String, Object> r = row("endpoint " + e.project() + "/" + e.branch() + " (" + e.mode() + ")", pid, e.port(), pid != null);
      if (pid == null) {
        r.put("state", Endpoints.displayState(e, false)); // suspended (a connection wakes it) or stopped
      }
      rows.add(r);
    }
    return rows;
  }

  private static Map<String, Object> row(String name, Long pid, Integer port, boolean healthy) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", name);
    m.put("pid", pid);
    m.put("port", port);
    m.put("state", pid == null ? "stopped" : healthy ? "running" : "unhealthy");
    return m;
  }

  static void print(Installation inst, PrintStream out) {
    out.println("object store: " + objectStore(inst.config(), inst));
    out.printf("%-36s %-8s %-6s %s%n", "PROCESS", "PID", "PORT", "STATE");
    for (var r : rows(inst)) {
      out.printf("%-36s %-8s %-6s %s%n", r.get("name"), r.get("pid") == null ? "-" : r.get("pid"), r.get("port") == null ? "-" : r.get("port"), r.get("state"));
    }
  }

  /** Where the data lives: the directory, or the S3 URL with the endpoint and region the daemons get when not set. */
  private static String objectStore(LocalConfig config, Installation inst) {
    LocalConfig.ObjectStore store = config.objectStore();
    String where = config.objectStoreArgument(inst.home);
    if (store == null || !store.isS3()) {
      return where;
    }
    List<String> settings = new ArrayList<>();
    if (store.endpoint() != null) {
      settings.add("AWS_ENDPOINT_URL " + store.endpoint());
    }
    if (store.region() != null) {
      settings.add("AWS_REGION " + store.region());
    }
    return settings.isEmpty() ? where : where + " (" + String.join(", ", settings) + ")";
  }
}

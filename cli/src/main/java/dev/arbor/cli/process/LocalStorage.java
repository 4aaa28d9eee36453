package dev.arbor.cli.process;

import dev.arbor.cli.CliException;
import dev.arbor.cli.home.ArborHome;
import dev.arbor.cli.home.LocalConfig;
import dev.arbor.storage.StorageMain;
import dev.arbor.storage.http.HttpJson;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The local storage engine: a pageserver and N safekeepers as background processes of this home. */
public final class LocalStorage {
  public static final String PAGESERVER = "pageserver";
  private final ArborHome home;
  private final Daemons daemons;
  private final HttpJson http = new HttpJson(Duration.ofSeconds(2));

  public LocalStorage(ArborHome home) {
    this.home = home;
    this.daemons = new Daemons(home);
  }

  /** The layout of this home, created with {@code safekeepers} safekeepers on free ports the first time. */
  public LocalConfig configure(Integer safekeepers) {
    var existing = home.config();
    if (existing.isPresent()) {
      int have = existing.get().safekeepers().size();
      if (safekeepers != null && safekeepers != have) {
        throw new CliException("this installation (" + home.root() + ") runs " + have + " safekeepers; its WAL lives on them, "
            + "so the count cannot change. Use --safekeepers " + have + ", or a new ARBOR_HOME for another layout.");
      }
      return existing.get();
    }
    int n = safekeepers == null ? 3 : safekeepers;
    if (n < 1 || n > 7) {
      throw new CliException("--safekeepers must be between 1 and 7 (3 tolerates one failure; 1 is for development only)");
    }
    home.create();
    Map<String, Integer> sks = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) {
      sks.put("sk-" + i, Ports.stable());
    }
    var config = new LocalConfig(LocalConfig.FORMAT_VERSION, Ports.stable(), sks);
    home.saveConfig(config);
    return config;
  }

  /** Starts whatever of the storage engine is not running; prints one progress line per process. */
  public void start(LocalConfig config, PrintStream progress) {
    for (var sk : config.safekeepers().entrySet()) {
      String id = sk.getKey();
      String url = "http://127.0.0.1:" + sk.getValue();
      ensure(id, progress, () -> Daemons.java(StorageMain.class.getName(), List.of("safekeeper", "--id", id,
          "--listen", "127.0.0.1:" + sk.getValue(), "--data-dir", home.safekeeper(id).toString(),
          "--object-store", home.objects().toString())), url);
    }
    home.createPostgresRoot();
    ensure(PAGESERVER, progress, () -> Daemons.java(StorageMain.class.getName(), List.of("pageserver",
        "--listen", "127.0.0.1:" + config.pageserverPort(), "--object-store", home.objects().toString(),
        "--work-dir", home.pageserver().toString(), "--safekeepers", String.join(",", config.safekeeperUrls().values()))),
        config.pageserverUrl());
  }

  private void ensure(String name, PrintStream progress, java.util.function.Supplier<List<String>> command, String url) {
    if (daemons.pid(name).isPresent()) {
      return;
    }
    if (healthy(url)) {
      throw new CliException("something else answers on " + url + " where " + name + " should run; stop it, or use another ARBOR_HOME");
    }
    long t0 = System.nanoTime();
    progress.print("starting " + name + " ... ");
    progress.flush();
    daemons.start(name, command.get(), Duration.ofSeconds(60), () -> healthy(url));
    progress.printf("ok (%.1f s)%n", (System.nanoTime() - t0) / 1e9);
  }

  public boolean healthy(String baseUrl) {
    try {
      http.get(baseUrl + "/v1/status", Map.class);
      return true;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** Stops the pageserver and the safekeepers; returns the names it stopped. */
  public List<String> stop(LocalConfig config) {
    List<String> stopped = new ArrayList<>();
    if (daemons.stop(PAGESERVER, Duration.ofSeconds(10))) {
      stopped.add(PAGESERVER);
    }
    for (String id : config.safekeepers().keySet()) {
      if (daemons.stop(id, Duration.ofSeconds(10))) {
        stopped.add(id);
      }
    }
    return stopped;
  }

  public Daemons daemons() {
    return daemons;
  }

}

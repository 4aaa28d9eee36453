package dev.arbor.compute.testing;

import dev.arbor.storage.StorageMain;
import dev.arbor.storage.http.HttpJson;
import dev.arbor.storage.id.TenantId;
import dev.arbor.storage.id.TimelineId;
import dev.arbor.storage.pageserver.TenantService.TenantInfo;
import dev.arbor.storage.pageserver.TimelineInfo;
import dev.arbor.testing.FaultProxy;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A storage engine made of real processes for tests: N safekeepers and a pageserver, each its own JVM
 * (so a test can SIGKILL one), on fixed loopback ports (so a restarted process is found where the compute
 * expects it), sharing a local object store. Everything lives in one temporary directory removed on close.
 */
public final class StorageProcesses implements AutoCloseable {
  private final TempDirectory dir;
  private final Map<String, Integer> safekeeperPorts = new LinkedHashMap<>();
  private final Map<String, Process> safekeepers = new LinkedHashMap<>();
  private final int pageserverPort;
  private Process pageserver;
  private FaultProxy pageserverProxy;
  private final HttpJson http = new HttpJson(Duration.ofSeconds(60));

  public StorageProcesses(int safekeeperCount) {
    dir = TempDirectory.create("arbor-se-");
    for (int i = 0; i < safekeeperCount; i++) {
      safekeeperPorts.put("sk-" + i, FreePort.pickStable());
    }
    pageserverPort = FreePort.pickStable();
  }

  /** Starts every process; if one fails, stops the others and removes the directory before throwing. */
  /**
   * Puts a {@link FaultProxy} in front of the pageserver and advertises it, so the restore_command of every
   * basebackup (and the WAL a compute fetches ahead of recovery) goes through it. API calls of tests and
   * computes still reach the pageserver directly ({@link #pageserverUrl()}).
   */
  public StorageProcesses withPageserverProxy() {
    try {
      pageserverProxy = FaultProxy.start(pageserverUrl());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return this;
  }

  public FaultProxy pageserverProxy() {
    if (pageserverProxy == null) {
      throw new IllegalStateException("no pageserver proxy: create the harness with withPageserverProxy()");
    }
    return pageserverProxy;
  }

  public StorageProcesses start() {
    try {
      safekeeperPorts.keySet().forEach(this::startSafekeeper);
      startPageserver();
      return this;
    } catch (RuntimeException e) {
      close(); // `try (var s = new StorageProcesses(3).start())` never gets to close a half-started harness
      throw e;
    }
  }

  public Path directory() {
    return dir.path();
  }

  public Path objectStore() {
    return dir.resolve("objects");
  }

  public String pageserverUrl() {
    return "http://127.0.0.1:" + pageserverPort;
  }

  /** Safekeeper id → URL, in order. */
  public Map<String, String> safekeeperUrls() {
    Map<String, String> out = new LinkedHashMap<>();
    safekeeperPorts.forEach((id, port) -> out.put(id, "http://127.0.0.1:" + port));
    return out;
  }

  public List<String> safekeeperIds() {
    return new ArrayList<>(safekeeperPorts.keySet());
  }

  public void startSafekeeper(String id) {
    safekeepers.put(id, launch(id, List.of("safekeeper", "--id", id, "--listen", "127.0.0.1:" + safekeeperPorts.get(id),
        "--data-dir", dir.resolve("safekeepers/" + id).toString(), "--object-store", objectStore().toString())));
  }

  public void startPageserver() {
    pageserver = launch("pageserver", List.of("pageserver", "--listen", "127.0.0.1:" + pageserverPort,
        "--object-store", objectStore().toString(), "--work-dir", dir.resolve("pageserver").toString(),
        "--safekeepers", String.join(",", safekeeperUrls().values()),
        "--advertise", pageserverProxy == null ? pageserverUrl() : pageserverProxy.url()));
  }

  /** SIGKILL: the process gets no chance to flush or say goodbye. */
  public void killSafekeeper(String id) {
    kill(safekeepers.remove(id));
  }

  public void killPageserver() {
    kill(pageserver);
    pageserver = null;
  }

  public boolean isSafekeeperRunning(String id) {
    Process p = safekeepers.get(id);
    return p != null && p.isAlive();
  }

  public TenantInfo createTenant(int pgVersion) throws IOException {
    return http.post(pageserverUrl() + "/v1/tenant", Map.of("pg_version", pgVersion), TenantInfo.class);
  }

  public TimelineInfo branch(TenantId tenant, TimelineId ancestor, String lsn) throws IOException {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("ancestor_timeline_id", ancestor.toString());
    if (lsn != null) {
      body.put("ancestor_lsn", lsn);
    }
    return http.post(pageserverUrl() + "/v1/tenant/" + tenant + "/timeline", body, TimelineInfo.class);
  }

  public TimelineInfo timeline(TenantId tenant, TimelineId timeline) throws IOException {
    return http.get(pageserverUrl() + "/v1/tenant/" + tenant + "/timeline/" + timeline, TimelineInfo.class);
  }

  /** Total bytes in the object store, for copy-on-write assertions. */
  public long objectStoreBytes() {
    try (var files = Files.walk(objectStore())) {
      return files.filter(Files::isRegularFile).mapToLong(p -> {
        try {
          return Files.size(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }).sum();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    safekeepers.values().forEach(StorageProcesses::kill);
    safekeepers.clear();
    if (pageserver != null) {
      kill(pageserver);
    }
    if (pageserverProxy != null) {
      pageserverProxy.close();
    }
    dir.close();
  }

  private Process launch(String name, List<String> args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.add("-Xmx256m");
    cmd.add("-XX:+UseSerialGC");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(StorageMain.class.getName());
    cmd.addAll(args);
    try {
      Path log = dir.resolve("logs/" + name + ".log");
      Files.createDirectories(log.getParent());
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      // The first line is "listening on URL"; everything after goes to the log file.
      var reader = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      CompletableFuture<String> ready = new CompletableFuture<>();
      Thread.ofVirtual().start(() -> {
        try (var out = Files.newBufferedWriter(log, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE,
            java.nio.file.StandardOpenOption.APPEND)) {
          String line;
          while ((line = reader.readLine()) != null) {
            out.write(line);
            out.newLine();
            out.flush();
            if (line.startsWith("listening on ")) {
              ready.complete(line);
            }
          }
        } catch (IOException ignored) {
          // the process went away
        }
        ready.complete(null);
      });
      String line = ready.get(60, TimeUnit.SECONDS);
      if (line == null) {
        throw new IllegalStateException(name + " exited while starting; its log:\n" + Files.readString(log));
      }
      return p;
    } catch (Exception e) {
      throw new IllegalStateException("cannot start " + name + ": " + e.getMessage(), e);
    }
  }

  private static void kill(Process p) {
    if (p == null) {
      return;
    }
    p.destroyForcibly();
    try {
      p.waitFor(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}

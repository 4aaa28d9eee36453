package dev.arbor.storage.pageserver;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real pageserver for a test class, on a local object store in a fresh directory under /tmp, with real
 * PostgreSQL for initdb. Its only safekeeper is a URL nobody listens on: a timeline that never ran a
 * compute needs no safekeeper (its durable end is where it was created), and the best-effort safekeeper
 * calls of deletes fail fast and are skipped.
 *
 * <pre>{@code @RegisterExtension static final PageserverFixture pageserver = new PageserverFixture();}</pre>
 */
final class PageserverFixture implements BeforeAllCallback, AfterAllCallback, AutoCloseable {
  static final int PG_MAJOR = 15;
  static final String UNREACHABLE_SAFEKEEPER = "http://127.0.0.1:9";

  private TempDirectory dir;
  private Path objectsRoot;
  private Pageserver pageserver;
  private RawApi api;
  private RawApi management;
  private boolean managementListener;
  private int restarts;

  /** Starts the pageserver with a management listener on a free loopback port ({@code --management-listen}). */
  PageserverFixture withManagementListener() {
    managementListener = true;
    return this;
  }

  PageserverFixture start() {
    dir = TempDirectory.create("arbor-ps-");
    objectsRoot = dir.resolve("objects");
    startPageserver(0);
    return this;
  }

  /**
   * Closes the running pageserver and starts a new one on the same object store, with a fresh object store
   * client, a fresh work directory and another port: whatever it knows, it read from object storage.
   */
  void restart() {
    int oldPort = pageserver.port();
    pageserver.close();
    pageserver = null;
    restarts++;
    int port;
    do {
      port = FreePort.pick();
    } while (port == oldPort);
    startPageserver(port);
  }

  private void startPageserver(int port) {
    try {
      Path workDir = Files.createDirectories(dir.resolve("work-" + restarts));
      for (int attempt = 0; ; attempt++) { // another process may take the port we picked
        var config = new PageserverConfig(new InetSocketAddress("127.0.0.1", port), null, new LocalObjectStore(objectsRoot),
            List.of(UNREACHABLE_SAFEKEEPER), PostgresInstallation::find, workDir);
        if (managementListener) {
          config = config.withManagementListen(new InetSocketAddress("127.0.0.1", 0));
        }
        try {
          pageserver = new Pageserver(config).start();
          break;
        } catch (BindException e) {
          if (port == 0 || attempt == 2) {
            throw e;
          }
          port = FreePort.pick();
        }
      }
      api = new RawApi(pageserver.url());
      management = new RawApi(pageserver.managementUrl());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start a pageserver on " + objectsRoot, e);
    }
  }

  /** The API on the compute port ({@code --listen}), which serves everything without a management listener. */
  RawApi api() {
    return api;
  }

  /** The API on the management port; the compute port's when there is no management listener. */
  RawApi management() {
    return management;
  }

  String url() {
    return pageserver.url();
  }

  /** The routes the running pageserver registered, as {@code METHOD /pattern}. */
  List<String> routes() {
    return pageserver.routes();
  }

  int port() {
    return pageserver.port();
  }

  Path objectsRoot() {
    return objectsRoot;
  }

  /** Scratch space of the test class, removed with it. */
  Path directory() {
    return dir.path();
  }

  ObjectStoreSnapshot snapshot() {
    return ObjectStoreSnapshot.of(objectsRoot);
  }

  /**
   * Another pageserver on the same object store, on {@code port} (0: any), with its own work directory under the
   * test class's directory; the caller closes it.
   */
  Pageserver startAnother(int port, String workDir) throws IOException {
    var config = new PageserverConfig(new InetSocketAddress("127.0.0.1", port), null, new LocalObjectStore(objectsRoot),
        List.of(UNREACHABLE_SAFEKEEPER), PostgresInstallation::find, Files.createDirectories(directory().resolve(workDir)));
    return new Pageserver(config).start();
  }

  /** A new tenant of PostgreSQL {@value #PG_MAJOR} (runs initdb); its JSON as the API returned it. */
  JsonNode createTenant() {
    return management.post("/v1/tenant", Map.of("pg_version", PG_MAJOR)).expect(201);
  }

  /** A new branch created with {@code body}; its JSON as the API returned it. */
  JsonNode createBranch(String tenantId, Map<String, ?> body) {
    return management.post(timelines(tenantId), body).expect(201);
  }

  JsonNode timeline(String tenantId, String timelineId) {
    return api.get(timelines(tenantId) + "/" + timelineId).expect(200);
  }

  static String timelines(String tenantId) {
    return "/v1/tenant/" + tenantId + "/timeline";
  }

  static String timelinePath(String tenantId, String timelineId) {
    return timelines(tenantId) + "/" + timelineId;
  }

  @Override
  public void close() {
    try {
      if (pageserver != null) {
        pageserver.close();
      }
    } finally {
      pageserver = null;
      if (dir != null) {
        dir.close();
        dir = null;
      }
    }
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    start();
  }

  @Override
  public void afterAll(ExtensionContext context) {
    close();
  }
}

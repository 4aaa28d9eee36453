package dev.arbor.cli.process;

import java.nio.file.Path;
import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.client.auth.KeyDirectory;
import dev.arbor.cli.CliException;
import dev.arbor.cli.home.ArborHome;
import dev.arbor.cli.home.LocalCertificates;
import dev.arbor.cli.home.LocalConfig;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.client.ServiceLaunch;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/** The local storage engine: a pageserver and N safekeepers as background processes of this home. */
public final class LocalStorage {
  public static final String PAGESERVER = "pageserver";
  private final ArborHome home;
  private final Daemons daemons;

  public LocalStorage(ArborHome home) {
    this.home = home;
    this.daemons = new Daemons(home);
  }

  /**
   * The layout of this home, created with {@code safekeepers} safekeepers on free ports and the object store
   * {@code objectStore} (null: the embedded {@code objects/}) the first time; both are fixed from then on.
   * A new layout is saved by {@link #start} once the storage engine runs on it.
   */
  public LocalConfig configure(Integer safekeepers, String objectStore) {
    var existing = home.config();
    if (existing.isPresent()) {
      int have = existing.get().safekeepers().size();
      if (safekeepers != null && safekeepers != have) {
        throw new CliException("this installation (" + home.root() + ") runs " + have + " safekeepers; its WAL lives on them, "
            + "so the count cannot change. Use --safekeepers " + have + ", or a new ARBOR_HOME for another layout.");
      }
      String kept = existing.get().objectStoreArgument(home);
      if (objectStore != null && !normalized(objectStore).equals(kept)) {
        throw new CliException("this installation (" + home.root() + ") keeps its data in " + kept + "; it cannot move to "
            + objectStore + ". Omit --object-store, or use a new ARBOR_HOME for another object store.");
      }
      return existing.get();
    }
    int n = safekeepers == null ? 3 : safekeepers;
    if (n < 1 || n > 7) {
      throw new CliException("--safekeepers must be between 1 and 7 (3 tolerates one failure; 1 is for development only)");
    }
    LocalConfig.ObjectStore store = null;
    if (objectStore != null) {
      String url = normalized(objectStore);
      store = new LocalConfig.ObjectStore(url, url.startsWith("s3://") ? System.getenv("AWS_ENDPOINT_URL") : null,
          url.startsWith("s3://") ? System.getenv("AWS_REGION") : null);
    }
    home.create();
    Map<String, Integer> sks = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) {
      sks.put("sk-" + i, Ports.stable());
    }
    return new LocalConfig(LocalConfig.FORMAT_VERSION, Ports.stable(), sks, store);
  }

  /** {@code s3://BUCKET[/PREFIX]} as given (checked by the daemons, which say what is wrong), or an absolute directory. */
  private static String normalized(String objectStore) {
    if (objectStore.isBlank()) {
      throw new CliException("--object-store must be s3://BUCKET/PREFIX or a directory, not empty");
    }
    if (objectStore.contains("://")) {
      if (!objectStore.startsWith("s3://") || objectStore.length() <= "s3://".length()) {
        throw new CliException("--object-store must be s3://BUCKET/PREFIX or a directory, not '" + objectStore + "'");
      }
      return objectStore.endsWith("/") ? objectStore.substring(0, objectStore.length() - 1) : objectStore;
    }
    return java.nio.file.Path.of(objectStore).toAbsolutePath().normalize().toString();
  }

  /**
   * The daemon command, run through {@code env} with the S3 endpoint and region the first {@code up} saw when
   * this environment does not set them.
   */
  private static List<String> withObjectStoreEnvironment(LocalConfig config, List<String> command) {
    LocalConfig.ObjectStore store = config.objectStore();
    if (store == null || !store.isS3()) {
      return command;
    }
    List<String> env = new ArrayList<>();
    if (store.endpoint() != null && System.getenv("AWS_ENDPOINT_URL") == null) {
      env.add("AWS_ENDPOINT_URL=" + store.endpoint());
    }
    if (store.region() != null && System.getenv("AWS_REGION") == null) {
      env.add("AWS_REGION=" + store.region());
    }
    if (env.isEmpty()) {
      return command;
    }
    List<String> out = new ArrayList<>(List.of("env"));
    out.addAll(env);
    out.addAll(command);
    return out;
  }

  /**
   * Starts whatever of the storage engine is not running; prints one progress line per process. A new layout
   * ({@link #configure} on a home without one) is saved only once its daemons run: a first {@code up} whose
   * settings cannot work (an unreachable S3 endpoint, a missing bucket) stops what it started and leaves no
   * layout behind, so the retry with the setting fixed is a first {@code up} again and remembers the fixed
   * setting, not the wrong one.
   */
  public void start(LocalConfig config, PrintStream progress) {
    if (home.config().isPresent()) {
      startDaemons(config, progress);
      return;
    }
    try {
      startDaemons(config, progress);
    } catch (RuntimeException e) {
      stop(config);
      throw e;
    }
    home.saveConfig(config);
  }

  private void startDaemons(LocalConfig config, PrintStream progress) {
    certificates(progress);
    ClientTls tls = home.certificates().clientTls();
    List<String> auth = authArguments();
    for (var sk : config.safekeepers().entrySet()) {
      String id = sk.getKey();
      SafekeeperClient safekeeper = safekeeper(sk.getValue(), tls);
      ensure(id, progress, () -> withObjectStoreEnvironment(config, Daemons.java(ServiceLaunch.STORAGE_ENGINE, concat(List.of("safekeeper",
          "--id", id, "--listen", "127.0.0.1:" + sk.getValue(), "--data-dir", home.safekeeper(id).toString(),
          "--object-store", config.objectStoreArgument(home)), auth))), safekeeper.baseUrl(), safekeeper::isRunning);
    }
    home.createPostgresRoot();
    ensure(PAGESERVER, progress, () -> withObjectStoreEnvironment(config, Daemons.java(ServiceLaunch.STORAGE_ENGINE, concat(List.of(
        "pageserver", "--listen", "127.0.0.1:" + config.pageserverPort(), "--object-store", config.objectStoreArgument(home),
        "--work-dir", home.pageserver().toString(), "--safekeepers", String.join(",", config.safekeeperUrls().values())), auth))),
        config.pageserverUrl(), () -> pageserverRunning(config, tls));
  }

  /**
   * The local CA (made by the first {@code up}) and the daemons' certificate, issued when missing and again when less
   * than a third of its life is left; running daemons serve a renewed one from their next connection on.
   */
  private void certificates(PrintStream progress) {
    long t0 = System.nanoTime();
    LocalCertificates.Outcome outcome = home.certificates().ensure();
    if (outcome != LocalCertificates.Outcome.KEPT) {
      progress.printf("%s the storage engine's TLS certificate (%d days) ... ok (%.1f s)%n",
          outcome == LocalCertificates.Outcome.ISSUED ? "issuing" : "renewing", LocalCertificates.STORAGE_VALIDITY.toDays(),
          (System.nanoTime() - t0) / 1e9);
    }
  }

  /**
   * The daemons check tokens and serve HTTPS, as on Kubernetes: the home's public key set and issuer, a {@code pageserver}
   * token (minted again at each start) that they send each other, and the certificate of the home's CA. One code path:
   * local mode never runs with {@code --insecure-no-auth} or {@code --insecure-no-tls}.
   */
  private List<String> authArguments() {
    KeyDirectory keys = home.keys();
    Path token = keys.publicKeys().resolveSibling("pageserver.token");
    try {
      keys.mintInto(token, StorageGrant.of("pageserver", Scope.PAGESERVER), ArborHome.TOKEN_TTL);
    } catch (IOException e) {
      throw new CliException("cannot write the pageserver's token " + token + ": " + e.getMessage());
    }
    LocalCertificates tls = home.certificates();
    return List.of("--auth-keys", keys.publicKeys().toString(), "--auth-issuer", keys.issuer(), "--token-file", token.toString(),
        "--tls-cert", tls.storageCertificate().toString(), "--tls-key", tls.storageKey().toString(), "--tls-ca", tls.caFile().toString());
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  private void ensure(String name, PrintStream progress, java.util.function.Supplier<List<String>> command, String url,
      BooleanSupplier running) {
    if (daemons.pid(name).isPresent()) {
      if (!answersWithin(Duration.ofSeconds(10), running)) {
        throw new CliException(name + " runs (pid " + daemons.pid(name).orElseThrow() + ") but does not answer on " + url
            + "; if it was started by an Arbor before local TLS (plain HTTP), restart it: ./arbor down, then ./arbor up");
      }
      return;
    }
    if (running.getAsBoolean()) {
      throw new CliException("something else answers on " + url + " where " + name + " should run; stop it, or use another ARBOR_HOME");
    }
    long t0 = System.nanoTime();
    progress.print("starting " + name + " ... ");
    progress.flush();
    daemons.start(name, command.get(), Duration.ofSeconds(60), running);
    progress.printf("ok (%.1f s)%n", (System.nanoTime() - t0) / 1e9);
  }

  private static boolean answersWithin(Duration patience, BooleanSupplier running) {
    long deadline = System.nanoTime() + patience.toNanos();
    while (!running.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return true;
  }

  /** Whether the pageserver of this home answers its status route over HTTPS with the home's CA (within 2 s). */
  public boolean pageserverRunning(LocalConfig config, ClientTls tls) {
    return new PageserverClient(config.pageserverUrl(), Duration.ofSeconds(2), RetryPolicy.NONE, TokenSource.NONE, tls).isRunning();
  }

  /** The local safekeeper on {@code port}, trusting {@code tls}: one try per call, 2 s each (readiness is polled). */
  public static SafekeeperClient safekeeper(int port, ClientTls tls) {
    return new SafekeeperClient("https://127.0.0.1:" + port, Duration.ofSeconds(2), RetryPolicy.NONE, TokenSource.NONE, tls);
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

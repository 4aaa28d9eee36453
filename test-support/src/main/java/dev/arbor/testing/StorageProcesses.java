package dev.arbor.testing;

import dev.arbor.api.pageserver.CreateTenantRequest;
import dev.arbor.api.pageserver.CreateTimelineRequest;
import dev.arbor.api.pageserver.ImageMade;
import dev.arbor.client.PageserverClient;
import dev.arbor.api.Lsn;
import dev.arbor.client.ServiceLaunch;
import dev.arbor.client.HttpJson;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.client.auth.KeyDirectory;
import dev.arbor.client.auth.SigningKey;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.CertificateAuthority;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.client.tls.Pem;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A storage engine made of real processes for tests: N safekeepers and a pageserver, each its own JVM
 * (so a test can SIGKILL one), on fixed loopback ports (so a restarted process is found where the compute
 * expects it), sharing a local object store. Everything lives in one temporary directory removed on close.
 * The daemons check storage tokens, as every installation does (docs/security.md): the harness holds the keys and
 * mints the tokens its own clients and the computes tests start send, unless it is made {@link #withoutAuth()}.
 * They serve plain HTTP and let tokens go over it ({@code --insecure-no-tls}) unless the harness is made
 * {@link #withTls()}: then they serve HTTPS with certificates of a CA of the harness's own.
 */
public final class StorageProcesses implements AutoCloseable {
  private final TempDirectory dir;
  private final Map<String, Integer> safekeeperPorts = new LinkedHashMap<>();
  /** Safekeeper id → its {@code --management-listen} port; empty: none, each safekeeper's one port serves everything. */
  private final Map<String, Integer> safekeeperManagementPorts = new LinkedHashMap<>();
  private final Map<String, Process> safekeepers = new LinkedHashMap<>();
  private int pageserverPort;
  /** The pageserver's {@code --management-listen} port; 0: none, {@link #pageserverPort} serves everything. */
  private int pageserverManagementPort;
  /** The pageserver's work directory; a replacement pageserver gets a new one ({@link #replacePageserver()}). */
  private Path pageserverWorkDir;
  private int pageserverReplacements;
  private Process pageserver;
  private FaultProxy pageserverProxy;
  private String imageThreshold;
  /** {@code --object-store} of every daemon: null for the harness's own directory ({@link #objectStore()}). */
  private String objectStoreSpec;
  private Map<String, String> environment = Map.of();
  /** For status calls, which a paused or dead safekeeper must not hold up for long. */
  private static final Duration SAFEKEEPER_STATUS_TIMEOUT = Duration.ofSeconds(5);
  /** The installation's keys; null ({@link #withoutAuth()}): the daemons run with {@code --insecure-no-auth}. */
  private KeyDirectory keys;
  /** The key that signs the tokens the harness mints now: the directory's until {@link #rotateKeys}. */
  private SigningKey signer;
  /** Every token file the harness minted, with its grant: {@link #rotateKeys} mints them all again. */
  private final Map<Path, StorageGrant> minted = new LinkedHashMap<>();
  /** The issuer of the harness's tokens. */
  public static final String ISSUER = "arbor-test";
  /** How long the tokens the harness mints stay valid: longer than any test. */
  public static final Duration TOKEN_TTL = Duration.ofHours(12);
  /** The common name of the daemons' certificate: the safekeepers' client identity toward TLS computes (ReplicationTls). */
  public static final String REPLICATION_CLIENT_NAME = "arbor_replication";
  /** The CA of the daemons' certificates, null: plain HTTP ({@link #withTls()}). */
  private CertificateAuthority ca;
  private ClientTls clientTls = ClientTls.SYSTEM;
  /** Safekeeper id → the crashfs its data directory lives on, when created {@link #withCrashableSafekeeperDisks()}. */
  private final Map<String, CrashableDirectory> disks = new LinkedHashMap<>();

  public StorageProcesses(int safekeeperCount) {
    dir = TempDirectory.create("arbor-se-");
    for (int i = 0; i < safekeeperCount; i++) {
      safekeeperPorts.put("sk-" + i, FreePort.pickStable());
    }
    pageserverPort = FreePort.pickStable();
    pageserverWorkDir = dir.resolve("pageserver");
    try {
      keys = KeyDirectory.open(dir.resolve("auth"), ISSUER, "test-key-1");
      signer = keys.signingKey();
      mintInto(adminTokenFile(), StorageGrant.of("storage-processes", Scope.STORAGE_ADMIN));
      mintInto(pageserverTokenFile(), StorageGrant.of("pageserver", Scope.PAGESERVER));
    } catch (IOException e) {
      dir.close();
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Starts the pageserver and every safekeeper with {@code --management-listen} on a port of its own, as the Helm
   * chart does: tenant and timeline management on {@link #pageserverManagementUrl()}, what computes call on
   * {@link #pageserverUrl()}; a safekeeper's timeline deletion and metrics on {@link #safekeeperManagementUrls()},
   * which the pageserver is given, what computes call on {@link #safekeeperUrls()}.
   */
  public StorageProcesses withManagementListener() {
    pageserverManagementPort = FreePort.pickStable();
    safekeeperPorts.keySet().forEach(id -> safekeeperManagementPorts.put(id, FreePort.pickStable()));
    return this;
  }

  /**
   * Starts the daemons with {@code --insecure-no-auth}, for callers that send no tokens yet (the operator: see
   * docs/security.md). By default they check tokens: a key pair in the harness's directory, the public set as
   * {@code --auth-keys}, a {@code pageserver} token as every daemon's {@code --token-file}, a {@code storage_admin}
   * token behind {@link #pageserver()} and {@link #safekeeper}, and a compute token per timeline
   * ({@link #computeTokenFile}) for the computes tests start.
   */
  public StorageProcesses withoutAuth() {
    keys = null;
    return this;
  }

  /**
   * Serves HTTPS on every daemon's ports: a CA made in the harness's directory ({@link #caFile()}) issues one certificate
   * for {@code 127.0.0.1} and {@code localhost} ({@link #serverCertificateDirectory()}: {@code tls.crt}, {@code tls.key},
   * {@code ca.crt}), which every daemon is given with {@code --tls-cert}, {@code --tls-key} and {@code --tls-ca}. The URLs
   * are {@code https://}, and the harness's clients, and the computes' specs, trust that CA only. The same certificate
   * is the safekeepers' client identity toward computes that serve TLS (its common name is the replication role), and
   * {@code --tls-ca} the CA they check computes' certificates against: computes with a certificate of
   * {@link #certificateAuthority()} are followed over verify-full TLS. Call before {@link #start()}.
   */
  public StorageProcesses withTls() {
    if (pageserverProxy != null) {
      throw new IllegalStateException("the pageserver proxy speaks plain HTTP: withTls() does not go with withPageserverProxy()");
    }
    try {
      ca = CertificateAuthority.create("arbor-test-ca", Duration.ofDays(2));
      ca.writeTo(dir.resolve("tls/ca"));
      issueServerCertificate();
      clientTls = ClientTls.trusting(caFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return this;
  }

  /**
   * Issues the daemons' certificate again, with a new key and serial, written over the files they serve (they pick it
   * up without a restart). Returns it. Common name {@code arbor_replication} (the role a TLS compute's pg_hba requires of
   * a safekeeper's client certificate), for server and client use, names {@code localhost} and {@code 127.0.0.1}.
   */
  public CertificateAuthority.Issued issueServerCertificate() throws IOException {
    if (ca == null) {
      throw new IllegalStateException("the daemons serve plain HTTP: create the harness withTls()");
    }
    var issued = ca.issue(REPLICATION_CLIENT_NAME, List.of("localhost"), List.of("127.0.0.1"),
        java.util.Set.of(CertificateAuthority.Usage.SERVER, CertificateAuthority.Usage.CLIENT), Duration.ofDays(1));
    issued.writeTo(serverCertificateDirectory());
    return issued;
  }

  /** The harness's CA ({@link #withTls()}), e.g. for a compute's PostgreSQL certificate; null without it. */
  public CertificateAuthority certificateAuthority() {
    return ca;
  }

  /** Whether the daemons serve HTTPS ({@link #withTls()}). */
  public boolean tls() {
    return ca != null;
  }

  /** The CA bundle the daemons' certificates chain to; null without {@link #withTls()}. */
  public Path caFile() {
    return ca == null ? null : dir.resolve("tls/ca").resolve(Pem.CA);
  }

  /** The directory of the daemons' certificate ({@code tls.crt}, {@code tls.key}, {@code ca.crt}). */
  public Path serverCertificateDirectory() {
    return dir.resolve("tls/storage");
  }

  /** Whom the harness's clients trust: the harness's CA {@link #withTls()}, else the JDK's trust store. */
  public ClientTls clientTls() {
    return clientTls;
  }

  private String scheme() {
    return ca == null ? "http" : "https";
  }

  /** The token files' tokens as a client sends them: over plain HTTP too when the daemons serve it. */
  private TokenSource overTransport(TokenSource tokens) {
    return ca == null ? tokens.allowPlainHttp() : tokens;
  }

  /** The keys that sign the tokens the daemons accept; none {@link #withoutAuth()}. */
  public KeyDirectory keys() {
    if (keys == null) {
      throw new IllegalStateException("the daemons check no tokens: the harness was made withoutAuth()");
    }
    return keys;
  }

  /** The token every call of {@link #pageserver()} and {@link #safekeeper} sends: none {@link #withoutAuth()}. */
  public TokenSource adminTokens() {
    return keys == null ? TokenSource.NONE : overTransport(TokenSource.file(adminTokenFile()));
  }

  /** A file holding a compute token of {@code tenant} and {@code timeline}, for a compute's spec; null {@link #withoutAuth()}. */
  public Path computeTokenFile(TenantId tenant, TimelineId timeline) {
    if (keys == null) {
      return null;
    }
    try {
      return mintInto(dir.resolve("auth/compute-" + tenant + "-" + timeline + ".token"),
          StorageGrant.compute("compute-" + timeline, tenant, timeline));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private Path mintInto(Path file, StorageGrant grant) throws IOException {
    SigningKey.writePrivately(file, signer.mint(ISSUER, grant, TOKEN_TTL) + "\n");
    minted.put(file, grant);
    return file;
  }

  /**
   * Rotates the installation's signing key the way docs/security.md describes, with every daemon running: the public
   * key set gains a new key {@code kid} (the daemons read the set again on their next request), then every token file
   * the harness handed out (its own, the daemons', the computes') is minted again with the new key, each replaced
   * whole. The old key stays accepted until {@link #retireOldKeys}. Returns the key that signed until now.
   */
  public SigningKey rotateKeys(String kid) throws IOException {
    SigningKey previous = signer;
    SigningKey next = SigningKey.generate(kid);
    SigningKey.writePublicSet(keys().publicKeys(), List.of(previous, next));
    signer = next;
    for (var token : Map.copyOf(minted).entrySet()) {
      mintInto(token.getKey(), token.getValue());
    }
    return previous;
  }

  /** Ends a rotation: the public key set holds only the key that signs now, so tokens of older keys are refused. */
  public void retireOldKeys() throws IOException {
    SigningKey.writePublicSet(keys().publicKeys(), List.of(signer));
  }

  /** The token a compute of {@code tenant} and {@code timeline} sends: from {@link #computeTokenFile}, none {@link #withoutAuth()}. */
  public TokenSource computeTokens(TenantId tenant, TimelineId timeline) {
    return overTransport(TokenSource.fileOrNone(computeTokenFile(tenant, timeline)));
  }

  private Path adminTokenFile() {
    return dir.resolve("auth/admin.token");
  }

  private Path pageserverTokenFile() {
    return dir.resolve("auth/pageserver.token");
  }

  /**
   * The daemons' token options (keys, issuer and their own token, or {@code --insecure-no-auth}) and TLS options (their
   * certificate and the CA, or, with tokens over plain HTTP, {@code --insecure-no-tls}).
   */
  private List<String> authArguments() {
    List<String> args = new ArrayList<>(keys == null ? List.of("--insecure-no-auth") : List.of("--auth-keys", keys.publicKeys().toString(),
        "--auth-issuer", ISSUER, "--token-file", pageserverTokenFile().toString()));
    if (ca != null) {
      Path certs = serverCertificateDirectory();
      args.addAll(List.of("--tls-cert", certs.resolve(Pem.CERT).toString(), "--tls-key", certs.resolve(Pem.KEY).toString(),
          "--tls-ca", caFile().toString()));
    } else if (keys != null) {
      args.add("--insecure-no-tls");
    }
    return args;
  }

  /** The pageserver's {@code --image-threshold} (e.g. "0": images only when a test asks, or "32MiB"). */
  public StorageProcesses withImageThreshold(String threshold) {
    this.imageThreshold = threshold;
    return this;
  }

  /**
   * Another object store than the harness's directory, e.g. {@code s3://bucket/prefix} with the AWS environment
   * variables that reach it ({@code S3ProxyFixture.environment()}). {@link #objectStore()} and
   * {@link #objectStoreBytes()} then refuse: the caller knows where its objects are.
   */
  public StorageProcesses withObjectStore(String spec, Map<String, String> environment) {
    this.objectStoreSpec = spec;
    this.environment = Map.copyOf(environment);
    return this;
  }

  /**
   * Puts a {@link FaultProxy} in front of the pageserver and advertises it, so the restore_command of every
   * basebackup (and the WAL a compute fetches ahead of recovery) goes through it. API calls of tests and
   * computes still reach the pageserver directly ({@link #pageserverUrl()}).
   */
  public StorageProcesses withPageserverProxy() {
    if (ca != null) {
      throw new IllegalStateException("the pageserver proxy speaks plain HTTP: withPageserverProxy() does not go with withTls()");
    }
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

  /**
   * Puts each safekeeper's data directory on its own {@link CrashableDirectory} (crashfs), so a test can cut
   * its power ({@link #powerCutSafekeeper}): everything it did not fsync is lost. Call before {@link #start()}.
   */
  public StorageProcesses withCrashableSafekeeperDisks() {
    try {
      for (String id : safekeeperPorts.keySet()) {
        disks.put(id, CrashableDirectory.start());
      }
    } catch (RuntimeException e) {
      close();
      throw e;
    }
    return this;
  }

  /** Starts every process; if one fails, stops the others and removes the directory before throwing. */
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
    if (objectStoreSpec != null) {
      throw new IllegalStateException("the object store is " + objectStoreSpec + ", not a directory of the harness");
    }
    return dir.resolve("objects");
  }

  private String objectStoreArgument() {
    return objectStoreSpec != null ? objectStoreSpec : objectStore().toString();
  }

  /** Where computes reach the pageserver ({@code --listen}). */
  public String pageserverUrl() {
    return scheme() + "://127.0.0.1:" + pageserverPort;
  }

  /** Where tenants and timelines are managed: the management listener, or {@link #pageserverUrl()} without one. */
  public String pageserverManagementUrl() {
    return pageserverManagementPort == 0 ? pageserverUrl() : scheme() + "://127.0.0.1:" + pageserverManagementPort;
  }

  /** Safekeeper id → URL, in order: where computes reach them ({@code --listen}). */
  public Map<String, String> safekeeperUrls() {
    Map<String, String> out = new LinkedHashMap<>();
    safekeeperPorts.forEach((id, port) -> out.put(id, scheme() + "://127.0.0.1:" + port));
    return out;
  }

  /** A client of safekeeper {@code id} on the URL computes use; one try per call, 10 s each. */
  public SafekeeperClient safekeeper(String id) {
    return new SafekeeperClient(safekeeperUrls().get(id), Duration.ofSeconds(10), RetryPolicy.NONE, adminTokens(), clientTls);
  }

  /** Safekeeper id → URL of its management listener, or {@link #safekeeperUrls()} without them; the pageserver's. */
  public Map<String, String> safekeeperManagementUrls() {
    Map<String, String> out = safekeeperUrls();
    safekeeperManagementPorts.forEach((id, port) -> out.put(id, scheme() + "://127.0.0.1:" + port));
    return out;
  }

  public List<String> safekeeperIds() {
    return new ArrayList<>(safekeeperPorts.keySet());
  }

  public void startSafekeeper(String id) {
    List<String> args = new ArrayList<>(List.of("safekeeper", "--id", id, "--listen", "127.0.0.1:" + safekeeperPorts.get(id),
        "--data-dir", safekeeperDataDir(id).toString(), "--object-store", objectStoreArgument()));
    if (safekeeperManagementPorts.containsKey(id)) {
      args.addAll(List.of("--management-listen", "127.0.0.1:" + safekeeperManagementPorts.get(id)));
    }
    args.addAll(authArguments());
    safekeepers.put(id, launch(id, args));
  }

  public void startPageserver() {
    List<String> args = new ArrayList<>(List.of("pageserver", "--listen", "127.0.0.1:" + pageserverPort,
        "--object-store", objectStoreArgument(), "--work-dir", pageserverWorkDir.toString(),
        "--safekeepers", String.join(",", safekeeperManagementUrls().values()),
        "--advertise", pageserverProxy == null ? pageserverUrl() : pageserverProxy.url()));
    if (imageThreshold != null) {
      args.addAll(List.of("--image-threshold", imageThreshold));
    }
    if (pageserverManagementPort != 0) {
      args.addAll(List.of("--management-listen", "127.0.0.1:" + pageserverManagementPort));
    }
    args.addAll(authArguments());
    pageserver = launch("pageserver", args);
  }

  /**
   * A new pageserver in place of one that is down, as a new pod would be: another port, an empty work
   * directory of its own, the same object store and safekeepers. {@link #pageserverUrl()} names it from
   * then on (computes started before keep the old URL in their restore_command; they need it only while
   * they recover). Not with {@link #withPageserverProxy()}, whose target is fixed.
   */
  public void replacePageserver() {
    if (isPageserverRunning()) {
      throw new IllegalStateException("the pageserver is running: kill it before replacing it");
    }
    if (pageserverProxy != null) {
      throw new IllegalStateException("the pageserver proxy forwards to the old port; replacing the pageserver is not supported with it");
    }
    int old = pageserverPort;
    do {
      pageserverPort = FreePort.pickStable();
    } while (pageserverPort == old);
    if (pageserverManagementPort != 0) {
      int oldManagement = pageserverManagementPort;
      do {
        pageserverManagementPort = FreePort.pickStable();
      } while (pageserverManagementPort == oldManagement || pageserverManagementPort == pageserverPort);
    }
    pageserverWorkDir = dir.resolve("pageserver-" + (++pageserverReplacements));
    startPageserver();
  }

  /** The work directory of the current pageserver (it may not exist: the pageserver creates it when it needs it). */
  public Path pageserverWorkDir() {
    return pageserverWorkDir;
  }

  /** Where safekeeper {@code id} keeps its data: the root of its crashfs, or a directory of the harness. */
  public Path safekeeperDataDir(String id) {
    CrashableDirectory disk = disks.get(id);
    return disk != null ? disk.path() : dir.resolve("safekeepers/" + id);
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

  /** The pid of the running safekeeper process {@code id}. */
  public long safekeeperPid(String id) {
    return running(safekeepers.get(id), id);
  }

  public long pageserverPid() {
    return running(pageserver, "pageserver");
  }

  public boolean isPageserverRunning() {
    return pageserver != null && pageserver.isAlive();
  }

  /**
   * Power loss of a safekeeper's machine: SIGKILL, then a cut of its crashfs, which keeps only what it
   * fsynced. Needs {@link #withCrashableSafekeeperDisks()}. Returns crashfs's report of the cut.
   */
  public String powerCutSafekeeper(String id) {
    CrashableDirectory disk = disks.get(id);
    if (disk == null) {
      throw new IllegalStateException("no crashable disk for " + id + ": create the harness with withCrashableSafekeeperDisks()");
    }
    killSafekeeper(id);
    return disk.cut();
  }

  /** A lost disk: deletes everything in the data directory of a safekeeper that is down. */
  public void wipeSafekeeper(String id) {
    if (isSafekeeperRunning(id)) {
      throw new IllegalStateException(id + " is running: stop it before wiping its disk");
    }
    deleteTree(safekeeperDataDir(id), false);
  }

  /**
   * A disk lost under a running safekeeper (a volume detached or reformatted): deletes everything in its data
   * directory while the process goes on with the files it has open.
   */
  public void wipeRunningSafekeeper(String id) {
    running(safekeepers.get(id), id);
    deleteTree(safekeeperDataDir(id), false);
  }

  /** A lost pod: deletes the work directory of the pageserver, which must be down. */
  public void deletePageserverWorkDir() {
    if (isPageserverRunning()) {
      throw new IllegalStateException("the pageserver is running: kill it before deleting its work directory");
    }
    deleteTree(pageserverWorkDir, true);
  }

  private static void deleteTree(Path root, boolean withRoot) {
    if (!Files.exists(root)) {
      return;
    }
    try (var files = Files.walk(root)) {
      for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
        if (withRoot || !p.equals(root)) {
          Files.delete(p);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + root, e);
    }
  }

  /** SIGSTOP of the safekeeper process this harness started: it holds its sockets but answers nothing. */
  public void pauseSafekeeper(String id) {
    signal(running(safekeepers.get(id), id), "STOP");
  }

  /** SIGCONT of a paused safekeeper. */
  public void resumeSafekeeper(String id) {
    signal(running(safekeepers.get(id), id), "CONT");
  }

  public void pausePageserver() {
    signal(running(pageserver, "pageserver"), "STOP");
  }

  public void resumePageserver() {
    signal(running(pageserver, "pageserver"), "CONT");
  }

  public boolean isSafekeeperPaused(String id) {
    Process p = safekeepers.get(id);
    return p != null && isStopped(p.pid());
  }

  public boolean isPageserverPaused() {
    return pageserver != null && isStopped(pageserver.pid());
  }

  /** Whether the process {@code pid} is stopped by a signal (state T in /proc/PID/stat). */
  public static boolean isStopped(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
      // pid (comm) state ...: comm may contain spaces, the state follows the last ')'
      return stat.substring(stat.lastIndexOf(')') + 2).startsWith("T");
    } catch (IOException gone) {
      return false;
    }
  }

  /** Sends SIGname to one process by its pid (kill(1)); only ever to processes a test harness started. */
  public static void signal(long pid, String name) {
    try {
      Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).redirectErrorStream(true).start();
      String out = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
        throw new IllegalStateException("kill -" + name + " " + pid + " failed: " + out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted signalling " + pid, e);
    }
  }

  private static long running(Process p, String name) {
    if (p == null || !p.isAlive()) {
      throw new IllegalStateException(name + " is not running");
    }
    return p.pid();
  }

  /** What safekeeper {@code id} holds of a timeline; empty when it does not answer (down, paused, failing). */
  public Optional<TimelineWalStatus> safekeeperStatus(String id, TenantId tenant, TimelineId timeline) {
    try {
      return Optional.of(safekeeper(id).withTimeout(SAFEKEEPER_STATUS_TIMEOUT).timeline(tenant, timeline));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * Whether safekeeper {@code id} follows the compute of {@code generation} on {@code pgTli} and holds its WAL durably
   * up to {@code lsn}: it took part in the compute's generation and caught up (a wiped one has rejoined).
   */
  public boolean followsUpTo(String id, TenantId tenant, TimelineId timeline, long generation, int pgTli, Lsn lsn) {
    return safekeeperStatus(id, tenant, timeline).filter(s -> s.following() && s.generation() == generation
        && s.tli() == pgTli && !s.flushLsn().isBefore(lsn)).isPresent();
  }

  /**
   * How often safekeeper {@code id} refused to vote because it holds no WAL of a timeline that has history
   * (a wiped disk), from its log, which is kept across restarts.
   */
  public long refusedVotes(String id) {
    return countLogLines(id, l -> l.contains("event=generation_accepted") && l.contains("vote=refused_no_wal"));
  }

  /** How many lines of safekeeper {@code id}'s log (kept across restarts) {@code matches} accepts. */
  public long countLogLines(String id, java.util.function.Predicate<String> matches) {
    try (var lines = Files.lines(dir.resolve("logs/" + id + ".log"))) {
      return lines.filter(matches).count();
    } catch (NoSuchFileException e) {
      return 0;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The pageserver's management API ({@link #pageserverManagementUrl()}, as it is now: a replaced pageserver has
   * another), answering within 60 s, idempotent calls retried.
   */
  public PageserverClient pageserver() {
    return new PageserverClient(pageserverManagementUrl(), Duration.ofSeconds(60), RetryPolicy.DEFAULT, adminTokens(), clientTls);
  }

  public TenantInfo createTenant(int pgVersion) throws IOException {
    return pageserver().createTenant(CreateTenantRequest.withRandomId(pgVersion));
  }

  /** A branch of {@code ancestor} at {@code lsn} (null: its head), with an id the pageserver picks. */
  public TimelineInfo branch(TenantId tenant, TimelineId ancestor, String lsn) throws IOException {
    return pageserver().createTimeline(tenant, new CreateTimelineRequest(null, ancestor, lsn));
  }

  public TimelineInfo timeline(TenantId tenant, TimelineId timeline) throws IOException {
    return pageserver().timeline(tenant, timeline);
  }

  /** Asks the pageserver for an image of the timeline now. */
  public ImageMade makeImage(TenantId tenant, TimelineId timeline) throws IOException {
    return pageserver().makeImage(tenant, timeline);
  }

  public List<TenantInfo> tenants() throws IOException {
    return pageserver().tenants();
  }

  public List<TimelineInfo> timelines(TenantId tenant) throws IOException {
    return pageserver().timelines(tenant);
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
    pageserver = null;
    if (pageserverProxy != null) {
      pageserverProxy.close();
    }
    RuntimeException failure = null;
    for (CrashableDirectory disk : disks.values()) {
      try {
        disk.close(); // after the safekeepers are gone: nothing holds a file on it
      } catch (RuntimeException e) {
        failure = e;
      }
    }
    disks.clear();
    dir.close();
    if (failure != null) {
      throw failure;
    }
  }

  private Process launch(String name, List<String> args) {
    List<String> cmd = ServiceLaunch.STORAGE_ENGINE.command(List.of("-Xmx256m", "-XX:+UseSerialGC"), args);
    try {
      Path log = dir.resolve("logs/" + name + ".log");
      Files.createDirectories(log.getParent());
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
      pb.environment().putAll(environment);
      Process p = pb.start();
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

  /**
   * SIGKILL, then waits for the process and for what it had started (the pageserver's PostgreSQL of an image being
   * made stops by itself once its parent is gone, writing its files on the way out): its directory is deleted next.
   * One still there after 30 s is killed too.
   */
  private static void kill(Process p) {
    if (p == null) {
      return;
    }
    List<ProcessHandle> started = p.descendants().toList();
    p.destroyForcibly();
    try {
      p.waitFor(30, TimeUnit.SECONDS);
      for (ProcessHandle child : started) {
        try {
          child.onExit().get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
          child.destroyForcibly();
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}

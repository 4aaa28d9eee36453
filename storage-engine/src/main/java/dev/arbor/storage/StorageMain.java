package dev.arbor.storage;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.client.tls.Pem;
import dev.arbor.server.ServerTls;
import dev.arbor.postgres.MissingPrerequisiteException;
import dev.arbor.server.HttpApi;
import dev.arbor.server.TokenVerifier;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.storage.objectstore.ObjectStore;
import dev.arbor.storage.objectstore.ObjectStores;
import dev.arbor.storage.pageserver.ImageService;
import dev.arbor.storage.pageserver.Pageserver;
import dev.arbor.storage.pageserver.PageserverConfig;
import dev.arbor.storage.safekeeper.ReplicationTls;
import dev.arbor.storage.safekeeper.Safekeeper;
import dev.arbor.storage.safekeeper.SafekeeperConfig;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * Runs one storage-engine component as a process:
 * <pre>
 * pageserver --listen HOST:PORT --object-store STORE --work-dir DIR --safekeepers URL,URL,... [--advertise URL]
 *            (the safekeepers' management URLs when they have a management listener: it deletes WAL there)
 *            [--image-threshold BYTES]   (e.g. 256MiB, 1GiB; 0: no automatic images)
 *            [--management-listen HOST:PORT]   (tenant and timeline management on its own port, see Pageserver)
 * safekeeper --id ID --listen HOST:PORT --data-dir DIR --object-store STORE
 *            [--management-listen HOST:PORT]   (timeline deletion and metrics on their own port, see Safekeeper)
 * and for both: --auth-keys FILE --auth-issuer ISSUER [--token-file FILE]   (or, for development only, --insecure-no-auth)
 *               --tls-cert FILE --tls-key FILE --tls-ca FILE   (or, for development only, --insecure-no-tls)
 * </pre>
 * {@code --auth-keys} is the public JWK set that tokens are checked against (read again when it changes, so keys
 * rotate without a restart), {@code --auth-issuer} the {@code iss} they must carry, and {@code --token-file} the
 * token the component sends on its own calls (required for the pageserver; a safekeeper sends it to its peers),
 * read on every call. Without keys the start is refused unless {@code --insecure-no-auth} is given, which serves
 * every route to anyone and says so in a warning line (docs/security.md).
 * {@code --tls-cert} and {@code --tls-key} (PEM: the certificate chain, the component's own first, and its private key,
 * as a cert-manager Secret's {@code tls.crt} and {@code tls.key}) make both ports serve HTTPS, reloading the pair when
 * the files change; {@code --tls-ca} is the CA bundle the component's own calls trust (the pageserver's to the
 * safekeepers and to itself from its working copies, a safekeeper's to its peers), required with them. A component
 * that checks or sends tokens serves HTTPS, unless {@code --insecure-no-tls} says, for development only, that tokens
 * may go over plain HTTP (docs/security.md, "TLS"). A safekeeper's {@code --tls-cert} and {@code --tls-key} are also
 * the client certificate it presents to computes that serve TLS (its common name must be the replication role,
 * {@code arbor_replication}, and it needs both server and client use), and {@code --tls-ca} the CA their certificates
 * must chain to; read again for every replication connection ({@link ReplicationTls}).
 * STORE is {@code s3://BUCKET/PREFIX} (with AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY) or a directory ({@link ObjectStores}). A store that cannot be used stops the start
 * with one line on stderr and exit status 2. Prints {@code listening on http://HOST:PORT} (the {@code --listen}
 * address) as its first line on stdout once serving (port 0 picks a free port) and runs until SIGTERM/SIGINT; a
 * management listener is logged as {@code event=http_listening component=pageserver listener=management
 * address=HOST:PORT} (a safekeeper's: {@code component=safekeeper-ID}).
 */
public final class StorageMain {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(StorageMain.class);

  private StorageMain() {}

  public static void main(String[] args) throws Exception {
    // A compute's replication Service, a safekeeper or the pageserver gets a new pod IP when its pod is replaced.
    dev.arbor.client.NameLookups.followReplacedPods();
    if (args.length == 0 || !(args[0].equals("pageserver") || args[0].equals("safekeeper"))) {
      System.err.println("usage: StorageMain pageserver|safekeeper --option value ...");
      System.exit(2);
    }
    AutoCloseable component;
    String url;
    StorageAuth auth;
    ObjectStore objects;
    try {
      List<String> rest = new java.util.ArrayList<>(Arrays.asList(args).subList(1, args.length));
      boolean insecure = rest.remove("--" + INSECURE_FLAG);
      boolean insecureTls = rest.remove("--" + INSECURE_TLS_FLAG);
      Map<String, String> opts = options(args[0], rest.toArray(String[]::new));
      auth = withTls(args[0], opts, auth(args[0], opts, insecure), insecureTls);
      objects = ObjectStores.open(require(opts, "object-store"));
      if (args[0].equals("pageserver")) {
        var images = new ImageService.Policy(bytes(opts.getOrDefault("image-threshold",
            Long.toString(ImageService.Policy.DEFAULT.thresholdBytes())), "image-threshold"), ImageService.Policy.DEFAULT.checkInterval());
        var config = new PageserverConfig(address(require(opts, "listen"), "listen"), opts.get("advertise"), objects,
            List.of(require(opts, "safekeepers").split(",")), PostgresInstallation::find, Path.of(require(opts, "work-dir")), images,
            managementListen(opts), auth);
        var ps = new Pageserver(config).start();
        component = ps;
        url = ps.url();
      } else {
        var config = new SafekeeperConfig(require(opts, "id"), address(require(opts, "listen"), "listen"), Path.of(require(opts, "data-dir")),
            objects, managementListen(opts), auth, replicationTls(opts));
        var sk = new Safekeeper(config).start();
        component = sk;
        url = sk.url();
      }
    } catch (IllegalArgumentException | MissingPrerequisiteException e) {
      System.err.println(args[0] + ": " + e.getMessage());
      System.exit(2);
      return;
    } catch (IOException e) {
      // One line that says what (the CLI shows a daemon's last line when it dies starting), not a stack trace.
      System.err.println(args[0] + ": cannot start: " + e.getMessage());
      System.exit(1);
      return;
    }
    if (auth.serverTls() == null && auth.outbound().plainHttpAllowed()) {
      log.warn("event=tls_disabled component={} reason=\"--{}: plain HTTP, tokens included; for development only\"", args[0],
          INSECURE_TLS_FLAG);
    }
    if (auth.inbound() == HttpApi.Authenticator.INSECURE) {
      log.warn("event=auth_disabled component={} reason=\"--{}: every route is served to anyone who reaches the port; for development only\"",
          args[0], INSECURE_FLAG);
    }
    System.out.println("listening on " + url);
    System.out.flush();
    var stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        component.close();
        if (objects instanceof AutoCloseable c) {
          c.close();
        }
      } catch (Exception ignored) {
        // exiting anyway
      }
      stopped.countDown();
    }));
    stopped.await();
  }

  /** The options each role takes; any other is refused, never ignored. */
  private static final Map<String, List<String>> OPTIONS = Map.of(
      "pageserver", List.of("listen", "management-listen", "advertise", "object-store", "work-dir", "safekeepers", "image-threshold",
          "auth-keys", "auth-issuer", "token-file", "tls-cert", "tls-key", "tls-ca"),
      "safekeeper", List.of("id", "listen", "management-listen", "data-dir", "object-store", "auth-keys", "auth-issuer", "token-file",
          "tls-cert", "tls-key", "tls-ca"));

  /**
   * The safekeeper's identity toward computes that serve TLS: the {@code --tls-cert} and {@code --tls-key} it serves
   * HTTPS with ({@link #withTls} checked them, and that {@code --tls-ca} comes with them), verifying computes against
   * {@code --tls-ca}; null without them, when computes are followed in the clear only. Warns when the certificate's
   * common name is not the replication role, which computes refuse.
   */
  static ReplicationTls replicationTls(Map<String, String> opts) {
    if (!opts.containsKey("tls-cert")) {
      return null;
    }
    ReplicationTls tls;
    String cn;
    try {
      tls = new ReplicationTls(Path.of(require(opts, "tls-cert")), Path.of(require(opts, "tls-key")), Path.of(require(opts, "tls-ca")))
          .checked();
      cn = tls.clientCommonName();
    } catch (ReplicationTls.MaterialException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
    if (!cn.equals(ReplicationTls.CLIENT_NAME)) {
      log.warn("event=tls_client_name_mismatch cert={} common_name=\"{}\" reason=\"computes that serve TLS accept replication only from "
          + "a certificate whose common name is {}; this one will be refused\"", tls.certFile(), cn, ReplicationTls.CLIENT_NAME);
    }
    return tls;
  }

  /** The flag (without a value) that serves every route to anyone: development only. */
  public static final String INSECURE_FLAG = "insecure-no-auth";

  /** The flag (without a value) that lets a component checking or sending tokens speak plain HTTP: development only. */
  public static final String INSECURE_TLS_FLAG = "insecure-no-tls";

  /**
   * {@code auth} with the component's TLS: the certificate it serves ({@code --tls-cert}, {@code --tls-key}) and the CA
   * its own calls trust ({@code --tls-ca}). A component that checks tokens ({@code --auth-keys}) or sends one
   * ({@code --token-file}) needs them, unless {@code insecureTls} ({@code --insecure-no-tls}) lets its tokens go over
   * plain HTTP. Each file is read here, and one that cannot be used is refused naming its flag.
   */
  static StorageAuth withTls(String role, Map<String, String> opts, StorageAuth auth, boolean insecureTls) {
    boolean cert = opts.containsKey("tls-cert");
    boolean key = opts.containsKey("tls-key");
    if (cert != key) {
      throw new IllegalArgumentException("--tls-cert FILE and --tls-key FILE go together: give both (the certificate chain and its "
          + "private key, PEM, e.g. a cert-manager Secret's tls.crt and tls.key)");
    }
    if (insecureTls && cert) {
      throw new IllegalArgumentException("--" + INSECURE_TLS_FLAG + " serves plain HTTP; it cannot be given with --tls-cert and --tls-key");
    }
    boolean tokens = auth.inbound() != HttpApi.Authenticator.INSECURE || opts.containsKey("token-file");
    if (!cert && tokens && !insecureTls) {
      throw new IllegalArgumentException("--tls-cert FILE, --tls-key FILE and --tls-ca FILE are required with --auth-keys or "
          + "--token-file: tokens go over HTTPS only; to let them go over plain HTTP, for development only, give --" + INSECURE_TLS_FLAG);
    }
    if (cert && !opts.containsKey("tls-ca")) {
      throw new IllegalArgumentException("--tls-ca FILE is required with --tls-cert: the CA bundle (PEM, e.g. a cert-manager Secret's "
          + "ca.crt) that the " + role + "'s own calls to the storage engine trust");
    }
    ClientTls trust = ClientTls.SYSTEM;
    if (opts.containsKey("tls-ca")) {
      Path ca = Path.of(require(opts, "tls-ca"));
      try {
        trust = ClientTls.trusting(ca);
      } catch (IOException e) {
        throw new IllegalArgumentException("--tls-ca " + ca + ": " + e.getMessage() + "; give the PEM bundle of the CA that signed the "
            + "storage engine's certificates (a cert-manager Secret's ca.crt)");
      }
    }
    ServerTls serve = null;
    if (cert) {
      serve = serverTls(Path.of(require(opts, "tls-cert")), Path.of(require(opts, "tls-key")));
      if (role.equals("pageserver")) {
        for (String url : require(opts, "safekeepers").split(",")) {
          requireHttps("safekeepers", url.strip());
        }
        if (opts.containsKey("advertise")) {
          requireHttps("advertise", opts.get("advertise"));
        }
      }
    }
    TokenSource outbound = insecureTls ? auth.outbound().allowPlainHttp() : auth.outbound();
    return new StorageAuth(auth.inbound(), outbound, serve, trust);
  }

  /** The pair of {@code --tls-cert} and {@code --tls-key}, each file checked on its own first so the error names its flag. */
  private static ServerTls serverTls(Path cert, Path key) {
    java.security.cert.X509Certificate leaf;
    java.security.PrivateKey privateKey;
    try {
      leaf = Pem.readCertificates(cert).get(0);
    } catch (IOException e) {
      throw new IllegalArgumentException("--tls-cert " + cert + ": " + e.getMessage() + "; give the server's certificate chain as PEM "
          + "(its own certificate first; a cert-manager Secret's tls.crt)");
    }
    try {
      privateKey = Pem.readPrivateKey(key);
    } catch (IOException e) {
      throw new IllegalArgumentException("--tls-key " + key + ": " + e.getMessage() + "; give the certificate's private key as PEM "
          + "(a cert-manager Secret's tls.key)");
    }
    if (!Pem.matches(privateKey, leaf)) {
      throw new IllegalArgumentException("--tls-key " + key + " is not the private key of the certificate in --tls-cert " + cert
          + "; give the key that was issued with that certificate");
    }
    try {
      return ServerTls.fromFiles(cert, key);
    } catch (IOException e) {
      throw new IllegalArgumentException("--tls-cert " + cert + " / --tls-key " + key + ": " + e.getMessage());
    }
  }

  private static void requireHttps(String option, String url) {
    if (!url.startsWith("https://")) {
      throw new IllegalArgumentException("--" + option + " " + url + ": with --tls-cert the storage engine speaks HTTPS; give its https:// URL");
    }
  }

  /** The tokens a component checks and sends, from its options; without keys, only with {@code --insecure-no-auth}. */
  static StorageAuth auth(String role, Map<String, String> opts, boolean insecure) {
    TokenSource outbound = TokenSource.fileOrNone(opts.containsKey("token-file") ? Path.of(require(opts, "token-file")) : null);
    if (insecure) {
      if (opts.containsKey("auth-keys") || opts.containsKey("auth-issuer")) {
        throw new IllegalArgumentException("--" + INSECURE_FLAG + " turns token checks off; it cannot be given with --auth-keys or --auth-issuer");
      }
      return new StorageAuth(HttpApi.Authenticator.INSECURE, outbound);
    }
    if (!opts.containsKey("auth-keys")) {
      throw new IllegalArgumentException("--auth-keys FILE (the public JWK set tokens are checked against) and --auth-issuer ISSUER are "
          + "required; to run without token checks, for development only, give --" + INSECURE_FLAG);
    }
    if (role.equals("pageserver") && !opts.containsKey("token-file")) {
      throw new IllegalArgumentException("--token-file FILE is required with --auth-keys: the pageserver's token (scope pageserver) for "
          + "its calls to the safekeepers and its own working copies");
    }
    return new StorageAuth(new TokenVerifier(Path.of(require(opts, "auth-keys")), require(opts, "auth-issuer")), outbound);
  }

  /** {@code --name value} or {@code --name=value} (as Kubernetes manifests often write them), each name once. */
  static Map<String, String> options(String role, String[] args) {
    Map<String, String> out = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (!arg.startsWith("--") || arg.length() == 2) {
        throw new IllegalArgumentException("expected --option value (or --option=value), got '" + arg + "'");
      }
      int eq = arg.indexOf('=');
      String name = eq < 0 ? arg.substring(2) : arg.substring(2, eq);
      String value;
      if (eq >= 0) {
        value = arg.substring(eq + 1);
      } else if (i + 1 < args.length) {
        value = args[++i];
      } else {
        throw new IllegalArgumentException("--" + name + " needs a value");
      }
      if (!OPTIONS.get(role).contains(name)) {
        throw new IllegalArgumentException("unknown option --" + name + " for the " + role + "; it takes --"
            + String.join(", --", OPTIONS.get(role)));
      }
      if (out.put(name, value) != null) {
        throw new IllegalArgumentException("--" + name + " is given twice");
      }
    }
    return out;
  }

  /** {@code --management-listen}, when given. */
  private static InetSocketAddress managementListen(Map<String, String> opts) {
    return opts.containsKey("management-listen") ? address(require(opts, "management-listen"), "management-listen") : null;
  }

  private static String require(Map<String, String> opts, String name) {
    String v = opts.get(name);
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException("--" + name + " is required");
    }
    return v;
  }

  /** A byte count: digits, optionally followed by KiB, MiB or GiB. */
  public static long bytes(String text, String option) {
    var m = java.util.regex.Pattern.compile("^(\\d+)(KiB|MiB|GiB)?$").matcher(text.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException("--" + option + " must be a byte count such as 268435456, 256MiB or 1GiB, not '" + text + "'");
    }
    long unit = m.group(2) == null ? 1 : switch (m.group(2)) {
      case "KiB" -> 1L << 10;
      case "MiB" -> 1L << 20;
      default -> 1L << 30;
    };
    return Math.multiplyExact(Long.parseLong(m.group(1)), unit);
  }

  /** {@code HOST:PORT} of option {@code option}. */
  static InetSocketAddress address(String hostPort, String option) {
    int colon = hostPort.lastIndexOf(':');
    int port = -1;
    if (colon >= 0) {
      try {
        port = Integer.parseInt(hostPort.substring(colon + 1));
      } catch (NumberFormatException notANumber) {
        // reported below
      }
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("--" + option + " must be HOST:PORT (e.g. 0.0.0.0:9898; port 0 picks a free one), got '"
          + hostPort + "'");
    }
    return new InetSocketAddress(hostPort.substring(0, colon), port);
  }
}

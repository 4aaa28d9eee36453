package dev.arbor.storage;

import dev.arbor.client.auth.TokenSource;
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
 *            [--tls-cert FILE --tls-key FILE --tls-ca FILE]   (PEM; its identity toward computes that serve TLS)
 * and for both: --auth-keys FILE --auth-issuer ISSUER [--token-file FILE]   (or, for development only, --insecure-no-auth)
 * </pre>
 * {@code --auth-keys} is the public JWK set that tokens are checked against (read again when it changes, so keys
 * rotate without a restart), {@code --auth-issuer} the {@code iss} they must carry, and {@code --token-file} the
 * token the component sends on its own calls (required for the pageserver; a safekeeper sends it to its peers),
 * read on every call. Without keys the start is refused unless {@code --insecure-no-auth} is given, which serves
 * every route to anyone and says so in a warning line (docs/security.md). A safekeeper's {@code --tls-cert} and
 * {@code --tls-key} are the client certificate it presents to computes that serve TLS (its common name must be the
 * replication role, {@code arbor_replication}), {@code --tls-ca} the CA their certificates must chain to; the three
 * go together, and are read again for every connection ({@link ReplicationTls}).
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
      Map<String, String> opts = options(args[0], rest.toArray(String[]::new));
      auth = auth(args[0], opts, insecure);
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
          "auth-keys", "auth-issuer", "token-file"),
      "safekeeper", List.of("id", "listen", "management-listen", "data-dir", "object-store", "auth-keys", "auth-issuer", "token-file",
          "tls-cert", "tls-key", "tls-ca"));

  /**
   * {@code --tls-cert}, {@code --tls-key} and {@code --tls-ca}, all three or none, each file read once now so that an
   * unusable one stops the start naming its flag; null without them.
   */
  static ReplicationTls replicationTls(Map<String, String> opts) throws IOException {
    List<String> flags = List.of("tls-cert", "tls-key", "tls-ca");
    List<String> given = flags.stream().filter(opts::containsKey).toList();
    if (given.isEmpty()) {
      return null;
    }
    if (given.size() < flags.size()) {
      throw new IllegalArgumentException("--tls-cert, --tls-key and --tls-ca go together (the certificate and key it presents to "
          + "computes, and the CA their certificates must chain to); --" + String.join(" and --", given) + " given alone");
    }
    ReplicationTls tls;
    try {
      tls = new ReplicationTls(Path.of(require(opts, "tls-cert")), Path.of(require(opts, "tls-key")), Path.of(require(opts, "tls-ca")))
          .checked();
    } catch (ReplicationTls.MaterialException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
    String cn = tls.clientCommonName();
    if (!cn.equals(ReplicationTls.CLIENT_NAME)) {
      log.warn("event=tls_client_name_mismatch cert={} common_name=\"{}\" reason=\"computes that serve TLS accept replication only from "
          + "a certificate whose common name is {}; this one will be refused\"", tls.certFile(), cn, ReplicationTls.CLIENT_NAME);
    }
    return tls;
  }

  /** The flag (without a value) that serves every route to anyone: development only. */
  public static final String INSECURE_FLAG = "insecure-no-auth";

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

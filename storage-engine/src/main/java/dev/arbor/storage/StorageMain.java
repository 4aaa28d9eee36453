package dev.arbor.storage;

import dev.arbor.postgres.MissingPrerequisiteException;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.storage.objectstore.ObjectStore;
import dev.arbor.storage.objectstore.ObjectStores;
import dev.arbor.storage.pageserver.ImageService;
import dev.arbor.storage.pageserver.Pageserver;
import dev.arbor.storage.pageserver.PageserverConfig;
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
 * </pre>
 * STORE is {@code s3://BUCKET/PREFIX} (with AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY) or a directory ({@link ObjectStores}). A store that cannot be used stops the start
 * with one line on stderr and exit status 2. Prints {@code listening on http://HOST:PORT} (the {@code --listen}
 * address) as its first line on stdout once serving (port 0 picks a free port) and runs until SIGTERM/SIGINT; a
 * management listener is logged as {@code event=http_listening component=pageserver listener=management
 * address=HOST:PORT} (a safekeeper's: {@code component=safekeeper-ID}).
 */
public final class StorageMain {
  private StorageMain() {}

  public static void main(String[] args) throws Exception {
    if (args.length == 0 || !(args[0].equals("pageserver") || args[0].equals("safekeeper"))) {
      System.err.println("usage: StorageMain pageserver|safekeeper --option value ...");
      System.exit(2);
    }
    AutoCloseable component;
    String url;
    ObjectStore objects;
    try {
      Map<String, String> opts = options(args[0], Arrays.copyOfRange(args, 1, args.length));
      objects = ObjectStores.open(require(opts, "object-store"));
      if (args[0].equals("pageserver")) {
        var images = new ImageService.Policy(bytes(opts.getOrDefault("image-threshold",
            Long.toString(ImageService.Policy.DEFAULT.thresholdBytes())), "image-threshold"), ImageService.Policy.DEFAULT.checkInterval());
        var config = new PageserverConfig(address(require(opts, "listen"), "listen"), opts.get("advertise"), objects,
            List.of(require(opts, "safekeepers").split(",")), PostgresInstallation::find, Path.of(require(opts, "work-dir")), images,
            managementListen(opts));
        var ps = new Pageserver(config).start();
        component = ps;
        url = ps.url();
      } else {
        var config = new SafekeeperConfig(require(opts, "id"), address(require(opts, "listen"), "listen"), Path.of(require(opts, "data-dir")),
            objects, managementListen(opts));
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
      "pageserver", List.of("listen", "management-listen", "advertise", "object-store", "work-dir", "safekeepers", "image-threshold"),
      "safekeeper", List.of("id", "listen", "management-listen", "data-dir", "object-store"));

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

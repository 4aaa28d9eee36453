package dev.arbor.proxy.kube;

import dev.arbor.proxy.CancelForwarder;
import dev.arbor.proxy.PeerCancelForwarder;
import dev.arbor.proxy.PeerCancelPort;
import dev.arbor.proxy.ProxyConfig;
import dev.arbor.proxy.ProxyServer;
import dev.arbor.proxy.ProxyTls;
import dev.arbor.server.HttpApi;
import dev.arbor.server.Response;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * arbor-proxy on Kubernetes: one replica of the proxy Deployment. It watches Endpoints and compute pods
 * ({@link KubeComputes}), listens on every Endpoint's {@code status.proxyPort}, forwards CancelRequests it cannot
 * place to its peers, and serves GET /metrics, /healthz and /readyz on the admin port. Settings come from the
 * environment ({@link KubeProxySettings}); the Kubernetes API from the pod's service account (or KUBECONFIG).
 *
 * <p>Exit codes: 0 after SIGTERM (listeners closed, connections ended with a reason); 1 when the Kubernetes API
 * cannot be reached at start; 2 for bad settings.
 */
public final class KubeProxyMain {
  static {
    configureLogging(); // before any logger exists
  }

  private static final Logger log = LoggerFactory.getLogger(KubeProxyMain.class);
  /** Every replica listens on all addresses: the Endpoints' EndpointSlices send their clients to the pod IP. */
  static final String BIND_HOST = "0.0.0.0";
  private static final long SYNC_TIMEOUT_SECONDS = 60;

  private static volatile boolean exitingOnOurOwn;
  /** A SIGTERM is being served: the informers' start that it interrupts is no start failure. */
  private static volatile boolean stopping;

  private KubeProxyMain() {}

  public static void main(String[] args) {
    KubeProxySettings settings;
    ProxyConfig config;
    try {
      settings = KubeProxySettings.fromEnv(System.getenv());
      config = settings.proxyConfig();
      if (settings.tlsCertificate() != null) {
        config = config.withTls(ProxyTls.fromPem(settings.tlsCertificate(), settings.tlsKey()));
      }
    } catch (IllegalArgumentException e) {
      System.err.println("arbor-proxy: " + e.getMessage());
      exit(2);
      return;
    }

    KubernetesClient client = new KubernetesClientBuilder().build();
    KubeComputes computes = new KubeComputes(client, settings.namespaces());
    HttpApi admin = new HttpApi("arbor-proxy");
    CancelForwarder forwarder = settings.peers() == null ? null
        : new PeerCancelForwarder(settings.peers(), settings.cancelPort(), settings.podIp());
    ProxyServer proxy = new ProxyServer(config, computes, admin.metrics(), forwarder);
    computes.serve(proxy, BIND_HOST);
    admin.route("GET", "/healthz", r -> Response.text(200, "ok\n"));
    admin.route("GET", "/readyz", r -> computes.synced() ? Response.text(200, "ok\n")
        : Response.text(503, "the Endpoint and pod informers have not synced yet\n"));
    PeerCancelPort cancelPort;
    try {
      admin.start(new InetSocketAddress(BIND_HOST, settings.adminPort()));
      cancelPort = PeerCancelPort.listen(proxy, new InetSocketAddress(BIND_HOST, settings.cancelPort()));
    } catch (IOException e) {
      log.error("event=start_failed reason=\"{}\"", e.getMessage());
      exit(1);
      return;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      stopping = true;
      log.info("event=stopping");
      proxy.close(); // listeners first, then every connection ends with an ErrorResponse that says why
      cancelPort.close();
      computes.close();
      admin.close();
      client.close();
      log.info("event=stopped");
      if (!exitingOnOurOwn) {
        Runtime.getRuntime().halt(0); // SIGTERM asked for this stop: success, not 128 + 15
      }
    }, "proxy-shutdown"));

    log.info("event=starting api={} peers={} tls={} wake_timeout={}s", client.getMasterUrl(),
        settings.peers() == null ? "none" : settings.peers(), settings.tlsCertificate() != null, settings.wakeTimeout().toSeconds());
    try {
      computes.start().toCompletableFuture().get(SYNC_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (Exception e) {
      if (stopping) {
        return; // SIGTERM came before the informers had started (their watches): the shutdown hook ends the process, 0
      }
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      log.error("event=start_failed reason=\"cannot watch Endpoints and pods through the Kubernetes API at {}: {}\" hint=\"in a pod"
          + " the proxy uses its service account (RBAC: list and watch endpoints.arbor.dev and pods, patch endpoints.arbor.dev);"
          + " elsewhere set KUBECONFIG\"", client.getMasterUrl(), (cause.getClass().getSimpleName() + ": " + cause.getMessage()).replace("\"", "'"));
      exit(1);
      return;
    }
    log.info("event=ready endpoints={}", proxy.endpoints().size());
    try {
      new CountDownLatch(1).await(); // serves until SIGTERM; the shutdown hook ends the process
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** One stream, stdout, in time order, as a container's log should be; system properties on the command line win. */
  private static void configureLogging() {
    for (String[] p : new String[][] {{"logFile", "System.out"}, {"showDateTime", "true"},
        {"dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"}, {"showThreadName", "false"}, {"showShortLogName", "true"},
        // arbor.dev/v1alpha1 is Arbor's own API version: fabric8's warning about alpha versions says nothing useful.
        {"log.io.fabric8.kubernetes.client.dsl.internal.VersionUsageUtils", "error"}}) {
      if (System.getProperty("org.slf4j.simpleLogger." + p[0]) == null) {
        System.setProperty("org.slf4j.simpleLogger." + p[0], p[1]);
      }
    }
  }

  private static void exit(int code) {
    exitingOnOurOwn = true;
    System.exit(code);
  }
}

package dev.arbor.proxy.kube;

import dev.arbor.client.ComputeAgentClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.crds.v1alpha1.ComputePods;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import dev.arbor.crds.v1alpha1.EndpointWake;
import dev.arbor.proxy.ComputeState;
import dev.arbor.proxy.Computes;
import dev.arbor.proxy.ProxyServer;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's view of computes on Kubernetes, from two informers over all namespaces (or one pair per watched
 * namespace, {@code ARBOR_PROXY_NAMESPACES}): Endpoints (arbor.dev) and
 * the compute pods (label {@value ComputePods#ENDPOINT_LABEL}). An Endpoint is named {@code NAMESPACE/NAME}. A
 * compute runs when one of its pods is Ready, has an IP and is not being deleted, or, while a client waits, as soon as
 * such a pod's agent answers {@code GET /ready} 200 to the proxy itself ({@link ReadyPolls}); the proxy then dials
 * that pod's {@code postgres} port directly. A wake is the annotation {@value EndpointWake#REQUESTED_AT} on the Endpoint, which
 * the operator answers by starting the compute.
 *
 * <p>With {@link #serve}, every Endpoint that has {@code status.proxyPort} gets a listener on that port, and the
 * connections to a compute that is suspended or whose pod is being deleted end with the reason ({@link ComputeStops}).
 */
public final class KubeComputes implements Computes, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KubeComputes.class);
  private static final String BY_ENDPOINT = "endpoint";
  static final Duration TOUCH_TIMEOUT = Duration.ofSeconds(2);

  private final KubernetesClient client;
  /** One informer over all namespaces (key {@link #ANY}), or one per watched namespace. */
  private final Map<String, SharedIndexInformer<Endpoint>> endpoints = new LinkedHashMap<>();
  private final Map<String, SharedIndexInformer<Pod>> pods = new LinkedHashMap<>();
  private static final String ANY = "";
  private final ReadyPolls readyPolls;

  /** Computes of every namespace (a ClusterRole). */
  public KubeComputes(KubernetesClient client) {
    this(client, List.of());
  }

  /** Computes of {@code namespaces} only (a Role in each), or of every namespace when it is empty. */
  public KubeComputes(KubernetesClient client, List<String> namespaces) {
    this.client = client;
    if (namespaces.isEmpty()) {
      endpoints.put(ANY, client.resources(Endpoint.class).inAnyNamespace().runnableInformer(0));
      pods.put(ANY, client.pods().inAnyNamespace().withLabel(ComputePods.ENDPOINT_LABEL).runnableInformer(0));
    } else {
      for (String ns : namespaces) {
        endpoints.put(ns, client.resources(Endpoint.class).inNamespace(ns).runnableInformer(0));
        pods.put(ns, client.pods().inNamespace(ns).withLabel(ComputePods.ENDPOINT_LABEL).runnableInformer(0));
      }
    }
    pods.values().forEach(i -> i.addIndexers(Map.of(BY_ENDPOINT, pod -> List.of(key(pod.getMetadata().getNamespace(),
        pod.getMetadata().getLabels().get(ComputePods.ENDPOINT_LABEL))))));
    readyPolls = new ReadyPolls(pod -> {
      SharedIndexInformer<Pod> informer = informer(pods, pod);
      return informer == null ? null : informer.getStore().getByKey(pod);
    });
    pods.values().forEach(i -> i.addEventHandler(readyPolls));
  }

  /** The informer that holds {@code endpoint} (NAMESPACE/NAME), or null when its namespace is not watched. */
  private <T> SharedIndexInformer<T> informer(Map<String, SharedIndexInformer<T>> byNamespace, String endpoint) {
    SharedIndexInformer<T> any = byNamespace.get(ANY);
    if (any != null) {
      return any;
    }
    int slash = endpoint.indexOf('/');
    return slash < 0 ? null : byNamespace.get(endpoint.substring(0, slash));
  }

  /** The Endpoint NAMESPACE/NAME in the informer's cache, or null. */
  private Endpoint endpoint(String endpoint) {
    SharedIndexInformer<Endpoint> informer = informer(endpoints, endpoint);
    return informer == null ? null : informer.getStore().getByKey(endpoint);
  }

  static String key(String namespace, String name) {
    return namespace + "/" + name;
  }

  /**
   * Keeps {@code proxy}'s listeners in step with the Endpoints: one on {@code bindHost}:{@code status.proxyPort}
   * for each Endpoint that has a proxy port. Call before {@link #start}.
   */
  public KubeComputes serve(ProxyServer proxy, String bindHost) {
    var listeners = new Listeners(proxy, bindHost);
    endpoints.values().forEach(i -> i.addEventHandler(listeners));
    var stops = new ComputeStops(proxy, this::endpoint);
    endpoints.values().forEach(i -> i.addEventHandler(stops.endpointHandler()));
    pods.values().forEach(i -> i.addEventHandler(stops.podHandler()));
    return this;
  }

  /** Starts both informers; the stage completes once both have listed what exists. */
  public CompletionStage<Void> start() {
    List<CompletableFuture<Void>> all = new ArrayList<>();
    endpoints.values().forEach(i -> all.add(i.start().toCompletableFuture()));
    pods.values().forEach(i -> all.add(i.start().toCompletableFuture()));
    return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new));
  }

  /** True once both informers have their first list: before that, every Endpoint would look unknown. */
  public boolean synced() {
    return endpoints.values().stream().allMatch(SharedIndexInformer::hasSynced) && pods.values().stream().allMatch(SharedIndexInformer::hasSynced);
  }

  @Override
  public ComputeState state(String endpoint) {
    Endpoint e = endpoint(endpoint);
    if (e == null) {
      return new ComputeState.Refused("there is no Endpoint " + endpoint,
          "check the connection string, or list Endpoints with: kubectl get endpoints.arbor.dev -A");
    }
    String namespace = e.getMetadata().getNamespace();
    String name = e.getMetadata().getName();
    if (suspendedBySpec(e)) {
      return suspendedBySpecRefusal(e);
    }
    if (e.getStatus() != null && e.getStatus().getPhase() == EndpointPhase.Suspended) {
      return new ComputeState.Suspended();
    }
    List<Pod> computePods = informer(pods, endpoint).getIndexer().byIndex(BY_ENDPOINT, endpoint);
    for (Pod pod : computePods) {
      Optional<ComputeState.Running> running = running(pod);
      if (running.isPresent()) {
        return running.get();
      }
    }
    if (e.getStatus() != null && e.getStatus().getPhase() == EndpointPhase.Failed) {
      // A compute that crash-loops, or whose Branch was replaced: waiting out the wake timeout would not help.
      String why = e.getStatus().getConditions() == null ? null : e.getStatus().getConditions().stream()
          .filter(c -> Condition.STALLED.equals(c.getType()) && "True".equals(c.getStatus()) && c.getMessage() != null)
          .map(Condition::getMessage).findFirst().orElse(null);
      return new ComputeState.Refused("endpoint " + endpoint + " has failed" + (why == null ? "" : ": " + why),
          "see its status: kubectl describe endpoints.arbor.dev " + name + " -n " + namespace);
    }
    // A pod whose compute started but that the kubelet's probe has not marked Ready yet: someone waits, so ask its agent.
    for (Pod pod : computePods) {
      Optional<ComputeState.Running> compute = ready(pod) ? Optional.empty() : compute(pod);
      if (compute.isPresent() && compute.get().agent() != null && readyPolls.answered(endpoint, pod, compute.get().agent())) {
        return compute.get();
      }
    }
    return new ComputeState.Starting();
  }

  /** Whether a person suspended the Endpoint ({@code spec.suspended: true}): connections do not wake it. */
  static boolean suspendedBySpec(Endpoint e) {
    return e.getSpec() != null && Boolean.TRUE.equals(e.getSpec().getSuspended());
  }

  /** What a client of an Endpoint suspended by {@code spec.suspended: true} is told, and how to resume it. */
  static ComputeState.Refused suspendedBySpecRefusal(Endpoint e) {
    String namespace = e.getMetadata().getNamespace();
    String name = e.getMetadata().getName();
    return new ComputeState.Refused("endpoint " + key(namespace, name) + " is suspended by spec.suspended: true; connections do not wake it",
        "resume it with: kubectl patch endpoints.arbor.dev " + name + " -n " + namespace
            + " --type merge -p '{\"spec\":{\"suspended\":false}}'");
  }

  /** The compute in {@code pod} when the pod is Ready, has an IP and a {@code postgres} port, and is not being deleted. */
  static Optional<ComputeState.Running> running(Pod pod) {
    return ready(pod) ? compute(pod) : Optional.empty();
  }

  /** Whether the pod's Ready condition is True. */
  static boolean ready(Pod pod) {
    return pod.getStatus() != null && pod.getStatus().getConditions() != null && pod.getStatus().getConditions().stream()
        .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
  }

  /** Where the compute in {@code pod} listens, Ready or not, when the pod has an IP and a {@code postgres} port and is not being deleted. */
  private static Optional<ComputeState.Running> compute(Pod pod) {
    return pod.getMetadata().getDeletionTimestamp() != null ? Optional.empty() : at(pod);
  }

  /** Where the compute in {@code pod} listens when the pod has an IP and a {@code postgres} port, being deleted or not. */
  static Optional<ComputeState.Running> at(Pod pod) {
    if (pod.getStatus() == null) {
      return Optional.empty();
    }
    String ip = pod.getStatus().getPodIP();
    if (ip == null || ip.isEmpty()) {
      return Optional.empty();
    }
    Map<String, Integer> ports = new HashMap<>();
    pod.getSpec().getContainers().forEach(c -> {
      if (c.getPorts() != null) {
        for (ContainerPort p : c.getPorts()) {
          if (p.getName() != null) {
            ports.putIfAbsent(p.getName(), p.getContainerPort());
          }
        }
      }
    });
    Integer postgres = ports.get(ComputePods.POSTGRES_PORT);
    if (postgres == null) {
      log.warn("event=compute_pod_without_port pod={}/{} port={}", pod.getMetadata().getNamespace(),
          pod.getMetadata().getName(), ComputePods.POSTGRES_PORT);
      return Optional.empty();
    }
    Integer http = ports.get(ComputePods.HTTP_PORT);
    URI agent = http == null ? null : URI.create("http://" + (ip.contains(":") ? "[" + ip + "]" : ip) + ":" + http);
    return Optional.of(new ComputeState.Running(new InetSocketAddress(ip, postgres), agent));
  }

  @Override
  public void wake(String endpoint) throws WakeRefusedException {
    int slash = endpoint.indexOf('/');
    String namespace = endpoint.substring(0, slash);
    String name = endpoint.substring(slash + 1);
    String patch = "{\"metadata\":{\"annotations\":{\"" + EndpointWake.REQUESTED_AT + "\":\"" + Instant.now() + "\"}}}";
    try {
      Endpoint patched = client.resources(Endpoint.class).inNamespace(namespace).withName(name)
          .patch(PatchContext.of(PatchType.JSON_MERGE), patch);
      if (patched == null) {
        throw new WakeRefusedException("there is no Endpoint " + endpoint);
      }
      log.info("event=wake_annotated endpoint={} annotation={}", endpoint, EndpointWake.REQUESTED_AT);
    } catch (KubernetesClientException e) {
      String reason = e.getCode() == 404 ? "there is no Endpoint " + endpoint
          : "the proxy cannot ask the operator to wake endpoint " + endpoint + ": " + (e.getStatus() != null
              && e.getStatus().getMessage() != null ? e.getStatus().getMessage() : e.getMessage());
      throw new WakeRefusedException(reason);
    }
  }

  @Override
  public void connected(String endpoint, ComputeState.Running compute) {
    if (compute.agent() == null) {
      return;
    }
    try {
      new ComputeAgentClient(compute.agent().toString(), TOUCH_TIMEOUT, RetryPolicy.NONE).touch();
    } catch (IOException | RuntimeException e) {
      log.debug("event=touch_failed endpoint={} agent={} error=\"{}\"", endpoint, compute.agent(), e.getMessage());
    }
  }

  @Override
  public void close() {
    readyPolls.close();
    endpoints.values().forEach(SharedIndexInformer::close);
    pods.values().forEach(SharedIndexInformer::close);
  }

  /** Opens, moves and closes the proxy's listeners as Endpoints get, change and lose their proxy port. */
  private static final class Listeners implements ResourceEventHandler<Endpoint> {
    private final ProxyServer proxy;
    private final String bindHost;
    /** The port each Endpoint's listener is bound to. */
    private final Map<String, Integer> listening = new HashMap<>();

    Listeners(ProxyServer proxy, String bindHost) {
      this.proxy = proxy;
      this.bindHost = bindHost;
    }

    @Override
    public void onAdd(Endpoint e) {
      update(e, proxyPort(e));
    }

    @Override
    public void onUpdate(Endpoint old, Endpoint e) {
      update(e, proxyPort(e));
    }

    @Override
    public void onDelete(Endpoint e, boolean deletedFinalStateUnknown) {
      update(e, null);
    }

    private static Integer proxyPort(Endpoint e) {
      return e.getStatus() == null ? null : e.getStatus().getProxyPort();
    }

    private synchronized void update(Endpoint e, Integer port) {
      String endpoint = key(e.getMetadata().getNamespace(), e.getMetadata().getName());
      Integer current = listening.get(endpoint);
      if (Objects.equals(current, port)) {
        return;
      }
      if (current != null) {
        proxy.unlisten(endpoint);
        listening.remove(endpoint);
      }
      if (port == null) {
        return;
      }
      try {
        proxy.listen(endpoint, new InetSocketAddress(bindHost, port));
        listening.put(endpoint, port);
      } catch (IOException | IllegalStateException ex) {
        // Tried again on the Endpoint's next change (the operator allocates each port once in the cluster).
        log.warn("event=listen_failed endpoint={} port={} error=\"{}\"", endpoint, port, ex.getMessage());
      }
    }
  }
}

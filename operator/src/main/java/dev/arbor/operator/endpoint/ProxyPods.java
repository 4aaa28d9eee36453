package dev.arbor.operator.endpoint;

import dev.arbor.crds.v1alpha1.Endpoint;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.javaoperatorsdk.operator.OperatorException;
import io.javaoperatorsdk.operator.processing.event.Event;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.AbstractEventSource;
import io.javaoperatorsdk.operator.processing.event.source.IndexerResourceCache;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * The arbor-proxy pods (label-selected in one namespace) as the addresses every Endpoint's EndpointSlice lists. An event
 * source of the Endpoint controller, so that it runs only on the leader: when the addresses change (a proxy pod comes,
 * goes, gets or loses its IP or readiness; not on every status write of a pod), every Endpoint that has a proxy port
 * is reconciled, and its reconcile writes its slice from {@link #addresses()}. JOSDK reconciles one Endpoint at a time,
 * so a slice written from an older view is written again after the change.
 */
final class ProxyPods extends AbstractEventSource<ProxyPods.Addresses, Endpoint> implements ResourceEventHandler<Pod> {
  private static final Logger log = Logger.getLogger(ProxyPods.class);

  /** One proxy pod as an EndpointSlice endpoint. */
  record Address(String ip, boolean ready, boolean terminating, String namespace, String pod, String uid) {}

  /** The proxy pods that have an IP, by IP. */
  record Addresses(List<Address> all) {
    long ready() {
      return all.stream().filter(Address::ready).count();
    }
  }

  private final KubernetesClient client;
  private final String namespace;
  private final String selector;
  private final IndexerResourceCache<Endpoint> endpoints;
  private volatile SharedIndexInformer<Pod> informer;
  private static final Addresses NONE = new Addresses(List.of());
  /** Null until the first look, so that the first one is logged, none ready included. */
  private volatile Addresses current;

  ProxyPods(KubernetesClient client, String namespace, String selector, IndexerResourceCache<Endpoint> endpoints) {
    super(Addresses.class, "proxy-pods");
    this.client = client;
    this.namespace = namespace;
    this.selector = selector;
    this.endpoints = endpoints;
  }

  String namespace() {
    return namespace;
  }

  String selector() {
    return selector;
  }

  Addresses addresses() {
    Addresses a = current;
    return a == null ? NONE : a;
  }

  @Override
  public Set<Addresses> getSecondaryResources(Endpoint primary) {
    return Set.of(addresses());
  }

  @Override
  public void start() throws OperatorException {
    informer = client.pods().inNamespace(namespace).withLabelSelector(selector).runnableInformer(0);
    informer.addEventHandler(this);
    try {
      informer.start().toCompletableFuture().get(2, TimeUnit.MINUTES);
    } catch (Exception e) {
      throw new OperatorException("cannot watch the proxy pods (" + selector + ") in namespace " + namespace, e);
    }
    refresh();
    super.start();
  }

  @Override
  public void stop() throws OperatorException {
    if (informer != null) {
      informer.close();
    }
    super.stop();
  }

  @Override
  public void onAdd(Pod pod) {
    refresh();
  }

  @Override
  public void onUpdate(Pod before, Pod after) {
    refresh();
  }

  @Override
  public void onDelete(Pod pod, boolean finalStateUnknown) {
    refresh();
  }

  private synchronized void refresh() {
    Addresses next = new Addresses(informer.getStore().list().stream().map(ProxyPods::address).filter(Objects::nonNull)
        .sorted(Comparator.comparing(Address::ip)).toList());
    if (next.equals(current)) {
      return;
    }
    current = next;
    log.infof("event=proxy_pods_changed namespace=%s ready=%d listed=%d", namespace, next.ready(), next.all().size());
    if (next.ready() == 0) {
      log.warnf("event=proxy_pods_none_ready namespace=%s selector=%s detail=\"Endpoint Services have no ready proxy pod "
          + "behind them: clients cannot connect until one is ready\"", namespace, selector);
    }
    if (isRunning()) {
      endpoints.list().filter(e -> e.getStatus() != null && e.getStatus().getProxyPort() != null)
          .forEach(e -> getEventHandler().handleEvent(new Event(ResourceID.fromResource(e))));
    }
  }

  /** A pod with an IP as a slice lists it: ready when its Ready condition is True and it is not being deleted. */
  static Address address(Pod pod) {
    String ip = pod.getStatus() == null ? null : pod.getStatus().getPodIP();
    if (ip == null || ip.isEmpty()) {
      return null;
    }
    boolean terminating = pod.getMetadata().getDeletionTimestamp() != null;
    boolean ready = !terminating && pod.getStatus().getConditions().stream()
        .anyMatch((PodCondition c) -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    return new Address(ip, ready, terminating, pod.getMetadata().getNamespace(), pod.getMetadata().getName(),
        pod.getMetadata().getUid());
  }
}

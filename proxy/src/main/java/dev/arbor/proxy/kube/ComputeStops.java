package dev.arbor.proxy.kube;

import dev.arbor.crds.v1alpha1.ComputePods;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import dev.arbor.crds.v1alpha1.EndpointStatus;
import dev.arbor.proxy.ComputeState;
import dev.arbor.proxy.ProxyServer;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.function.Function;

/**
 * Ends the proxy's open connections to a compute that stops, each with a FATAL ErrorResponse ({@code 57P01}) that says
 * why and what to do ({@link ProxyServer#closeConnections}), rather than leaving the client PostgreSQL's own "terminating
 * connection due to administrator command":
 * <ul>
 *   <li>an Endpoint that turns suspended ({@code spec.suspended: true}, or the operator's idle suspend: {@code
 *       status.phase} Suspended) loses all its connections;</li>
 *   <li>a compute pod that is being deleted ({@code deletionTimestamp}, or gone) loses the connections to that pod.</li>
 * </ul>
 * Connections still being set up or held for a wake stay: they wait for the compute, or wake it.
 */
final class ComputeStops {
  private final ProxyServer proxy;
  /** The Endpoint NAMESPACE/NAME from the informer's cache, or null. */
  private final Function<String, Endpoint> endpoints;

  ComputeStops(ProxyServer proxy, Function<String, Endpoint> endpoints) {
    this.proxy = proxy;
    this.endpoints = endpoints;
  }

  /** Follows Endpoints: the change to suspended closes the Endpoint's connections. */
  ResourceEventHandler<Endpoint> endpointHandler() {
    return new ResourceEventHandler<>() {
      @Override
      public void onAdd(Endpoint e) {
        // A proxy that starts has no connections yet.
      }

      @Override
      public void onUpdate(Endpoint old, Endpoint e) {
        if (!suspended(old) && suspended(e)) {
          close(e, null);
        }
      }

      @Override
      public void onDelete(Endpoint e, boolean deletedFinalStateUnknown) {
        // Its pods go too; their deletion closes the connections.
      }
    };
  }

  /** Follows compute pods: a pod that is being deleted, or is gone, closes the connections to it. */
  ResourceEventHandler<Pod> podHandler() {
    return new ResourceEventHandler<>() {
      @Override
      public void onAdd(Pod pod) {
        // Nothing connects to a pod before the proxy knows it.
      }

      @Override
      public void onUpdate(Pod old, Pod pod) {
        if (old.getMetadata().getDeletionTimestamp() == null && pod.getMetadata().getDeletionTimestamp() != null) {
          stopping(pod);
        }
      }

      @Override
      public void onDelete(Pod pod, boolean deletedFinalStateUnknown) {
        if (pod.getMetadata().getDeletionTimestamp() == null) { // else its deletionTimestamp already closed them
          stopping(pod);
        }
      }
    };
  }

  /** Suspended by a person ({@code spec.suspended}) or by the operator for idleness ({@code status.phase}, {@code status.suspendedAt}). */
  static boolean suspended(Endpoint e) {
    EndpointStatus s = e.getStatus();
    return KubeComputes.suspendedBySpec(e) || (s != null && (s.getPhase() == EndpointPhase.Suspended || s.getSuspendedAt() != null));
  }

  private void stopping(Pod pod) {
    var compute = KubeComputes.at(pod).map(ComputeState.Running::postgres);
    String label = pod.getMetadata().getLabels() == null ? null : pod.getMetadata().getLabels().get(ComputePods.ENDPOINT_LABEL);
    if (compute.isEmpty() || label == null) {
      return; // never had an address: nothing connected to it
    }
    String endpoint = KubeComputes.key(pod.getMetadata().getNamespace(), label);
    Endpoint e = endpoints.apply(endpoint);
    if (e != null && suspended(e)) {
      close(e, compute.get());
    } else {
      proxy.closeConnections(endpoint, compute.get(), "the compute of endpoint " + endpoint + " is stopping: its pod "
          + pod.getMetadata().getName() + " is being deleted", "reconnect: the proxy holds a new connection until the "
          + "Endpoint's compute runs again, and wakes it if it was suspended for idleness");
    }
  }

  private void close(Endpoint e, InetSocketAddress compute) {
    String endpoint = KubeComputes.key(e.getMetadata().getNamespace(), e.getMetadata().getName());
    if (KubeComputes.suspendedBySpec(e)) {
      ComputeState.Refused why = KubeComputes.suspendedBySpecRefusal(e);
      proxy.closeConnections(endpoint, compute, why.reason(), why.hint());
    } else {
      proxy.closeConnections(endpoint, compute, ProxyServer.idleSuspendReason(endpoint, idle(e.getStatus())), ProxyServer.WAKE_HINT);
    }
  }

  /** How long the compute was idle when the operator suspended it ({@code suspendedAt - lastActive}); null when the status does not say. */
  static Duration idle(EndpointStatus s) {
    if (s == null || s.getSuspendedAt() == null || s.getLastActive() == null) {
      return null;
    }
    try {
      Duration idle = Duration.between(Instant.parse(s.getLastActive()), Instant.parse(s.getSuspendedAt()));
      return idle.isNegative() ? null : idle;
    } catch (DateTimeParseException e) {
      return null;
    }
  }
}

package dev.arbor.operator.status;

import dev.arbor.crds.v1alpha1.ArborStatus;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.operator.kube.KubeEvents;
import dev.arbor.operator.storage.StorageEngineUnavailableException;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import jakarta.enterprise.context.ApplicationScoped;
import java.io.IOException;
import java.util.Objects;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * The one place a status is finished: the outcome becomes the conditions, the patch is skipped when nothing
 * changed, and a change of the Ready reason is logged and recorded as a Kubernetes Event.
 */
@ApplicationScoped
public class StatusUpdates {
  private static final Logger log = Logger.getLogger(StatusUpdates.class);
  private final KubeEvents events;
  private final KubernetesClient client;

  public StatusUpdates(KubeEvents events, KubernetesClient client) {
    this.events = events;
    this.client = client;
  }

  /** A copy of the current status to build the next one from (a fresh status when there is none). */
  @SuppressWarnings("unchecked")
  public static <S extends ArborStatus> S copy(S status, Supplier<S> fresh) {
    if (status == null) {
      return fresh.get();
    }
    return (S) Serialization.unmarshal(Serialization.asJson(status), status.getClass());
  }

  /**
   * The outcome of a failed reconcile. Outages (the storage engine, the API server, a conflict with another
   * writer) pass by themselves: they are retried with backoff and keep a Ready the object had. A request the
   * Kubernetes API refuses (a 4xx other than 409 and 429: invalid, forbidden, denied by admission) needs a person:
   * it is Stalled, naming what was refused and why, and still retried in case that person fixes it elsewhere
   * (RBAC, a quota). These are one log line each; anything else is a bug worth its stack trace.
   */
  public Outcome failure(HasMetadata resource, Exception e) {
    // JOSDK hands the reconciler's exception over wrapped (OperatorException).
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof StorageEngineUnavailableException) {
        return Outcome.retrying("StorageEngineUnavailable", t.getMessage() + "; retrying with backoff");
      }
      if (t instanceof KubernetesClientException k && k.getCode() > 0) {
        int code = k.getCode();
        String apiMessage = k.getStatus() != null && k.getStatus().getMessage() != null ? k.getStatus().getMessage() : k.getMessage();
        if (code >= 400 && code < 500 && code != 409 && code != 429) {
          log.warnf("event=kubernetes_api_refused kind=%s namespace=%s name=%s status=%d error=\"%s\"", resource.getKind(),
              resource.getMetadata().getNamespace(), resource.getMetadata().getName(), code, apiMessage);
          return Outcome.stalled("KubernetesApiRefused", "the Kubernetes API refused " + refused(k) + " (HTTP " + code + "): "
              + apiMessage + "; fix what it names (RBAC, quota, admission policy, the object's name); retried with backoff");
        }
        log.infof("event=kubernetes_api_retry kind=%s namespace=%s name=%s status=%d error=\"%s\"", resource.getKind(),
            resource.getMetadata().getNamespace(), resource.getMetadata().getName(), code, apiMessage);
        return Outcome.retrying(code == 409 ? "KubernetesApiConflict" : "KubernetesApiUnavailable", "the Kubernetes API answered "
            + code + " to a change of " + refused(k) + ": " + apiMessage + "; retrying with backoff");
      }
      if (t instanceof IOException) {
        log.infof("event=reconcile_retry kind=%s namespace=%s name=%s error=\"%s\"", resource.getKind(),
            resource.getMetadata().getNamespace(), resource.getMetadata().getName(), t);
        return Outcome.retrying("KubernetesApiUnavailable", "cannot reach the Kubernetes API (" + t + "); retrying with backoff");
      }
    }
    log.warnf(e, "event=reconcile_failed kind=%s namespace=%s name=%s error=\"%s\"", resource.getKind(),
        resource.getMetadata().getNamespace(), resource.getMetadata().getName(), e.getMessage());
    return Outcome.reconciling("ReconcileError", e.getClass().getSimpleName() + ": " + e.getMessage() + "; retrying with backoff");
  }

  /** What a refused request was about, as far as the API's answer or the client tells: "secrets name". */
  private static String refused(KubernetesClientException k) {
    var details = k.getStatus() == null ? null : k.getStatus().getDetails();
    String kind = details != null && details.getKind() != null ? details.getKind() : k.getResourcePlural();
    String name = details != null && details.getName() != null ? details.getName() : k.getName();
    if (kind == null) {
      return "a request";
    }
    return kind + (name == null ? "" : " " + name);
  }

  /** Applies the outcome and returns the control that patches the status only when it changed. */
  public <S extends ArborStatus, P extends CustomResource<?, S>> UpdateControl<P> finish(P resource, S next, Outcome outcome) {
    return changed(resource, next, outcome) ? UpdateControl.patchStatus(resource) : UpdateControl.noUpdate();
  }

  /**
   * For cleanup, where JOSDK patches nothing: applies the outcome and patches the status directly (a merge
   * patch of the status alone, no resourceVersion, so it does not race the user's edits of the spec).
   */
  public <S extends ArborStatus, P extends CustomResource<?, S>> void patchNow(P resource, S next, Outcome outcome) {
    if (changed(resource, next, outcome)) {
      @SuppressWarnings("unchecked")
      P lean = (P) Serialization.unmarshal(Serialization.asJson(resource), resource.getClass());
      lean.getMetadata().setResourceVersion(null);
      client.resource(lean).patchStatus();
    }
  }

  private <S extends ArborStatus, P extends CustomResource<?, S>> boolean changed(P resource, S next, Outcome outcome) {
    S before = resource.getStatus();
    Conditions.apply(next, resource.getMetadata().getGeneration() == null ? 0 : resource.getMetadata().getGeneration(), outcome);
    if (before != null && Serialization.asJson(before).equals(Serialization.asJson(next))) {
      return false;
    }
    if (!Objects.equals(headline(before), outcome.reason())) {
      log.infof("event=status_changed kind=%s namespace=%s name=%s state=%s reason=%s message=\"%s\"", resource.getKind(),
          resource.getMetadata().getNamespace(), resource.getMetadata().getName(), outcome.state(), outcome.reason(), outcome.message());
      if (outcome.state() == Outcome.State.STALLED || outcome.state() == Outcome.State.HELD) {
        events.warning(resource, outcome.reason(), outcome.message());
      } else {
        events.normal(resource, outcome.reason(), outcome.message());
      }
    }
    resource.setStatus(next);
    return true;
  }

  /** The reason the status shows first: what is being retried, waited for or held, else why it is (not) Ready. */
  private static String headline(ArborStatus status) {
    return Conditions.find(status, Condition.RECONCILING).filter(c -> "True".equals(c.getStatus()))
        .or(() -> Conditions.find(status, Condition.STALLED).filter(c -> "True".equals(c.getStatus())))
        .or(() -> Conditions.find(status, Condition.READY)).map(Condition::getReason).orElse(null);
  }
}

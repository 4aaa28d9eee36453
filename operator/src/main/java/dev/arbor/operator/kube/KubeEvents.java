package dev.arbor.operator.kube;

import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.ThreadLocalRandom;
import org.jboss.logging.Logger;

/**
 * Kubernetes Events for the transitions a person wants in {@code kubectl describe} and {@code kubectl get
 * events}: tenant and timeline created or deleted, a deletion held, a conflict, the storage engine unreachable.
 * An event that cannot be recorded is logged and otherwise ignored: it must never fail a reconcile.
 */
@ApplicationScoped
public class KubeEvents {
  private static final Logger log = Logger.getLogger(KubeEvents.class);
  private final KubernetesClient client;

  public KubeEvents(KubernetesClient client) {
    this.client = client;
  }

  public void normal(HasMetadata object, String reason, String message) {
    record(object, "Normal", reason, message);
  }

  public void warning(HasMetadata object, String reason, String message) {
    record(object, "Warning", reason, message);
  }

  private void record(HasMetadata object, String type, String reason, String message) {
    String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
    var event = new EventBuilder()
        .withNewMetadata()
        .withName(object.getMetadata().getName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()))
        .withNamespace(object.getMetadata().getNamespace())
        .endMetadata()
        .withNewInvolvedObject()
        .withApiVersion(object.getApiVersion())
        .withKind(object.getKind())
        .withName(object.getMetadata().getName())
        .withNamespace(object.getMetadata().getNamespace())
        .withUid(object.getMetadata().getUid())
        .endInvolvedObject()
        .withType(type)
        .withReason(reason)
        .withMessage(message)
        .withFirstTimestamp(now)
        .withLastTimestamp(now)
        .withCount(1)
        .withNewSource().withComponent(Labels.OPERATOR).endSource()
        .withReportingComponent("arbor.dev/operator")
        .build();
    try {
      client.v1().events().inNamespace(object.getMetadata().getNamespace()).resource(event).create();
    } catch (KubernetesClientException e) {
      log.infof("event=kube_event_not_recorded object=%s/%s reason=%s error=\"%s\"", object.getKind(), object.getMetadata().getName(),
          reason, e.getMessage());
    }
  }
}

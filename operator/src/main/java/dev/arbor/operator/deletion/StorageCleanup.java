package dev.arbor.operator.deletion;

import dev.arbor.crds.v1alpha1.ArborStatus;
import dev.arbor.crds.v1alpha1.DeletionPolicy;
import dev.arbor.operator.kube.KubeEvents;
import dev.arbor.operator.status.Outcome;
import dev.arbor.operator.status.StatusUpdates;
import dev.arbor.operator.storage.StorageEngineUnavailableException;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.KubernetesClientException;
import jakarta.enterprise.context.ApplicationScoped;
import org.jboss.logging.Logger;

/**
 * What a finalizer does about the storage of the object it guards (a Project's tenant, a Branch's timeline): keep it
 * when the object says so, and make a delete that fails visible on the object. JOSDK shapes no status for a failing
 * cleanup, so without this a Branch stuck Terminating keeps its stale Ready=True and nothing says why.
 */
@ApplicationScoped
public class StorageCleanup {
  /** The escape hatch: the finalizer lets the object go without calling the storage engine (which may be gone). */
  public static final String SKIP_ANNOTATION = "arbor.dev/skip-storage-cleanup";
  private static final Logger log = Logger.getLogger(StorageCleanup.class);

  private final StatusUpdates statuses;
  private final KubeEvents events;

  public StorageCleanup(StatusUpdates statuses, KubeEvents events) {
    this.statuses = statuses;
    this.events = events;
  }

  /**
   * True when the storage ({@code what}, e.g. "tenant 0a1b...") is to be left as it is, said in a log line and an
   * Event: the object carries the escape annotation, or its spec.deletionPolicy is Retain.
   */
  public boolean keeps(HasMetadata object, DeletionPolicy policy, String what) {
    String id = object.getKind() + " " + object.getMetadata().getNamespace() + "/" + object.getMetadata().getName();
    if (skipsStorageCleanup(object)) {
      log.infof("event=storage_left kind=%s namespace=%s name=%s reason=skip_storage_cleanup storage=\"%s\"", object.getKind(),
          object.getMetadata().getNamespace(), object.getMetadata().getName(), what);
      events.warning(object, "StorageLeft", id + " is deleted without calling the storage engine (annotation " + SKIP_ANNOTATION
          + "): " + what + " is left as it is");
      return true;
    }
    if (policy == DeletionPolicy.Retain) {
      log.infof("event=storage_retained kind=%s namespace=%s name=%s storage=\"%s\"", object.getKind(),
          object.getMetadata().getNamespace(), object.getMetadata().getName(), what);
      events.normal(object, "StorageRetained", "spec.deletionPolicy is Retain: kept " + what + " in the storage engine");
      return true;
    }
    return false;
  }

  public static boolean skipsStorageCleanup(HasMetadata object) {
    var annotations = object.getMetadata().getAnnotations();
    return annotations != null && "true".equals(annotations.get(SKIP_ANNOTATION));
  }

  /**
   * A delete of {@code what} that failed: the object's status says so (Ready False, reason StorageEngineUnavailable
   * or CleanupFailed, the message naming the escape annotation), one log line, and the exception to rethrow, so
   * that JOSDK retries with backoff.
   */
  public <S extends ArborStatus, P extends CustomResource<?, S>> RuntimeException failed(P resource, S status, String what,
      RuntimeException e) {
    boolean unavailable = e instanceof StorageEngineUnavailableException;
    String reason = unavailable ? "StorageEngineUnavailable" : "CleanupFailed";
    String error = unavailable ? e.getMessage() : e.getClass().getSimpleName() + ": " + e.getMessage();
    log.infof("event=cleanup_failed kind=%s namespace=%s name=%s reason=%s storage=\"%s\" error=\"%s\"", resource.getKind(),
        resource.getMetadata().getNamespace(), resource.getMetadata().getName(), reason, what, error);
    try {
      statuses.patchNow(resource, status, Outcome.reconciling(reason, "deletion waits: could not delete " + what + ": " + error
          + "; retrying with backoff. If the storage engine is gone for good, annotate this " + resource.getKind() + " "
          + SKIP_ANNOTATION + "=true to let it go and leave its storage as it is"));
    } catch (KubernetesClientException k) {
      log.infof("event=status_not_patched kind=%s namespace=%s name=%s error=\"%s\"", resource.getKind(),
          resource.getMetadata().getNamespace(), resource.getMetadata().getName(), k.getMessage());
    }
    return e;
  }
}

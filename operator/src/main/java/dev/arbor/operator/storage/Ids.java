package dev.arbor.operator.storage;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.Locale;

/**
 * Storage-engine ids derived from Kubernetes UIDs (a UUID without its dashes is 32 hex digits). The id is
 * known before the create call and is the same on every attempt, so an operator that dies between creating a
 * tenant or timeline and recording it in the status finds the same one again: no duplicates, no leaks. A
 * re-created object has a new UID and so gets a new tenant or timeline, as it should.
 *
 * <p>Disaster recovery is the exception: a Project annotated {@value #TENANT_ID} or a Branch annotated
 * {@value #TIMELINE_ID} adopts that existing tenant or timeline instead (the reconcilers verify it against the
 * storage engine and never create an id they did not derive themselves).
 */
public final class Ids {
  /** On a Project: adopt this existing tenant instead of the one derived from the UID. */
  public static final String TENANT_ID = "arbor.dev/tenant-id";
  /** On a non-root Branch: adopt this existing timeline instead of the one derived from the UID. */
  public static final String TIMELINE_ID = "arbor.dev/timeline-id";

  private Ids() {}

  public static TenantId tenantOf(HasMetadata project) {
    return new TenantId(hex(project));
  }

  public static TimelineId timelineOf(HasMetadata branch) {
    return new TimelineId(hex(branch));
  }

  /** The value of an adoption annotation ({@link #TENANT_ID}, {@link #TIMELINE_ID}), or null when it is absent. */
  public static String adoption(HasMetadata object, String annotation) {
    var annotations = object.getMetadata().getAnnotations();
    return annotations == null ? null : annotations.get(annotation);
  }

  private static String hex(HasMetadata object) {
    String uid = object.getMetadata().getUid();
    if (uid == null) {
      throw new IllegalStateException(object.getKind() + " " + object.getMetadata().getName() + " has no UID yet");
    }
    return uid.replace("-", "").toLowerCase(Locale.ROOT);
  }
}

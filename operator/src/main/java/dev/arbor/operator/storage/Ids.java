package dev.arbor.operator.storage;

import dev.arbor.storage.id.TenantId;
import dev.arbor.storage.id.TimelineId;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.Locale;

/**
 * Storage-engine ids derived from Kubernetes UIDs (a UUID without its dashes is 32 hex digits). The id is
 * known before the create call and is the same on every attempt, so an operator that dies between creating a
 * tenant or timeline and recording it in the status finds the same one again: no duplicates, no leaks. A
 * re-created object has a new UID and so gets a new tenant or timeline, as it should.
 */
public final class Ids {
  private Ids() {}

  public static TenantId tenantOf(HasMetadata project) {
    return new TenantId(hex(project));
  }

  public static TimelineId timelineOf(HasMetadata branch) {
    return new TimelineId(hex(branch));
  }

  private static String hex(HasMetadata object) {
    String uid = object.getMetadata().getUid();
    if (uid == null) {
      throw new IllegalStateException(object.getKind() + " " + object.getMetadata().getName() + " has no UID yet");
    }
    return uid.replace("-", "").toLowerCase(Locale.ROOT);
  }
}

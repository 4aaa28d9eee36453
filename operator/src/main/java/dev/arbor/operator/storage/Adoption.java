package dev.arbor.operator.storage;

import dev.arbor.operator.deletion.StorageCleanup;
import dev.arbor.operator.status.Outcome;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * The checks on an adoption annotation ({@link Ids#TENANT_ID}, {@link Ids#TIMELINE_ID}) that need no storage engine:
 * it is a well-formed id, it does not change the id the object already uses, and no other object of this cluster
 * (as far as the watched namespaces show) has that id in its status. The storage engine's own check (the id exists)
 * is the reconciler's.
 */
public final class Adoption {
  private Adoption() {}

  /**
   * The refusal of {@code adoption} on {@code object}, or null when there is none (also when there is no annotation).
   *
   * @param kind what the id names: "tenant" or "timeline"
   * @param recorded the id in the object's status, or null
   * @param wellFormed whether {@code adoption} has the form of such an id
   * @param all every object of the object's kind in the watched namespaces
   * @param recordedOf the id in another object's status, or null
   */
  public static <T extends HasMetadata> Outcome refusal(T object, String annotation, String adoption, String kind, String recorded,
      boolean wellFormed, Stream<T> all, Function<T, String> recordedOf) {
    if (adoption == null) {
      return null;
    }
    String type = object.getKind();
    if (!wellFormed) {
      return Outcome.stalled("InvalidAdoptionAnnotation", "annotation " + annotation + " is \"" + adoption + "\", not a " + kind
          + " id (32 lowercase hex digits, as in status." + kind + "Id); fix or remove it");
    }
    if (recorded != null && !recorded.equals(adoption)) {
      return Outcome.stalled("AdoptionAnnotationChanged", "annotation " + annotation + " names " + kind + " " + adoption + " but this "
          + type + " uses " + kind + " " + recorded + ", which cannot change; set the annotation back or remove it (to use " + kind + " "
          + adoption + ", create a new " + type + " with the annotation)");
    }
    return all.filter(o -> !o.getMetadata().getUid().equals(object.getMetadata().getUid()) && adoption.equals(recordedOf.apply(o)))
        .findFirst()
        .map(o -> Outcome.stalled("AdoptionTargetInUse", "annotation " + annotation + " names " + kind + " " + adoption + ", which " + type
            + " " + o.getMetadata().getNamespace() + "/" + o.getMetadata().getName() + " uses; two " + type + "s cannot share a " + kind
            + ": delete that " + type + " first (with spec.deletionPolicy Retain or the " + StorageCleanup.SKIP_ANNOTATION
            + " annotation to keep the " + kind + "), or remove the annotation"))
        .orElse(null);
  }
}

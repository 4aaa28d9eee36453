package dev.arbor.operator.status;

import dev.arbor.crds.v1alpha1.ArborStatus;
import dev.arbor.crds.v1alpha1.Condition;
import io.fabric8.kubernetes.client.CustomResource;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Writes an {@link Outcome} into a status as the three kstatus conditions. A condition keeps its
 * lastTransitionTime while its status stays the same, so an unchanged outcome gives an equal status and no patch.
 * A {@link Outcome.State#RETRYING} outcome leaves a Ready=True of the current generation as it was (reason and
 * message too) and sets Reconciling=True with its own reason: kstatus reads that as "in progress" while the
 * object keeps working; without such a Ready it is Ready=False with the outcome's reason. A {@link Outcome.State#HELD}
 * outcome (a deletion waiting for a person) keeps a Ready=True of any generation, stamped with the current one
 * (the deletion itself raises the generation, and an object in deletion is not reconciled for its spec again: its
 * data is what it was), and sets Stalled=True with the hold's reason; without such a Ready it is Ready=False.
 */
public final class Conditions {
  private Conditions() {}

  public static void apply(ArborStatus status, long generation, Outcome outcome) {
    List<Condition> next = new ArrayList<>();
    boolean ready = outcome.state() == Outcome.State.READY;
    boolean reconciling = outcome.state() == Outcome.State.RECONCILING || outcome.state() == Outcome.State.RETRYING;
    boolean stalled = outcome.state() == Outcome.State.STALLED || outcome.state() == Outcome.State.HELD;
    Optional<Condition> keptReady = switch (outcome.state()) {
      case RETRYING -> find(status, Condition.READY).filter(c -> isTrueFor(c, generation));
      case HELD -> find(status, Condition.READY).filter(c -> "True".equals(c.getStatus()))
          .map(c -> new Condition(c.getType(), c.getStatus(), c.getReason(), c.getMessage(), c.getLastTransitionTime(), generation));
      default -> Optional.empty();
    };
    next.add(keptReady.orElseGet(() -> condition(status, Condition.READY, ready, outcome.reason(), outcome.message(), generation)));
    next.add(condition(status, Condition.RECONCILING, reconciling, outcome.reason(), reconciling ? outcome.message() : "", generation));
    next.add(condition(status, Condition.STALLED, stalled, outcome.reason(), stalled ? outcome.message() : "", generation));
    status.setConditions(next);
    status.setObservedGeneration(generation);
  }

  public static Optional<Condition> find(ArborStatus status, String type) {
    if (status == null || status.getConditions() == null) {
      return Optional.empty();
    }
    return status.getConditions().stream().filter(c -> type.equals(c.getType())).findFirst();
  }

  /**
   * True when the object's Ready condition is True for its current generation: after a spec edit, an object is
   * not Ready until it has been reconciled for the edit.
   */
  public static boolean isReady(CustomResource<?, ? extends ArborStatus> resource) {
    Long generation = resource.getMetadata().getGeneration();
    return find(resource.getStatus(), Condition.READY).filter(c -> isTrueFor(c, generation == null ? 0 : generation)).isPresent();
  }

  /** Whether the Ready condition (status, reason, generation) differs: what objects waiting on this one act on. */
  public static boolean readyChanged(ArborStatus before, ArborStatus after) {
    Optional<Condition> a = find(before, Condition.READY);
    Optional<Condition> b = find(after, Condition.READY);
    return !Objects.equals(a.map(Condition::getStatus), b.map(Condition::getStatus))
        || !Objects.equals(a.map(Condition::getReason), b.map(Condition::getReason))
        || !Objects.equals(a.map(Condition::getObservedGeneration), b.map(Condition::getObservedGeneration));
  }

  private static boolean isTrueFor(Condition c, long generation) {
    return "True".equals(c.getStatus()) && c.getObservedGeneration() != null && c.getObservedGeneration() == generation;
  }

  private static Condition condition(ArborStatus status, String type, boolean value, String reason, String message, long generation) {
    String text = value ? "True" : "False";
    String since = find(status, type).filter(c -> text.equals(c.getStatus())).map(Condition::getLastTransitionTime)
        .orElse(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
    return new Condition(type, text, reason, message, since, generation);
  }
}

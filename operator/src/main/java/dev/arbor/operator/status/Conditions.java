package dev.arbor.operator.status;

import dev.arbor.crds.v1alpha1.ArborStatus;
import dev.arbor.crds.v1alpha1.Condition;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Writes an {@link Outcome} into a status as the three kstatus conditions. A condition keeps its
 * lastTransitionTime while its status stays the same, so an unchanged outcome gives an equal status and no patch.
 */
public final class Conditions {
  private Conditions() {}

  public static void apply(ArborStatus status, long generation, Outcome outcome) {
    List<Condition> next = new ArrayList<>();
    boolean ready = outcome.state() == Outcome.State.READY;
    boolean reconciling = outcome.state() == Outcome.State.RECONCILING;
    boolean stalled = outcome.state() == Outcome.State.STALLED;
    next.add(condition(status, Condition.READY, ready, outcome.reason(), outcome.message(), generation));
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

  /** True when the object's Ready condition is True for its current generation. */
  public static boolean isReady(ArborStatus status) {
    return find(status, Condition.READY).map(c -> "True".equals(c.getStatus())).orElse(false);
  }

  private static Condition condition(ArborStatus status, String type, boolean value, String reason, String message, long generation) {
    String text = value ? "True" : "False";
    String since = find(status, type).filter(c -> text.equals(c.getStatus())).map(Condition::getLastTransitionTime)
        .orElse(Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
    return new Condition(type, text, reason, message, since, generation);
  }
}

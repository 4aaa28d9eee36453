package dev.arbor.operator.endpoint;

import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.apps.StatefulSetStatus;
import java.util.Objects;
import java.util.Optional;

/** What a compute's StatefulSet and pods say about it, read the way the StatefulSet controller reports them. */
final class ComputeStatus {
  /** Restarts after which a compute container that is not ready counts as crash-looping. */
  static final int FAILING_RESTARTS = 3;

  private ComputeStatus() {}

  /**
   * True when the StatefulSet controller has rolled out the current template and every wanted replica is ready:
   * it has seen the current generation, all replicas run the update revision, which is also the current one.
   * Before that, a ready pod may still be one of the previous template.
   */
  static boolean rolledOut(StatefulSet sts) {
    if (sts == null || sts.getStatus() == null) {
      return false;
    }
    StatefulSetStatus s = sts.getStatus();
    int wanted = sts.getSpec().getReplicas() == null ? 1 : sts.getSpec().getReplicas();
    long generation = sts.getMetadata().getGeneration() == null ? 0 : sts.getMetadata().getGeneration();
    return s.getObservedGeneration() != null && s.getObservedGeneration() >= generation
        && count(s.getUpdatedReplicas()) == wanted
        && Objects.equals(s.getCurrentRevision(), s.getUpdateRevision())
        && count(s.getReadyReplicas()) == wanted;
  }

  static int readyReplicas(StatefulSet sts) {
    return sts == null || sts.getStatus() == null ? 0 : count(sts.getStatus().getReadyReplicas());
  }

  /**
   * The Stalled message for a pod whose compute container keeps failing (not ready, and restarted at least
   * {@value #FAILING_RESTARTS} times or backing off), with its last termination; the restart count is left out
   * so that the message does not change with every restart.
   */
  static Optional<String> crashLoop(Pod pod) {
    if (pod.getStatus() == null || pod.getStatus().getContainerStatuses() == null) {
      return Optional.empty();
    }
    for (ContainerStatus c : pod.getStatus().getContainerStatuses()) {
      boolean backingOff = c.getState() != null && c.getState().getWaiting() != null
          && "CrashLoopBackOff".equals(c.getState().getWaiting().getReason());
      if (Boolean.TRUE.equals(c.getReady()) || !(backingOff || count(c.getRestartCount()) >= FAILING_RESTARTS)) {
        continue;
      }
      ContainerStateTerminated last = c.getLastState() == null ? null : c.getLastState().getTerminated();
      String exit = last == null ? "no termination was recorded"
          : "it last exited with code " + last.getExitCode() + (last.getReason() == null ? "" : " (" + last.getReason() + ")")
              + (last.getMessage() == null || last.getMessage().isBlank() ? "" : ": " + last.getMessage().strip());
      return Optional.of("the compute container of pod " + pod.getMetadata().getName() + " keeps failing; " + exit
          + ". Fix the cause (e.g. a value in spec.postgresParameters; kubectl logs " + pod.getMetadata().getName()
          + " --previous shows the rest)");
    }
    return Optional.empty();
  }

  private static int count(Integer n) {
    return n == null ? 0 : n;
  }
}

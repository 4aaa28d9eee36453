package dev.arbor.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.BranchStatus;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.operator.storage.StorageEngineUnavailableException;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How outcomes become the three kstatus conditions, and which failures are outages and which need a person. */
class ConditionsTest {

  /**
   * Ready at generation 3, then an outage: at generation 3 the Ready stays as it was; after a spec edit (4) it is
   * not Ready. Either way Reconciling names the outage.
   */
  @Test
  void anOutageKeepsAReadyOfTheCurrentGenerationAndSaysWhatIsRetried() {
    assertThat(readyAfterOutageAt(3)).containsExactly("True", "Ready", "timeline t");
    assertThat(readyAfterOutageAt(4)).containsExactly("False", "StorageEngineUnavailable", "cannot reach it");
  }

  /** The Ready condition's status, reason and message; checks Reconciling True and Stalled False on the way. */
  private static List<String> readyAfterOutageAt(long generation) {
    var status = new BranchStatus();
    Conditions.apply(status, 3, Outcome.ready("Ready", "timeline t"));
    Conditions.apply(status, generation, Outcome.retrying("StorageEngineUnavailable", "cannot reach it"));
    assertThat(Conditions.find(status, Condition.RECONCILING)).get().extracting(Condition::getStatus, Condition::getReason)
        .containsExactly("True", "StorageEngineUnavailable");
    assertThat(Conditions.find(status, Condition.STALLED)).get().extracting(Condition::getStatus).isEqualTo("False");
    Condition ready = Conditions.find(status, Condition.READY).orElseThrow();
    return List.of(ready.getStatus(), ready.getReason(), ready.getMessage());
  }

  /**
   * A held deletion (its generation raised by the deletion) keeps a Ready=True as it was, stamped with the current
   * generation so that others read it as Ready, and says the hold in Stalled; an object that was not Ready is not.
   */
  @Test
  void aHeldDeletionKeepsReadyAndSaysTheHoldInStalled() {
    var branch = new Branch();
    branch.setStatus(new BranchStatus());
    Conditions.apply(branch.getStatus(), 3, Outcome.ready("Ready", "timeline t"));
    String since = Conditions.find(branch.getStatus(), Condition.READY).orElseThrow().getLastTransitionTime();
    branch.getMetadata().setGeneration(4L);
    Conditions.apply(branch.getStatus(), 4, Outcome.held("HasChildren", "deletion is held: Branches [c]"));
    assertThat(Conditions.find(branch.getStatus(), Condition.READY)).get()
        .extracting(Condition::getStatus, Condition::getReason, Condition::getMessage, Condition::getLastTransitionTime,
            Condition::getObservedGeneration)
        .containsExactly("True", "Ready", "timeline t", since, 4L);
    assertThat(Conditions.isReady(branch)).isTrue();
    assertThat(Conditions.find(branch.getStatus(), Condition.STALLED)).get()
        .extracting(Condition::getStatus, Condition::getReason, Condition::getMessage)
        .containsExactly("True", "HasChildren", "deletion is held: Branches [c]");
    assertThat(Conditions.find(branch.getStatus(), Condition.RECONCILING)).get().extracting(Condition::getStatus).isEqualTo("False");

    var never = new BranchStatus();
    Conditions.apply(never, 1, Outcome.reconciling("WaitingForParent", "parent p is not Ready yet"));
    Conditions.apply(never, 2, Outcome.held("Protected", "deletion is held: spec.protected is true"));
    assertThat(Conditions.find(never, Condition.READY)).get().extracting(Condition::getStatus, Condition::getReason)
        .containsExactly("False", "Protected");
  }

  @Test
  void readyMeansReadyForTheCurrentGeneration() {
    var branch = new Branch();
    branch.getMetadata().setGeneration(2L);
    branch.setStatus(new BranchStatus());
    Conditions.apply(branch.getStatus(), 2, Outcome.ready("Ready", "timeline t"));
    assertThat(Conditions.isReady(branch)).isTrue();
    branch.getMetadata().setGeneration(3L); // a spec edit not reconciled yet
    assertThat(Conditions.isReady(branch)).isFalse();
  }

  @Test
  void outagesAreRetriedAndRefusalsOfTheKubernetesApiAreStalled() {
    var statuses = new StatusUpdates(null, null);
    var branch = new Branch();
    branch.getMetadata().setName("b");
    branch.getMetadata().setNamespace("ns");
    assertThat(statuses.failure(branch, new RuntimeException(new StorageEngineUnavailableException("down", null))))
        .extracting(Outcome::state, Outcome::reason).containsExactly(Outcome.State.RETRYING, "StorageEngineUnavailable");
    assertThat(statuses.failure(branch, apiError(409, "the object has been modified")))
        .extracting(Outcome::state, Outcome::reason).containsExactly(Outcome.State.RETRYING, "KubernetesApiConflict");
    assertThat(statuses.failure(branch, apiError(503, "etcd leader changed")))
        .extracting(Outcome::state, Outcome::reason).containsExactly(Outcome.State.RETRYING, "KubernetesApiUnavailable");
    assertThat(statuses.failure(branch, new KubernetesClientException("no route", new IOException("connection reset"))))
        .extracting(Outcome::state).isEqualTo(Outcome.State.RETRYING);
    for (int code : new int[] {400, 403, 422}) {
      Outcome o = statuses.failure(branch, apiError(code, "secrets \"x\" is forbidden: exceeded quota"));
      assertThat(o.state()).as("HTTP %d", code).isEqualTo(Outcome.State.STALLED);
      assertThat(o.reason()).isEqualTo("KubernetesApiRefused");
      assertThat(o.message()).contains("refused secrets x (HTTP " + code + ")", "secrets \"x\" is forbidden: exceeded quota");
    }
  }

  private static KubernetesClientException apiError(int code, String message) {
    return new KubernetesClientException(new StatusBuilder().withCode(code).withMessage(message).withNewDetails().withKind("secrets")
        .withName("x").endDetails().build());
  }
}

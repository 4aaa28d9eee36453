package dev.arbor.operator.endpoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;

/** When a compute's StatefulSet counts as rolled out: each of the checks alone keeps it from being so. */
class ComputeStatusTest {
  private static StatefulSet sts(String status) {
    return Serialization.unmarshal("""
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: e, namespace: n, generation: 3}
        spec: {replicas: 1}
        status: {%s}
        """.formatted(status), StatefulSet.class);
  }

  private static final String DONE = "observedGeneration: 3, replicas: 1, updatedReplicas: 1, readyReplicas: 1, "
      + "currentRevision: e-2, updateRevision: e-2";

  @Test
  void rolledOutOnceTheCurrentGenerationRunsOnEveryWantedReplicaAndIsReady() {
    assertThat(ComputeStatus.rolledOut(sts(DONE))).isTrue();
    assertThat(ComputeStatus.rolledOut(sts(DONE.replace("observedGeneration: 3", "observedGeneration: 4")))).isTrue();
  }

  @Test
  void notRolledOutWhileAnyCheckFails() {
    assertThat(ComputeStatus.rolledOut(null)).isFalse();
    assertThat(ComputeStatus.rolledOut(new StatefulSet())).isFalse();
    assertThat(ComputeStatus.rolledOut(sts(DONE.replace("observedGeneration: 3", "observedGeneration: 2"))))
        .as("the controller has not seen the current generation").isFalse();
    assertThat(ComputeStatus.rolledOut(sts(DONE.replace("updatedReplicas: 1", "updatedReplicas: 0"))))
        .as("updatedReplicas < replicas").isFalse();
    assertThat(ComputeStatus.rolledOut(sts(DONE.replace("updateRevision: e-2", "updateRevision: e-3"))))
        .as("currentRevision != updateRevision").isFalse();
    assertThat(ComputeStatus.rolledOut(sts(DONE.replace("readyReplicas: 1", "readyReplicas: 0"))))
        .as("ready < wanted").isFalse();
    assertThat(ComputeStatus.rolledOut(sts(DONE.replace(", readyReplicas: 1", "")))).as("no ready count").isFalse();
  }

  @Test
  void aStatefulSetScaledToZeroIsRolledOutWithNoReplicas() {
    StatefulSet zero = sts("observedGeneration: 3, replicas: 0, currentRevision: e-2, updateRevision: e-2");
    zero.getSpec().setReplicas(0);
    assertThat(ComputeStatus.rolledOut(zero)).isTrue();
  }
}

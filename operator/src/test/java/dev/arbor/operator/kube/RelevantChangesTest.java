package dev.arbor.operator.kube;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import dev.arbor.crds.v1alpha1.EndpointStatus;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;

/** What of an Endpoint reaches its siblings: what the writer election reads, not a moving lastActive. */
class RelevantChangesTest {
  private static Endpoint running() {
    return Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: e, namespace: n, generation: 2}
        spec: {branchRef: b}
        status: {phase: Running, timelineId: "0123456789abcdef0123456789abcdef", lastActive: "2026-12-07T12:00:00Z"}
        """, Endpoint.class);
  }

  @Test
  void aSiblingsActivityAndConditionsDoNotPassItsPhaseTimelineSpecAndDeletionDo() {
    Endpoint before = running();
    Endpoint active = Serialization.clone(before);
    active.getStatus().setLastActive("2026-12-07T12:00:30Z");
    active.getStatus().setObservedGeneration(2L);
    assertThat(RelevantChanges.ofSiblingEndpoint(before, active)).isFalse();

    Endpoint suspended = Serialization.clone(before);
    suspended.getStatus().setPhase(EndpointPhase.Suspended);
    assertThat(RelevantChanges.ofSiblingEndpoint(before, suspended)).isTrue();
    Endpoint otherTimeline = Serialization.clone(before);
    otherTimeline.getStatus().setTimelineId("ffffffffffffffffffffffffffffffff");
    assertThat(RelevantChanges.ofSiblingEndpoint(before, otherTimeline)).isTrue();
    Endpoint edited = Serialization.clone(before);
    edited.getMetadata().setGeneration(3L);
    assertThat(RelevantChanges.ofSiblingEndpoint(before, edited)).as("a spec change, e.g. spec.suspended").isTrue();
    Endpoint deleting = Serialization.clone(before);
    deleting.getMetadata().setDeletionTimestamp("2026-12-07T12:01:00Z");
    assertThat(RelevantChanges.ofSiblingEndpoint(before, deleting)).isTrue();
    Endpoint noStatus = Serialization.clone(before);
    noStatus.setStatus(new EndpointStatus());
    assertThat(RelevantChanges.ofSiblingEndpoint(before, noStatus)).isTrue();
  }
}

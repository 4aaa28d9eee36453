package dev.arbor.operator.endpoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.crds.v1alpha1.Endpoint;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/** The writer of a Branch: a running one keeps its place; otherwise the oldest, ties broken by name. */
class WriterElectionTest {
  private static final String TIMELINE = "0123456789abcdef0123456789abcdef";

  private static Endpoint endpoint(String name, String created, String specExtra, String status, String metadataExtra) {
    return Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: %s, namespace: n, creationTimestamp: "%s"%s}
        spec: {branchRef: b%s}
        status: {%s}
        """.formatted(name, created, metadataExtra == null ? "" : ", " + metadataExtra, specExtra == null ? "" : ", " + specExtra,
        status == null ? "" : status), Endpoint.class);
  }

  private static Endpoint idle(String name, String created) {
    return endpoint(name, created, null, null, null);
  }

  private static Endpoint running(String name, String created) {
    return endpoint(name, created, null, "phase: Running, timelineId: \"" + TIMELINE + "\"", null);
  }

  private static Predicate<Endpoint> statefulSetsOf(String... names) {
    Set<String> with = Set.of(names);
    return e -> with.contains(e.getMetadata().getName());
  }

  private static String writer(Endpoint endpoint, List<Endpoint> others, Predicate<Endpoint> statefulSets) {
    return WriterElection.writer(endpoint, others, TIMELINE, statefulSets).getMetadata().getName();
  }

  @Test
  void aRunningYoungerWriterKeepsItsPlaceBeforeAnIdleOlderOne() {
    Endpoint older = idle("old", "2026-12-07T10:00:00Z");
    Endpoint younger = running("young", "2026-12-07T11:00:00Z");
    assertThat(writer(older, List.of(younger), statefulSetsOf("young"))).isEqualTo("young");
    assertThat(writer(younger, List.of(older), statefulSetsOf("young"))).isEqualTo("young");
    assertThat(writer(older, List.of(younger), statefulSetsOf())).as("its StatefulSet is gone: it runs nothing").isEqualTo("old");
    Endpoint otherTimeline = endpoint("young", "2026-12-07T11:00:00Z", null, "phase: Running, timelineId: \"ffffffffffffffffffffffffffffffff\"", null);
    assertThat(writer(older, List.of(otherTimeline), statefulSetsOf("young"))).as("it runs another timeline").isEqualTo("old");
    for (String phase : List.of("Starting", "Waking")) {
      Endpoint starting = endpoint("young", "2026-12-07T11:00:00Z", null, "phase: " + phase + ", timelineId: \"" + TIMELINE + "\"", null);
      assertThat(writer(older, List.of(starting), statefulSetsOf("young"))).as(phase).isEqualTo("young");
    }
  }

  @Test
  void ofEndpointsCreatedInTheSameSecondTheFirstNameWins() {
    Endpoint b = idle("b", "2026-12-07T10:00:00Z");
    Endpoint a = idle("a", "2026-12-07T10:00:00Z");
    assertThat(writer(b, List.of(a), statefulSetsOf())).isEqualTo("a");
    assertThat(writer(a, List.of(b), statefulSetsOf())).isEqualTo("a");
    Endpoint runningA = running("a", "2026-12-07T10:00:00Z");
    Endpoint runningB = running("b", "2026-12-07T10:00:00Z");
    assertThat(writer(runningB, List.of(runningA), statefulSetsOf("a", "b"))).as("both run (a race): the same rule").isEqualTo("a");
  }

  @Test
  void aSuspendedWriterKeepsItsPlaceAsTheOldest() {
    Endpoint suspended = endpoint("s1", "2026-12-07T10:00:00Z", "suspended: true",
        "phase: Suspended, timelineId: \"" + TIMELINE + "\"", null);
    Endpoint newer = idle("s2", "2026-12-07T11:00:00Z");
    assertThat(writer(newer, List.of(suspended), statefulSetsOf("s1"))).isEqualTo("s1");
    assertThat(WriterElection.runsCompute(suspended, TIMELINE, statefulSetsOf("s1"))).isFalse();
  }

  @Test
  void anEndpointBeingDeletedReadOnlyOrOfAnotherBranchTakesNoPart() {
    Endpoint deleting = endpoint("gone", "2026-12-07T09:00:00Z", null, "phase: Running, timelineId: \"" + TIMELINE + "\"",
        "deletionTimestamp: \"2026-12-07T12:00:00Z\", finalizers: [x]");
    Endpoint readOnly = endpoint("ro", "2026-12-07T09:00:00Z", "mode: ReadOnly, lsn: 0/1000000",
        "phase: Running, timelineId: \"" + TIMELINE + "\"", null);
    Endpoint elsewhere = endpoint("other", "2026-12-07T09:00:00Z", null, null, null);
    elsewhere.getSpec().setBranchRef("c");
    Endpoint waiting = idle("next", "2026-12-07T11:00:00Z");
    assertThat(writer(waiting, List.of(deleting, readOnly, elsewhere), statefulSetsOf("gone", "ro"))).isEqualTo("next");
  }
}

package dev.arbor.operator.endpoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointWake;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;

/** A suspend is woken from once, however many wake requests and stale reads of its status follow. */
class WakesTest {
  private static Endpoint endpoint(String uid, String wakeRequestedAt) {
    return Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: e, namespace: n, uid: %s, annotations: {"%s": "%s"}}
        spec: {branchRef: b}
        """.formatted(uid, EndpointWake.REQUESTED_AT, wakeRequestedAt), Endpoint.class);
  }

  @Test
  void aSecondRequestThatReadsTheStatusOfBeforeTheWakeDoesNotWakeAgain() {
    var wakes = new Wakes();
    String suspendedAt = "2026-12-07T12:00:00Z";
    // First proxy replica's request, then the second's, whose reconcile still reads suspendedAt.
    assertThat(wakes.decide(endpoint("u1", "2026-12-07T12:00:05.100Z"), suspendedAt)).isEqualTo(Wakes.Decision.WAKE);
    assertThat(wakes.decide(endpoint("u1", "2026-12-07T12:00:05.102Z"), suspendedAt)).isEqualTo(Wakes.Decision.ALREADY_WOKEN);
    // Another Endpoint is its own.
    assertThat(wakes.decide(endpoint("u2", "2026-12-07T12:00:05.100Z"), suspendedAt)).isEqualTo(Wakes.Decision.WAKE);

    // The wake was read back, then the compute was suspended again: a new request wakes it again.
    wakes.settled(endpoint("u1", "2026-12-07T12:00:05.102Z"));
    String again = "2026-12-07T12:10:00Z";
    assertThat(wakes.decide(endpoint("u1", "2026-12-07T12:00:05.102Z"), again)).as("a request from before this suspend")
        .isEqualTo(Wakes.Decision.STAY_SUSPENDED);
    assertThat(wakes.decide(endpoint("u1", "2026-12-07T12:10:01Z"), again)).isEqualTo(Wakes.Decision.WAKE);
  }
}

package dev.arbor.operator.endpoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointWake;
import dev.arbor.crds.v1alpha1.Project;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The idle-suspend rules: the effective timeout, the verdict from the last activity, and which wake requests apply. */
class IdleSuspendTest {
  private static final Instant NOW = Instant.parse("2026-12-07T12:00:00Z");

  private static Endpoint endpoint(String specExtra, String annotations) {
    return Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: e, namespace: n%s}
        spec: {branchRef: b%s}
        """.formatted(annotations == null ? "" : ", annotations: {" + annotations + "}", specExtra == null ? "" : ", " + specExtra),
        Endpoint.class);
  }

  private static Project project(String defaults) {
    return Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: p, namespace: n}
        spec: {%s}
        """.formatted(defaults == null ? "" : "endpointDefaults: {" + defaults + "}"), Project.class);
  }

  @Test
  void theEndpointsTimeoutWinsThenTheProjectsDefaultThenNever() {
    assertThat(IdleSuspend.configured(endpoint("suspendTimeout: 30s", null), project("suspendTimeout: 10m")))
        .contains(Duration.ofSeconds(30));
    assertThat(IdleSuspend.configured(endpoint(null, null), project("suspendTimeout: 10m"))).contains(Duration.ofMinutes(10));
    assertThat(IdleSuspend.configured(endpoint(null, null), project(null))).isEmpty();
    assertThat(IdleSuspend.timeout(endpoint(null, null), project(null))).isZero();
    assertThat(IdleSuspend.timeout(endpoint(null, null), project("suspendTimeout: \"0\""))).isZero();
    assertThat(IdleSuspend.timeout(endpoint("suspendTimeout: \"0\"", null), project("suspendTimeout: 10m")))
        .as("0 on the Endpoint: never, whatever the Project says").isZero();
    assertThat(IdleSuspend.timeout(endpoint("suspendTimeout: 0s", null), project("suspendTimeout: 10m"))).isZero();
  }

  @Test
  void theComputeIsLookedAtEveryThirdOfTheTimeoutBetweenOneAndFifteenSeconds() {
    assertThat(IdleSuspend.pollInterval(Duration.ofSeconds(30))).isEqualTo(Duration.ofSeconds(10));
    assertThat(IdleSuspend.pollInterval(Duration.ofMinutes(5))).isEqualTo(Duration.ofSeconds(15));
    assertThat(IdleSuspend.pollInterval(Duration.ofSeconds(2))).isEqualTo(Duration.ofSeconds(1));
  }

  @Test
  void idleOnceTheTimeoutHasPassedSinceTheLastActivity() {
    Duration timeout = Duration.ofSeconds(30);
    assertThat(IdleSuspend.judge(NOW.minusSeconds(30), NOW, timeout).idle()).isTrue();
    assertThat(IdleSuspend.judge(NOW.minusSeconds(300), NOW, timeout).idle()).isTrue();
    var active = IdleSuspend.judge(NOW.minusSeconds(29), NOW, timeout);
    assertThat(active.idle()).isFalse();
    assertThat(active.lookAgainIn()).as("at the moment the timeout would run out").isEqualTo(Duration.ofSeconds(1));
    assertThat(IdleSuspend.judge(NOW.minusSeconds(5), NOW, timeout).lookAgainIn()).as("the poll interval")
        .isEqualTo(Duration.ofSeconds(10));
    assertThat(IdleSuspend.judge(NOW.plusSeconds(2), NOW, timeout).idle()).as("an agent clock ahead of ours counts as active now")
        .isFalse();
  }

  @Test
  void lastActiveIsRecordedOnceItMovedByHalfTheTimeout() {
    Duration timeout = Duration.ofMinutes(1);
    assertThat(IdleSuspend.lastActiveToRecord(null, NOW.plusMillis(700), timeout)).as("nothing recorded yet")
        .isEqualTo("2026-12-07T12:00:00Z");
    assertThat(IdleSuspend.lastActiveToRecord("2026-12-07T12:00:00Z", NOW.plusSeconds(29), timeout)).as("moved less than 30 s")
        .isEqualTo("2026-12-07T12:00:00Z");
    assertThat(IdleSuspend.lastActiveToRecord("2026-12-07T12:00:00Z", NOW.plusSeconds(30), timeout))
        .isEqualTo("2026-12-07T12:00:30Z");
    assertThat(IdleSuspend.lastActiveToRecord("2026-12-07T12:00:00Z", NOW.minusSeconds(5), timeout))
        .as("a recorded value ahead of the agent (started again)").isEqualTo("2026-12-07T11:59:55Z");
  }

  @Test
  void aWakeRequestAppliesWhenItIsAtOrAfterTheSuspend() {
    Instant suspendedAt = NOW;
    assertThat(IdleSuspend.wakeRequested(endpoint(null, EndpointWake.REQUESTED_AT + ": \"2026-12-07T12:00:01.5Z\""), suspendedAt)).isTrue();
    assertThat(IdleSuspend.wakeRequested(endpoint(null, EndpointWake.REQUESTED_AT + ": \"2026-12-07T12:00:00Z\""), suspendedAt))
        .as("the same second: the status keeps whole seconds").isTrue();
    assertThat(IdleSuspend.wakeRequested(endpoint(null, EndpointWake.REQUESTED_AT + ": \"2026-12-07T11:59:00Z\""), suspendedAt))
        .as("a request for an earlier suspend").isFalse();
    assertThat(IdleSuspend.wakeRequested(endpoint(null, EndpointWake.REQUESTED_AT + ": \"soon\""), suspendedAt)).isFalse();
    assertThat(IdleSuspend.wakeRequested(endpoint(null, null), suspendedAt)).isFalse();
    assertThat(EndpointWake.requestedAt(endpoint(null, EndpointWake.REQUESTED_AT + ": \"2026-12-07T13:00:00+01:00\"")))
        .as("any RFC 3339 offset").isEqualTo(Optional.of(NOW));
  }

  @Test
  void anEndpointIsReconciledForSpecChangesWakeRequestsAndDeletionOnly() {
    var filter = new EndpointUpdates();
    Endpoint before = endpoint(null, null);
    before.getMetadata().setGeneration(3L);
    Endpoint statusOnly = Serialization.clone(before);
    statusOnly.setStatus(new dev.arbor.crds.v1alpha1.EndpointStatus());
    assertThat(filter.accept(statusOnly, before)).isFalse();
    Endpoint edited = Serialization.clone(before);
    edited.getMetadata().setGeneration(4L);
    assertThat(filter.accept(edited, before)).isTrue();
    Endpoint woken = Serialization.clone(before);
    woken.getMetadata().setAnnotations(java.util.Map.of(EndpointWake.REQUESTED_AT, NOW.toString()));
    assertThat(filter.accept(woken, before)).isTrue();
    Endpoint deleted = Serialization.clone(before);
    deleted.getMetadata().setDeletionTimestamp(NOW.toString());
    assertThat(filter.accept(deleted, before)).isTrue();
  }
}

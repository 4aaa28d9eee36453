package dev.arbor.operator.endpoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.apps.StatefulSetBuilder;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which template changes wait their turn, and how many turns a minute gives. */
class ComputeRolloutsTest {

  @Test
  void atMostTheConfiguredNumberOfOperatorRolloutsStartInAnyMinute() {
    var clock = new SteppingClock();
    var rollouts = new ComputeRollouts(2, clock);
    assertThat(rollouts.tryStart()).isTrue();
    clock.now = clock.now.plusSeconds(20);
    assertThat(rollouts.tryStart()).isTrue();
    assertThat(rollouts.tryStart()).isFalse();
    assertThat(rollouts.untilNextSlot()).isEqualTo(Duration.ofSeconds(40));
    clock.now = clock.now.plusSeconds(40);
    assertThat(rollouts.tryStart()).isTrue();
    assertThat(rollouts.tryStart()).isFalse();
  }

  @Test
  void onlyARunningComputeWhoseOwnInputsStayTheSameWaits() {
    StatefulSet before = sts(1, Map.of(ComputeRollouts.ENDPOINT_REVISION, "e1", ComputeRollouts.PASSWORDS_HASH, "p1"));
    StatefulSet sameTemplate = sts(1, Map.of(ComputeRollouts.ENDPOINT_REVISION, "e1", ComputeRollouts.PASSWORDS_HASH, "p1"));
    assertThat(ComputeRollouts.operatorOnlyChange(before, sameTemplate)).isFalse();

    StatefulSet newImage = sts(1, Map.of(ComputeRollouts.ENDPOINT_REVISION, "e1", ComputeRollouts.PASSWORDS_HASH, "p1"));
    newImage.getSpec().getTemplate().getSpec().getContainers().getFirst().setImage("arbor-compute:2");
    ComputeRollouts.stampRevision(newImage);
    assertThat(ComputeRollouts.operatorOnlyChange(before, newImage)).isTrue();
    assertThat(ComputeRollouts.operatorOnlyChange(null, newImage)).as("a new StatefulSet").isFalse();
    assertThat(ComputeRollouts.operatorOnlyChange(sts(0, Map.of()), newImage)).as("a suspended compute").isFalse();

    StatefulSet newPassword = sts(1, Map.of(ComputeRollouts.ENDPOINT_REVISION, "e1", ComputeRollouts.PASSWORDS_HASH, "p2"));
    newPassword.getSpec().getTemplate().getSpec().getContainers().getFirst().setImage("arbor-compute:2");
    ComputeRollouts.stampRevision(newPassword);
    assertThat(ComputeRollouts.operatorOnlyChange(before, newPassword)).isFalse();

    StatefulSet madeBeforeTheHashes = sts(1, Map.of());
    madeBeforeTheHashes.getSpec().getTemplate().getMetadata().setAnnotations(null);
    assertThat(ComputeRollouts.operatorOnlyChange(madeBeforeTheHashes, newImage)).isTrue();
  }

  private static StatefulSet sts(int replicas, Map<String, String> annotations) {
    StatefulSet s = new StatefulSetBuilder().withNewSpec().withReplicas(replicas).withNewTemplate()
        .withNewMetadata().withAnnotations(new LinkedHashMap<>(annotations)).endMetadata()
        .withNewSpec().addNewContainer().withName("compute").withImage("arbor-compute:1").endContainer().endSpec()
        .endTemplate().endSpec().build();
    ComputeRollouts.stampRevision(s);
    return s;
  }

  private static final class SteppingClock extends Clock {
    Instant now = Instant.parse("2026-12-07T00:00:00Z");

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }
}

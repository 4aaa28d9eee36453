package dev.arbor.operator.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class DurationsTest {
  @Test
  void readsTheApiDurationSyntax() {
    assertThat(Durations.parse("90s")).isEqualTo(Duration.ofSeconds(90));
    assertThat(Durations.parse("5m")).isEqualTo(Duration.ofMinutes(5));
    assertThat(Durations.parse("7d")).isEqualTo(Duration.ofDays(7));
    assertThat(Durations.parse("1d12h")).isEqualTo(Duration.ofHours(36));
    assertThat(Durations.parse("0")).isZero();
    assertThat(Durations.parse("0s")).isZero();
  }

  @Test
  void refusesAnythingElseSayingWhatADurationLooksLike() {
    for (String bad : new String[] {"", "5", "m5", "5m ", "1d-2h", "1w"}) {
      assertThatThrownBy(() -> Durations.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("such as 90s");
    }
  }
}

package dev.arbor.api.compute;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** suspend_timeout's text: whole seconds, minutes or hours, written in the largest unit that is exact. */
class DurationTextTest {

  @Test
  void readsAndWritesWholeUnits() {
    assertThat(DurationText.parse("300s")).isEqualTo(Duration.ofMinutes(5));
    assertThat(DurationText.parse(" 5m ")).isEqualTo(Duration.ofMinutes(5));
    assertThat(DurationText.parse("1h")).isEqualTo(Duration.ofHours(1));
    assertThat(DurationText.format(Duration.ofSeconds(300))).isEqualTo("5m");
    assertThat(DurationText.format(Duration.ofSeconds(90))).isEqualTo("90s");
    assertThat(DurationText.format(Duration.ofHours(2))).isEqualTo("2h");
    assertThat(DurationText.format(Duration.ZERO)).isEqualTo("0s");
  }

  @Test
  void anythingElseSaysHowToWriteIt() {
    for (String bad : new String[] {"5 minutes", "1d", "-5m", "", null}) {
      assertThatThrownBy(() -> DurationText.parse(bad)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("write a whole number with s, m or h");
    }
  }
}

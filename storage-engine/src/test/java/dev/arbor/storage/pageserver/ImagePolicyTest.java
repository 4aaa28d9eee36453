package dev.arbor.storage.pageserver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** When the pageserver makes images by itself, and which thresholds it refuses. */
class ImagePolicyTest {

  @Test
  void aThresholdIsZeroOrAtLeastOneSegment() {
    assertThat(new ImageService.Policy(0, Duration.ofSeconds(10)).thresholdBytes()).isZero();
    assertThat(new ImageService.Policy(16L << 20, Duration.ofSeconds(10)).thresholdBytes()).isEqualTo(16L << 20);
    assertThatThrownBy(() -> new ImageService.Policy((16L << 20) - 1, Duration.ofSeconds(10)))
        .hasMessageContaining("at least one WAL segment");
    assertThatThrownBy(() -> new ImageService.Policy(-1, Duration.ofSeconds(10))).hasMessageContaining("0 (off)");
  }
}

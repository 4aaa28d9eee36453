package dev.arbor.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Byte counts on the command line ({@code --image-threshold}). */
class StorageMainOptionsTest {

  @Test
  void byteCountsTakeBinaryUnits() {
    assertThat(StorageMain.bytes("268435456", "image-threshold")).isEqualTo(256L << 20);
    assertThat(StorageMain.bytes("256MiB", "image-threshold")).isEqualTo(256L << 20);
    assertThat(StorageMain.bytes("1GiB", "image-threshold")).isEqualTo(1L << 30);
    assertThat(StorageMain.bytes("0", "image-threshold")).isZero();
  }

  @Test
  void anythingElseNamesTheOptionAndTheSpelling() {
    for (String bad : new String[] {"256MB", "-1", "1.5GiB", "lots", ""}) {
      assertThatThrownBy(() -> StorageMain.bytes(bad, "image-threshold")).as(bad)
          .hasMessageContaining("--image-threshold").hasMessageContaining("256MiB");
    }
  }
}

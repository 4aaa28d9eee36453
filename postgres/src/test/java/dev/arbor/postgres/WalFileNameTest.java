package dev.arbor.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Lsn;
import org.junit.jupiter.api.Test;

class WalFileNameTest {
  @Test
  void walFileNamesMatchPostgres() {
    long seg = Lsn.DEFAULT_SEGMENT_SIZE;
    Lsn lsn = Lsn.parse("1/2A000028");
    assertThat(WalFileName.segment(3, lsn.segmentNumber(seg), seg)).isEqualTo("00000003000000010000002A");
    assertThat(WalFileName.segmentNumberOf("00000003000000010000002A", seg)).isEqualTo(lsn.segmentNumber(seg));
    assertThat(WalFileName.history(4)).isEqualTo("00000004.history");
    assertThat(WalFileName.isSegment("00000003000000010000002A")).isTrue();
    assertThat(WalFileName.isHistory("00000004.history")).isTrue();
  }
}

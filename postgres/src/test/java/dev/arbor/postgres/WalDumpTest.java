package dev.arbor.postgres;

import dev.arbor.api.Lsn;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class WalDumpTest {
  private static final long SEG = Lsn.DEFAULT_SEGMENT_SIZE;

  @Test
  void recordWithinAPageEndsAtItsLengthRoundedUp() {
    // initdb's shutdown checkpoint on PostgreSQL 15: 114 bytes at 0/1500718; pg_waldump reports the end at 0/1500790.
    assertThat(WalDump.endOf(Lsn.parse("0/1500718"), 114, SEG)).isEqualTo(Lsn.parse("0/1500790"));
  }

  @Test
  void recordCrossingAPageSkipsTheNextPageHeader() {
    // 16 bytes left on the page, 100-byte record: 84 bytes continue after a 24-byte short header.
    assertThat(WalDump.endOf(new Lsn(8192 - 16), 100, SEG)).isEqualTo(new Lsn(8192 + 24 + 88));
  }

  @Test
  void recordCrossingASegmentSkipsTheLongHeader() {
    assertThat(WalDump.endOf(new Lsn(SEG - 8), 16, SEG)).isEqualTo(new Lsn(SEG + 40 + 8));
  }
}

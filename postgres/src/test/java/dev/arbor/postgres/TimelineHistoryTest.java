package dev.arbor.postgres;

import dev.arbor.api.Lsn;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TimelineHistoryTest {
  private static final long SEGMENT = Lsn.DEFAULT_SEGMENT_SIZE;
  // As PostgreSQL writes it: TLI 3 branched off 1 at 0/1741548, then 2 at 0/5FFEEE0.
  private static final String OF_3 = """
      1\t0/1741548\tno recovery target specified

      # a comment
      2\t0/5FFEEE0\tno recovery target specified
      """;

  @Test
  void eachTliBeginsWhereItsPredecessorEnded() {
    TimelineHistory h = TimelineHistory.of(3, OF_3);
    assertThat(h.begins()).containsExactly(new TimelineHistory.Begin(1, Lsn.ZERO),
        new TimelineHistory.Begin(2, Lsn.parse("0/1741548")), new TimelineHistory.Begin(3, Lsn.parse("0/5FFEEE0")));
    assertThat(h.switchPoint(1)).contains(Lsn.parse("0/1741548"));
    assertThat(h.switchPoint(2)).contains(Lsn.parse("0/5FFEEE0"));
    assertThat(h.switchPoint(3)).as("the history's own TLI has not ended").isEmpty();
    assertThat(h.parentSwitch()).contains(new TimelineHistory.Begin(2, Lsn.parse("0/5FFEEE0")));
  }

  @Test
  void aSegmentIsAskedForUnderTheNewestTliThatBeginsInOrBeforeIt() {
    TimelineHistory h = TimelineHistory.of(3, OF_3);
    assertThat(h.tlisForSegment(0, SEGMENT)).containsExactly(1);
    assertThat(h.tlisForSegment(1, SEGMENT)).containsExactly(2, 1);
    assertThat(h.tlisForSegment(4, SEGMENT)).containsExactly(2, 1);
    assertThat(h.tlisForSegment(5, SEGMENT)).containsExactly(3, 2, 1);
  }

  @Test
  void tliOneHasNoFileAndNoParent() {
    TimelineHistory h = TimelineHistory.of(1, (String) null);
    assertThat(h.begins()).containsExactly(new TimelineHistory.Begin(1, Lsn.ZERO));
    assertThat(h.parentSwitch()).isEmpty();
    assertThat(h.tlisForSegment(7, SEGMENT)).containsExactly(1);
  }
}

package dev.arbor.compute.start;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.compute.start.SlotTrimmer.SlotPosition;
import dev.arbor.compute.start.SlotTrimmer.Trim;
import dev.arbor.api.Lsn;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Which slots the compute trims: only those of a minority, and only once they are more than the limit behind. */
class SlotTrimmerTest {
  private static final long MB = 1024 * 1024;
  private static final long LIMIT = 64 * MB;
  private static final Lsn FLUSH = at(1000);

  @Test
  void aMinoritySlotFarBehindMovesUpToWhatTheMajorityHolds() {
    assertThat(SlotTrimmer.trims(slots(at(1000), at(990), at(100)), 2, FLUSH, LIMIT))
        .containsExactly(new Trim("s2", at(100), at(990), 900 * MB));
  }

  @Test
  void aMajorityIsNeverTrimmedHoweverFarBehind() {
    // One statement wrote 900 MB before its commit while two of three safekeepers lagged.
    assertThat(SlotTrimmer.trims(slots(at(1000), at(100), at(100)), 2, FLUSH, LIMIT)).isEmpty();
    assertThat(SlotTrimmer.trims(slots(at(100), at(100), at(100)), 2, FLUSH, LIMIT)).isEmpty();
    // Of two at different positions, the one below the other is a minority of one.
    assertThat(SlotTrimmer.trims(slots(at(100), at(50), at(200)), 2, FLUSH, LIMIT))
        .containsExactly(new Trim("s1", at(50), at(100), 950 * MB));
  }

  @Test
  void aSlotWithinTheLimitIsKept() {
    assertThat(SlotTrimmer.trims(slots(at(1000), at(1000), at(1000 - 64)), 2, FLUSH, LIMIT)).isEmpty();
    assertThat(SlotTrimmer.trims(slots(at(1000), at(1000), at(1000 - 65)), 2, FLUSH, LIMIT)).hasSize(1);
  }

  @Test
  void fiveSafekeepersTrimAtMostTwo() {
    assertThat(SlotTrimmer.trims(slots(at(1000), at(900), at(800), at(10), at(20)), 3, FLUSH, LIMIT))
        .containsExactly(new Trim("s3", at(10), at(800), 990 * MB), new Trim("s4", at(20), at(800), 980 * MB));
  }

  @Test
  void aSingleSafekeeperIsItsOwnMajority() {
    assertThat(SlotTrimmer.trims(slots(at(1)), 1, FLUSH, LIMIT)).isEmpty();
  }

  @Test
  void withoutAMajorityOfSlotsReservingWalNothingIsTrimmed() {
    // Which WAL a majority of five holds is unknown when three slots are missing or reserve nothing.
    assertThat(SlotTrimmer.trims(slots(at(1000), at(1), null, null), 3, FLUSH, LIMIT)).isEmpty();
    // A slot that reserves nothing holds nothing back; the others decide alone.
    assertThat(SlotTrimmer.trims(slots(at(1000), null, at(990), at(980), at(1)), 3, FLUSH, LIMIT))
        .containsExactly(new Trim("s4", at(1), at(980), 999 * MB));
  }

  @Test
  void aNegativeLimitTurnsTrimmingOff() {
    assertThat(SlotTrimmer.trims(slots(at(1000), at(1000), at(1)), 2, FLUSH, -1)).isEmpty();
  }

  private static Lsn at(long mb) {
    return new Lsn(0x1_0000_0000L + mb * MB);
  }

  /** Slots s0, s1, ... at these restart LSNs (null: reserves no WAL). */
  private static List<SlotPosition> slots(Lsn... restart) {
    return IntStream.range(0, restart.length).mapToObj(i -> new SlotPosition("s" + i, restart[i])).toList();
  }
}

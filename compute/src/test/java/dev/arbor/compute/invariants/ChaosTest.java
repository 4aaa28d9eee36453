package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.compute.testing.ChaosRun;
import dev.arbor.compute.testing.ChaosRun.Fault;
import java.security.SecureRandom;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Invariants 1 and 4 under a randomized nemesis (see {@link ChaosRun}): a short run of a few rounds, each with
 * one to three faults, every kind of fault at least once. A new seed each time, printed at the start and in a
 * failure; replay one with {@code -Dchaos.seed=S} (and {@code -Dchaos.rounds=N}). Long runs: {@code bench/run chaos}.
 */
class ChaosTest {

  @Test
  void everyAcknowledgedCommitSurvivesRandomFaultsAndNoTwoGenerationsCommit() {
    long seed = Long.getLong("chaos.seed", new SecureRandom().nextLong());
    int rounds = Integer.getInteger("chaos.rounds", 6);
    System.out.println("event=chaos_seed seed=" + seed + " rounds=" + rounds);

    ChaosRun.Result result = new ChaosRun(seed, rounds, System.out).run();

    assertThat(result.lost()).isZero();
    assertThat(result.acknowledged()).as("acknowledged commits (seed %d)", seed).isGreaterThan(rounds * 30);
    assertThat(result.faults().keySet()).as("every kind of fault was injected (seed %d)", seed).containsExactlyInAnyOrder(Fault.values());
  }

  @Test
  void everyScheduleOfFourOrMoreRoundsHasEveryFaultAndOneToThreePerRound() {
    for (long seed = 0; seed < 20_000; seed++) {
      for (int rounds : new int[] {4, 6, 200}) {
        List<List<Fault>> schedule = ChaosRun.schedule(new Random(seed), rounds);
        Set<Fault> seen = EnumSet.noneOf(Fault.class);
        schedule.forEach(seen::addAll);
        assertThat(seen).as("seed %d, %d rounds: %s", seed, rounds, schedule).containsExactlyInAnyOrder(Fault.values());
        assertThat(schedule).allSatisfy(r -> assertThat(r).hasSizeBetween(1, 3));
      }
    }
  }
}

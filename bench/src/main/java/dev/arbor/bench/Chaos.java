package dev.arbor.bench;

import dev.arbor.compute.testing.ChaosRun;
import java.security.SecureRandom;

/**
 * The long randomized fault run: {@link ChaosRun} (the same code as the CI's ChaosTest) for many rounds. Prints
 * one line per fault, heal and check, and the totals; exits 1 with the seed to replay on a broken invariant.
 */
final class Chaos {
  private Chaos() {}

  static void run(Options o) {
    int rounds = o.integer("rounds", 200);
    long seed = o.values().containsKey("seed") ? Long.parseLong(o.string("seed", "0")) : new SecureRandom().nextLong();
    System.out.println("event=chaos_seed seed=" + seed + " rounds=" + rounds + " machine=\"" + Machine.describe() + "\"");
    try {
      ChaosRun.Result r = new ChaosRun(seed, rounds, System.out).run();
      System.out.println("| rounds | faults by kind | acknowledged commits | lost | generations | seed |");
      System.out.println("|---|---|---|---|---|---|");
      StringBuilder faults = new StringBuilder();
      r.faults().forEach((k, v) -> faults.append(faults.isEmpty() ? "" : ", ").append(k.name().toLowerCase()).append(' ').append(v));
      System.out.printf("| %d | %s | %d | %d | %d | %d |%n", r.rounds(), faults, r.acknowledged(), r.lost(), r.generations(), r.seed());
      System.out.println("machine: " + Machine.describe());
    } catch (ChaosRun.ChaosFailure e) {
      System.out.println("FAILED (seed " + seed + "): " + e.getMessage());
      e.printStackTrace(System.out);
      System.exit(1);
    }
  }
}

package dev.arbor.compute.testing;

import dev.arbor.testing.StorageProcesses;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.api.Lsn;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

/**
 * A randomized fault run, Jepsen style (issue 10, "How to prove it", item 3): writers insert ledger rows into
 * the current compute and record every acknowledged id with the generation that acknowledged it and when,
 * while a nemesis, round after round, SIGKILLs, pauses (SIGSTOP/SIGCONT) and restarts safekeepers, the
 * pageserver and the compute, cuts the power of safekeepers (crashfs) and wipes their disks. After the faults
 * of a round it restores everything (in half the rounds that hurt a safekeeper, all but one safekeeper until
 * after the check), waits for commits to go on, then starts a fresh compute <em>while the current one still runs
 * and takes commits</em> and checks:
 *
 * <ol>
 *   <li>every id acknowledged before the fresh start returned is in the fresh compute (invariant 1);
 *   <li>no id was acknowledged by a generation after a newer generation's start had returned (invariant 4).
 * </ol>
 *
 * The fresh compute then carries the next round's load, once every safekeeper follows it and caught up (a
 * wiped one too). Everything follows from the seed: the schedule, the
 * targets and the hold times are drawn from it, so a failure can be replayed with the seed it prints (thread
 * timing still varies). The faults respect the system's promises: whatever a round takes down it restores,
 * a compute starts only with a majority of safekeepers and the pageserver up, and a disk is wiped only while
 * the other two safekeepers hold all the WAL (each round ends with all three caught up).
 */
public final class ChaosRun {

  /** What the nemesis does; each appears in a run of 4 or more rounds, whatever the seed. */
  public enum Fault {
    SK_KILL, SK_PAUSE, SK_POWER_CUT, SK_WIPE, PAGESERVER_KILL, PAGESERVER_PAUSE, COMPUTE_KILL, COMPUTE_PAUSE;

    boolean onSafekeeper() {
      return name().startsWith("SK_");
    }

    boolean onPageserver() {
      return name().startsWith("PAGESERVER_");
    }

    boolean onCompute() {
      return name().startsWith("COMPUTE_");
    }

    String label() {
      return name().toLowerCase();
    }
  }

  /** The figures of a run that passed. */
  public record Result(long seed, int rounds, Map<Fault, Integer> faults, int acknowledged, int lost, int generations) {}

  /** A broken invariant or a system that never recovered; the message names the seed to replay. */
  public static final class ChaosFailure extends AssertionError {
    ChaosFailure(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private record Ack(long id, long generation, long ackNanos) {}

  private static final Duration RECOVERY_TIMEOUT = Duration.ofMinutes(3);
  private static final Duration SIGNAL_TIMEOUT = Duration.ofSeconds(20);
  private static final int WRITERS = 3;

  private final long seed;
  private final int rounds;
  private final PrintStream out;
  private final Random random;

  private final Map<Long, Ack> acks = new ConcurrentHashMap<>();
  /** Generation → System.nanoTime() when its start returned. */
  private final Map<Long, Long> startReturned = new ConcurrentHashMap<>();
  private final Map<Fault, Integer> injected = new EnumMap<>(Fault.class);
  private final AtomicLong nextId = new AtomicLong(1);
  private final AtomicLong writerErrors = new AtomicLong();
  private final AtomicBoolean writing = new AtomicBoolean(true);
  private volatile RunningCompute current;
  private final Map<RunningCompute, Path> computes = new ConcurrentHashMap<>();

  private StorageProcesses storage;
  private TempDirectory work;
  private TenantInfo tenant;
  private int computeCount;
  private int round;

  public ChaosRun(long seed, int rounds, PrintStream out) {
    if (rounds < 1) {
      throw new IllegalArgumentException("rounds must be at least 1, not " + rounds);
    }
    this.seed = seed;
    this.rounds = rounds;
    this.out = out;
    this.random = new Random(seed);
  }

  /** Runs every round; throws {@link ChaosFailure} (with the seed) at the first broken invariant. */
  public Result run() {
    long began = System.nanoTime();
    log("event=chaos_start seed=" + seed + " rounds=" + rounds + " writers=" + WRITERS + " replay=\"" + replay() + "\"");
    List<List<Fault>> schedule = schedule(random, rounds);
    List<Thread> writers = new ArrayList<>();
    try {
      // Images every two segments or so: starts, checks and faults meet images made from the WAL under way.
      storage = new StorageProcesses(3).withCrashableSafekeeperDisks().withImageThreshold("32MiB").start();
      work = TempDirectory.create("arbor-chaos-");
      tenant = storage.createTenant(15);
      RunningCompute first = startCompute();
      Sql.exec(first, CommitLedger.DDL);
      current = first;
      for (int w = 0; w < WRITERS; w++) {
        int writer = w;
        writers.add(Thread.ofPlatform().daemon().name("chaos-writer-" + w).start(() -> write(writer)));
      }
      awaitCommits(50, "the first compute takes commits");
      for (round = 1; round <= rounds; round++) {
        runRound(schedule.get(round - 1));
      }
      // The last word: writers stop, and one more fresh compute must hold every id ever acknowledged.
      writing.set(false);
      for (Thread t : writers) {
        t.join(Duration.ofSeconds(10));
      }
      check();
      int acknowledged = acks.size();
      Result result = new Result(seed, rounds, Collections.unmodifiableMap(new EnumMap<>(injected)), acknowledged, 0, startReturned.size());
      log("event=chaos_done seed=" + seed + " rounds=" + rounds + " faults=\"" + faultSummary() + "\" acknowledged=" + acknowledged
          + " lost=0 late_acks=0 generations=" + startReturned.size() + " writer_errors=" + writerErrors.get() + " seconds="
          + Duration.ofNanos(System.nanoTime() - began).toSeconds());
      return result;
    } catch (ChaosFailure e) {
      throw e;
    } catch (Throwable e) {
      throw failure("the run broke: " + e, e);
    } finally {
      writing.set(false);
      for (RunningCompute c : computes.keySet()) {
        c.kill();
      }
      if (work != null) {
        work.close();
      }
      if (storage != null) {
        storage.close();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------- the schedule

  /**
   * Per round 1 to 3 faults. Every kind is dealt first (shuffled, each to a round where it fits that has the
   * fewest faults so far, among the first rounds), so every kind appears in any run of 4 or more rounds; then
   * each round is filled up to a random size of 1 to 3 from further shuffled decks. A round takes at most one
   * pageserver fault, one compute fault, one wipe, and one fault per safekeeper (three safekeeper faults take
   * all three down: commits wait until the round restores them).
   */
  public static List<List<Fault>> schedule(Random random, int rounds) {
    List<List<Fault>> out = new ArrayList<>();
    for (int r = 0; r < rounds; r++) {
      out.add(new ArrayList<>());
    }
    for (Fault f : shuffled(random)) {
      List<Integer> candidates = new ArrayList<>();
      int fewest = Integer.MAX_VALUE;
      for (int r = 0; r < rounds; r++) {
        List<Fault> round = out.get(r);
        if (round.size() < 3 && fits(round, f)) {
          if (round.size() < fewest) {
            candidates.clear();
            fewest = round.size();
          }
          if (round.size() == fewest) {
            candidates.add(r);
          }
        }
      }
      if (!candidates.isEmpty()) {
        out.get(candidates.get(random.nextInt(candidates.size()))).add(f);
      }
    }
    List<Fault> deck = new ArrayList<>();
    for (List<Fault> round : out) {
      Collections.shuffle(round, random);
      int size = Math.max(round.size(), 1 + random.nextInt(3));
      if (deck.size() < 8) {
        deck.addAll(shuffled(random));
      }
      for (Iterator<Fault> it = deck.iterator(); it.hasNext() && round.size() < size; ) {
        Fault f = it.next();
        if (fits(round, f)) {
          round.add(f);
          it.remove();
        }
      }
    }
    return out;
  }

  private static boolean fits(List<Fault> round, Fault f) {
    long sk = round.stream().filter(Fault::onSafekeeper).count();
    return (!f.onSafekeeper() || sk < 3)
        && (!f.onPageserver() || round.stream().noneMatch(Fault::onPageserver))
        && (!f.onCompute() || round.stream().noneMatch(Fault::onCompute))
        && (f != Fault.SK_WIPE || !round.contains(Fault.SK_WIPE));
  }

  private static List<Fault> shuffled(Random random) {
    List<Fault> all = new ArrayList<>(List.of(Fault.values()));
    Collections.shuffle(all, random);
    return all;
  }

  // ---------------------------------------------------------------------------------------------- a round

  private void runRound(List<Fault> faults) throws Exception {
    int ackedAtStart = acks.size();
    log("event=chaos_round_start round=" + round + " faults=" + faults.stream().map(Fault::label).collect(Collectors.joining(","))
        + " generation=" + current.generation() + " acknowledged=" + ackedAtStart);
    List<String> freeSafekeepers = new ArrayList<>(storage.safekeeperIds());
    Collections.shuffle(freeSafekeepers, random);
    List<Runnable> heals = new ArrayList<>();
    Map<Runnable, String> safekeeperHeals = new java.util.LinkedHashMap<>(); // heal → "kind target"
    boolean computeDown = false;
    Map<String, Long> wiped = new java.util.LinkedHashMap<>(); // safekeeper → its refused votes before the wipe
    for (Fault f : faults) {
      sleep(200 + random.nextInt(1300)); // the load runs between faults
      switch (f) {
        case SK_KILL -> {
          String id = freeSafekeepers.removeFirst();
          long pid = storage.safekeeperPid(id);
          storage.killSafekeeper(id);
          verify(!storage.isSafekeeperRunning(id) && ProcessHandle.of(pid).isEmpty(), f, id + " is still alive");
          fault(f, id, "pid=" + pid + " verified=dead");
          heals.add(() -> restartSafekeeper(id));
        }
        case SK_PAUSE -> {
          String id = freeSafekeepers.removeFirst();
          storage.pauseSafekeeper(id);
          verify(awaitTrue(() -> storage.isSafekeeperPaused(id)), f, id + " did not stop");
          fault(f, id, "pid=" + storage.safekeeperPid(id) + " verified=stopped");
          heals.add(() -> {
            storage.resumeSafekeeper(id);
            verify(awaitTrue(() -> !storage.isSafekeeperPaused(id)), f, id + " did not continue");
            log("event=chaos_heal round=" + round + " kind=sk_resume target=" + id);
          });
        }
        case SK_POWER_CUT -> {
          String id = freeSafekeepers.removeFirst();
          String report = storage.powerCutSafekeeper(id);
          verify(!storage.isSafekeeperRunning(id) && report.contains("cut="), f, id + ": " + report);
          fault(f, id, "verified=cut " + report);
          heals.add(() -> restartSafekeeper(id));
        }
        case SK_WIPE -> {
          String id = freeSafekeepers.removeFirst();
          storage.killSafekeeper(id);
          storage.wipeSafekeeper(id);
          try (var left = Files.list(storage.safekeeperDataDir(id))) {
            verify(left.findAny().isEmpty(), f, id + "'s data directory is not empty");
          }
          fault(f, id, "verified=wiped data_dir=" + storage.safekeeperDataDir(id));
          wiped.put(id, storage.refusedVotes(id));
          heals.add(() -> restartSafekeeper(id));
        }
        case PAGESERVER_KILL -> {
          long pid = storage.pageserverPid();
          storage.killPageserver();
          verify(ProcessHandle.of(pid).isEmpty(), f, "the pageserver is still alive");
          fault(f, "pageserver", "pid=" + pid + " verified=dead");
          heals.add(() -> {
            storage.startPageserver();
            log("event=chaos_heal round=" + round + " kind=pageserver_restart target=pageserver pid=" + storage.pageserverPid());
          });
        }
        case PAGESERVER_PAUSE -> {
          storage.pausePageserver();
          verify(awaitTrue(storage::isPageserverPaused), f, "the pageserver did not stop");
          fault(f, "pageserver", "pid=" + storage.pageserverPid() + " verified=stopped");
          heals.add(() -> {
            storage.resumePageserver();
            verify(awaitTrue(() -> !storage.isPageserverPaused()), f, "the pageserver did not continue");
            log("event=chaos_heal round=" + round + " kind=pageserver_resume target=pageserver");
          });
        }
        case COMPUTE_KILL -> {
          RunningCompute c = current;
          long pid = c.server().pid();
          c.kill();
          verify(!c.server().isRunning() && ProcessHandle.of(pid).isEmpty(), f, "PostgreSQL " + pid + " is still alive");
          fault(f, "compute-g" + c.generation(), "pid=" + pid + " verified=dead");
          computeDown = true;
        }
        case COMPUTE_PAUSE -> {
          RunningCompute c = current;
          List<Long> pids = computeProcesses(c);
          for (long pid : pids) {
            StorageProcesses.signal(pid, "STOP");
          }
          verify(awaitTrue(() -> pids.stream().allMatch(StorageProcesses::isStopped)), f, "PostgreSQL did not stop");
          fault(f, "compute-g" + c.generation(), "postmaster_pid=" + c.server().pid() + " processes=" + pids.size() + " verified=stopped");
          heals.add(() -> {
            for (long pid : pids) {
              StorageProcesses.signal(pid, "CONT");
            }
            verify(awaitTrue(() -> pids.stream().noneMatch(StorageProcesses::isStopped)), f, "PostgreSQL did not continue");
            log("event=chaos_heal round=" + round + " kind=compute_resume target=compute-g" + c.generation());
          });
        }
      }
      injected.merge(f, 1, Integer::sum);
      if (f.onSafekeeper()) {
        List<String> targets = new ArrayList<>(storage.safekeeperIds());
        targets.removeAll(freeSafekeepers);
        safekeeperHeals.put(heals.getLast(), f.label() + " " + targets.stream().filter(t -> !safekeeperHeals.values().stream()
            .anyMatch(v -> v.endsWith(" " + t))).findFirst().orElseThrow());
      }
    }
    sleep(1000 + random.nextInt(3000)); // every fault of the round holds together for a while

    // Restore, in random order: resume what is paused, start what is down; the compute last, with all storage up.
    // Half the rounds that hurt a safekeeper leave one of them down through the compute restart and the
    // takeover of the check: a start needs a majority, not every safekeeper, and must not wait for a paused one.
    // Not one beside a safekeeper wiped this round: a wiped one must not vote until it caught up from a compute,
    // so the one left down and the wiped one would leave a single voter, and no start could be elected.
    Runnable deferred = null;
    List<String> wipedNow = safekeeperHeals.values().stream().filter(v -> v.startsWith(Fault.SK_WIPE.label() + " "))
        .map(v -> v.substring(v.indexOf(' ') + 1)).toList();
    List<Runnable> candidates = safekeeperHeals.keySet().stream()
        .filter(h -> wipedNow.isEmpty() || wipedNow.contains(safekeeperHeals.get(h).substring(safekeeperHeals.get(h).indexOf(' ') + 1)))
        .toList();
    if (!candidates.isEmpty() && random.nextBoolean()) {
      deferred = candidates.get(random.nextInt(candidates.size()));
      heals.remove(deferred);
      log("event=chaos_heal_deferred round=" + round + " fault=\"" + safekeeperHeals.get(deferred)
          + "\" until=after_check");
    }
    Collections.shuffle(heals, random);
    for (Runnable heal : heals) {
      heal.run();
    }
    if (computeDown) {
      RunningCompute replacement = startCompute();
      RunningCompute dead = current;
      current = replacement;
      forget(dead);
      log("event=chaos_heal round=" + round + " kind=compute_restart target=compute-g" + replacement.generation());
    }
    awaitCommits(30, "commits go on once the faults of round " + round + " ended");
    check();
    if (deferred != null) {
      deferred.run();
    }
    awaitSafekeepersCaughtUp(current); // so the next round may wipe any one disk
    for (var w : wiped.entrySet()) {
      // Its first fence after the wipe found it empty: it must have refused to vote, not answered "no WAL".
      long refused = storage.refusedVotes(w.getKey());
      if (refused <= w.getValue()) {
        throw failure("round " + round + ": wiped " + w.getKey() + " caught up without ever refusing a vote (its log has no new "
            + "'vote=refused_no_wal'): did it vote with an empty answer?", null);
      }
      log("event=chaos_wipe_rejoined round=" + round + " target=" + w.getKey() + " refused_votes=" + (refused - w.getValue())
          + " caught_up=true");
    }
    log("event=chaos_round_end round=" + round + " generation=" + current.generation() + " acknowledged=" + acks.size()
        + " acknowledged_this_round=" + (acks.size() - ackedAtStart) + " lost=0 late_acks=0");
  }

  private void restartSafekeeper(String id) {
    storage.startSafekeeper(id);
    log("event=chaos_heal round=" + round + " kind=sk_restart target=" + id + " pid=" + storage.safekeeperPid(id));
  }

  /**
   * The checks: a fresh compute starts while the current one runs and takes commits (a new generation
   * takes over); every id acknowledged before its start returned must be in it, and no generation may have
   * acknowledged anything after a newer one's start returned. The fresh compute carries the load on.
   */
  private void check() throws Exception {
    RunningCompute old = current;
    RunningCompute fresh = startCompute();
    long returned = startReturned.get(fresh.generation());
    Set<Long> present = new HashSet<>(Sql.longs(fresh, "SELECT id FROM ledger_rows"));
    List<Long> missing = acks.values().stream().filter(a -> a.ackNanos() < returned && !present.contains(a.id()))
        .map(Ack::id).sorted().toList();
    current = fresh; // writers move over; the old compute is fenced and its writers blocked or broken
    sleep(1000); // the old compute keeps running a while: a broken fence would show as late acknowledgements
    forget(old);
    List<Ack> late = lateAcks();
    if (!missing.isEmpty() || !late.isEmpty()) {
      throw failure("round " + round + ": " + missing.size() + " acknowledged ids missing from generation " + fresh.generation()
          + (missing.isEmpty() ? "" : " (first " + missing.subList(0, Math.min(20, missing.size())) + ", acknowledged by generations "
          + missing.stream().map(id -> acks.get(id).generation()).distinct().sorted().toList() + ")")
          + "; " + late.size() + " ids acknowledged by a generation after a newer generation's start returned"
          + (late.isEmpty() ? "" : " (first " + late.subList(0, Math.min(20, late.size())) + ")"), null);
    }
    log("event=chaos_check round=" + round + " generation=" + fresh.generation() + " previous=" + old.generation()
        + " present=" + present.size() + " acknowledged_before_start=" + acks.values().stream().filter(a -> a.ackNanos() < returned).count()
        + " lost=0 late_acks=0");
  }

  /** Acks of generation g later than the return of the start of some generation above g. */
  private List<Ack> lateAcks() {
    TreeMap<Long, Long> firstStartAbove = new TreeMap<>(); // g → the earliest start return among generations > g
    long earliest = Long.MAX_VALUE;
    for (var e : new TreeMap<>(startReturned).descendingMap().entrySet()) {
      firstStartAbove.put(e.getKey(), earliest);
      earliest = Math.min(earliest, e.getValue());
    }
    long earliestOfAll = earliest;
    return acks.values().stream().filter(a -> {
      var floor = firstStartAbove.floorEntry(a.generation());
      long limit = floor == null ? earliestOfAll : floor.getValue();
      return a.ackNanos() > limit;
    }).sorted(Comparator.comparingLong(Ack::id)).toList();
  }

  // ---------------------------------------------------------------------------------------------- helpers

  private void write(int writer) {
    while (writing.get()) {
      RunningCompute c = current;
      try (Connection conn = c.connect("postgres");
           PreparedStatement ps = conn.prepareStatement("INSERT INTO ledger_rows VALUES (?, ?, repeat('x', 100))")) {
        while (writing.get() && current == c) {
          long id = nextId.getAndIncrement();
          ps.setLong(1, id);
          ps.setInt(2, writer);
          ps.executeUpdate(); // autocommit: returns once the commit was acknowledged (2 of 3 safekeepers)
          long at = System.nanoTime();
          acks.put(id, new Ack(id, c.generation(), at));
        }
      } catch (SQLException | RuntimeException e) {
        writerErrors.incrementAndGet(); // killed, fenced or replaced: reconnect to the current compute
        sleep(50);
      }
    }
  }

  /** Starts a compute, retrying while the storage engine recovers; records when the start returned. */
  private RunningCompute startCompute() {
    long deadline = System.nanoTime() + RECOVERY_TIMEOUT.toNanos();
    for (int attempt = 1; ; attempt++) {
      Path dir = work.resolve("c" + (++computeCount));
      long began = System.nanoTime();
      try {
        RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), dir);
        long at = System.nanoTime();
        startReturned.put(c.generation(), at);
        computes.put(c, dir);
        log("event=chaos_compute_started round=" + round + " generation=" + c.generation() + " attempt=" + attempt + " ms="
            + (at - began) / 1_000_000);
        return c;
      } catch (Exception | Error e) {
        log("event=chaos_compute_start_failed round=" + round + " attempt=" + attempt + " error=\"" + oneLine(e) + "\"");
        deleteTree(dir);
        if (System.nanoTime() > deadline) {
          throw failure("round " + round + ": no compute start succeeded within " + RECOVERY_TIMEOUT + " after the faults ended", e);
        }
        sleep(2000);
      }
    }
  }

  private void forget(RunningCompute c) {
    c.kill();
    deleteTree(computes.remove(c)); // a long run starts hundreds of computes: keep the disk to the live ones
  }

  private void awaitCommits(int more, String what) {
    int target = acks.size() + more;
    if (!awaitTrue(() -> acks.size() >= target, RECOVERY_TIMEOUT)) {
      throw failure("round " + round + ": " + what + ": no " + more + " commits acknowledged within " + RECOVERY_TIMEOUT
          + " (acknowledged " + acks.size() + ", writer errors " + writerErrors.get() + ")", null);
    }
  }

  /** Every safekeeper follows {@code c} and holds its WAL up to now: a wiped one rejoined and caught up. */
  private void awaitSafekeepersCaughtUp(RunningCompute c) throws Exception {
    Lsn target = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_flush_lsn()"));
    Map<String, TimelineWalStatus> last = new ConcurrentHashMap<>();
    boolean ok = awaitTrue(() -> storage.safekeeperIds().stream().allMatch(id -> {
      storage.safekeeperStatus(id, tenant.tenantId(), tenant.rootTimelineId()).ifPresent(s -> last.put(id, s));
      return storage.followsUpTo(id, tenant.tenantId(), tenant.rootTimelineId(), c.generation(), c.pgTli(), target);
    }), RECOVERY_TIMEOUT);
    if (!ok) {
      throw failure("round " + round + ": the safekeepers did not all follow generation " + c.generation() + " up to " + target
          + " within " + RECOVERY_TIMEOUT + ": " + last, null);
    }
    log("event=chaos_caught_up round=" + round + " generation=" + c.generation() + " flush_lsn=" + target + " safekeepers="
        + last.values().stream().map(s -> s.safekeeperId() + "@" + s.flushLsn()).sorted().collect(Collectors.joining(",")));
  }

  private static List<Long> computeProcesses(RunningCompute c) {
    ProcessHandle postmaster = ProcessHandle.of(c.server().pid()).orElseThrow(() -> new IllegalStateException("PostgreSQL is gone"));
    List<Long> pids = new ArrayList<>();
    pids.add(postmaster.pid());
    postmaster.descendants().forEach(p -> pids.add(p.pid()));
    return pids;
  }

  private void fault(Fault f, String target, String detail) {
    log("event=chaos_fault round=" + round + " kind=" + f.label() + " target=" + target + " " + detail);
  }

  private void verify(boolean happened, Fault f, String detail) {
    if (!happened) {
      throw failure("round " + round + ": fault " + f.label() + " did not happen: " + detail, null);
    }
  }

  private ChaosFailure failure(String what, Throwable cause) {
    String message = "chaos run failed (seed=" + seed + ", replay with " + replay() + "): " + what;
    log("event=chaos_failed seed=" + seed + " round=" + round + " detail=\"" + what.replace('"', '\'') + "\"");
    return new ChaosFailure(message, cause);
  }

  private String replay() {
    return "-Dchaos.seed=" + seed + " -Dchaos.rounds=" + rounds + " or bench/run chaos --seed " + seed + " --rounds " + rounds;
  }

  private String faultSummary() {
    return injected.entrySet().stream().map(e -> e.getKey().label() + ":" + e.getValue()).collect(Collectors.joining(","));
  }

  public Map<Fault, Integer> faultsInjected() {
    return Collections.unmodifiableMap(injected);
  }

  private void log(String line) {
    out.println(java.time.Instant.now() + " " + line);
    out.flush();
  }

  private static boolean awaitTrue(BooleanSupplier condition) {
    return awaitTrue(condition, SIGNAL_TIMEOUT);
  }

  private static boolean awaitTrue(BooleanSupplier condition, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (condition.getAsBoolean()) {
        return true;
      }
      sleep(100);
    }
    return condition.getAsBoolean();
  }

  private static String oneLine(Throwable e) {
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    return (e.getClass().getSimpleName() + ": " + (nl < 0 ? m : m.substring(0, nl))).replace('"', '\'');
  }

  private static void deleteTree(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (var files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException | RuntimeException e) {
      // best effort: the run's temporary directory goes at the end anyway
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}

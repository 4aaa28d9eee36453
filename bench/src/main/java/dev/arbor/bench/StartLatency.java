package dev.arbor.bench;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.RedoRange;
import dev.arbor.storage.StorageMain;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Compute start to first query, without and with images made from WAL (issue 11): a new branch of a
 * database of {@code --db-mb}, and the root after {@code --churn-mb} of WAL from updates of the same rows
 * (the case images must make flat). Each side runs on a storage engine of its own with the same load.
 */
final class StartLatency {
  private static final long MIB = 1024 * 1024;

  private StartLatency() {}

  static void run(Options o) throws Exception {
    int dbMb = o.integer("db-mb", 100);
    int churnMb = o.integer("churn-mb", 1024);
    List<String> sides = new ArrayList<>(List.of("0"));
    sides.addAll(List.of(o.string("threshold", "256MiB").split(","))); // several to compare: 64MiB,256MiB,1GiB
    System.out.println("| images | database | WAL churned | new branch: start to first query | its WAL replayed "
        + "| main after churn: start to first query | its WAL replayed | images made | time making them |");
    System.out.println("|---|---|---|---|---|---|---|---|---|");
    for (String side : sides) {
      System.out.println(measure(side, dbMb, churnMb));
    }
    System.out.println("machine: " + Machine.describe());
  }

  private static String measure(String threshold, int dbMb, int churnMb) throws Exception {
    try (var storage = new StorageProcesses(3).withImageThreshold(threshold).start(); var work = TempDirectory.create("arbor-start-")) {
      TenantInfo tenant = storage.createTenant(15);
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();
      long churned;
      try (RunningCompute c = Computes.start(storage, t, main, work.resolve("load"))) {
        long rows = load(c, dbMb);
        Lsn start = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_lsn()"));
        Lsn now = start;
        long hot = Math.max(1, rows / 20); // the same 5% of the rows, again and again
        while (now.value() - start.value() < churnMb * MIB) {
          Sql.exec(c, "UPDATE items SET n = n + 1 WHERE id <= " + hot);
          now = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_lsn()"));
        }
        churned = now.value() - start.value();
      }
      if (!threshold.equals("0")) {
        awaitImages(storage, t, main, StorageMain.bytes(threshold, "threshold"), Duration.ofMinutes(20));
      }
      TimelineInfo branch = storage.branch(t, main, null);
      String branchStart = startToFirstQuery(storage, t, branch.timelineId(), work.resolve("branch"));
      String mainStart = startToFirstQuery(storage, t, main, work.resolve("main"));
      return "| " + (threshold.equals("0") ? "none" : "every " + threshold) + " | " + dbMb + " MB | " + churned / MIB + " MB | "
          + branchStart + " | " + mainStart + " | " + imagesMade(storage) + " |";
    }
  }

  /**
   * Creates {@code items} (id, n, pad) of about {@code dbMb} MiB with its primary key, fillfactor 90;
   * returns its number of rows.
   */
  static long load(RunningCompute c, int dbMb) throws Exception {
    Sql.exec(c, "CREATE TABLE items (id bigint PRIMARY KEY, n bigint, pad text) WITH (fillfactor = 90)");
    long rows = dbMb * MIB / 150; // ~150 bytes a row with its index entry
    for (long from = 1; from <= rows; from += 200_000) {
      Sql.exec(c, "INSERT INTO items SELECT g, 0, repeat('x', 100) FROM generate_series(" + from + ", "
          + Math.min(rows, from + 199_999) + ") g");
    }
    return rows;
  }

  /** "N.N s | M MB": from the start call to the answer of a query, and the WAL PostgreSQL replayed. */
  private static String startToFirstQuery(StorageProcesses storage, TenantId t, TimelineId timeline, Path work) throws Exception {
    long t0 = System.nanoTime();
    try (RunningCompute c = Computes.start(storage, t, timeline, work)) {
      Sql.one(c, "SELECT count(*) FROM items WHERE id = 1");
      double seconds = (System.nanoTime() - t0) / 1e9;
      long replayed = c.redo().map(RedoRange::bytes).orElse(0L);
      return String.format("%.1f s | %d MB", seconds, replayed / MIB);
    }
  }

  /** Seconds from the start call to the answer of a first query. */
  static double secondsToFirstQuery(StorageProcesses storage, TenantId t, TimelineId timeline, Path work) throws Exception {
    long t0 = System.nanoTime();
    try (RunningCompute c = Computes.start(storage, t, timeline, work)) {
      Sql.one(c, "SELECT count(*) FROM items WHERE id = 1");
      return (System.nanoTime() - t0) / 1e9;
    }
  }

  /** "N | T s": the images the pageserver made and the time it spent on them, from its event=image_made lines. */
  private static String imagesMade(StorageProcesses storage) throws Exception {
    Pattern duration = Pattern.compile("event=image_made .* duration_ms=(\\d+)");
    long count = 0;
    long ms = 0;
    for (String line : Files.readAllLines(storage.directory().resolve("logs/pageserver.log"))) {
      Matcher m = duration.matcher(line);
      if (m.find()) {
        count++;
        ms += Long.parseLong(m.group(1));
      }
    }
    return String.format("%d | %.1f s", count, ms / 1000.0);
  }

  /** Until the pageserver has no image left to make (the rule of ImageService's scheduler). */
  private static void awaitImages(StorageProcesses storage, TenantId t, TimelineId timeline, long threshold, Duration timeout)
      throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      TimelineInfo info = storage.timeline(t, timeline);
      if (info.latestImageLsn() != null && info.lastDurableLsn().value() - info.latestImageLsn().value() < threshold) {
        return;
      }
      Thread.sleep(1000);
    }
    throw new IllegalStateException("the pageserver did not catch up with images within " + timeout);
  }
}

package dev.arbor.bench;

import dev.arbor.api.pageserver.ImageMade;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Object-store bytes of branches that share most pages (issue 11): a database of {@code --db-mb}, imaged;
 * then {@code --branches} branches of main, each updating its own {@code --change-pct} of the rows and
 * imaged. Images are content-addressed chunks, so each branch's image should add about what it changed.
 */
final class BranchStorage {
  private static final long MIB = 1024 * 1024;

  private BranchStorage() {}

  static void run(Options o) throws Exception {
    int dbMb = o.integer("db-mb", 1024);
    int branches = o.integer("branches", 10);
    int changePct = o.integer("change-pct", 1);
    try (var storage = new StorageProcesses(3).withImageThreshold("0").start(); var work = TempDirectory.create("arbor-branches-")) {
      TenantInfo tenant = storage.createTenant(15);
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();
      long rows;
      long databaseBytes;
      long tableBytes;
      try (RunningCompute c = Computes.start(storage, t, main, work.resolve("load"))) {
        rows = StartLatency.load(c, dbMb);
        databaseBytes = Long.parseLong(Sql.one(c, "SELECT pg_database_size(current_database())"));
        tableBytes = Long.parseLong(Sql.one(c, "SELECT pg_total_relation_size('items')"));
      }
      ImageMade root = storage.makeImage(t, main);
      System.out.printf("main: %d rows, database %d MiB (items with index %d MiB), image %d MiB in %d chunks, made in %.1f s%n",
          rows, databaseBytes / MIB, tableBytes / MIB, root.bytes() / MIB, root.chunks(), root.durationMs() / 1000.0);
      Bytes before = Bytes.of(storage.objectStore());
      System.out.println(before.row("after main's image"));
      System.out.println("| branch | rows changed | its image | new chunks | new bytes | made in |");
      System.out.println("|---|---|---|---|---|---|");
      long perBranch = rows * changePct / 100;
      long changedBytes = 0;
      for (int i = 0; i < branches; i++) {
        TimelineInfo branch = storage.branch(t, main, null);
        long from = 1 + i * perBranch; // each branch its own rows, spread over the table as their ids are
        try (RunningCompute c = Computes.start(storage, t, branch.timelineId(), work.resolve("b" + i))) {
          Sql.exec(c, "UPDATE items SET n = n + 1 WHERE id BETWEEN " + from + " AND " + (from + perBranch - 1));
          // the pages of the updated rows, and the pages their new versions (and index entries) took
          long grown = Long.parseLong(Sql.one(c, "SELECT pg_total_relation_size('items')")) - tableBytes;
          changedBytes += tableBytes * changePct / 100 + Math.max(0, grown);
        }
        ImageMade made = storage.makeImage(t, branch.timelineId());
        System.out.printf("| %d | %d | %d MiB | %d | %d MiB | %.1f s |%n", i + 1, perBranch, made.bytes() / MIB, made.newChunks(),
            made.newBytes() / MIB, made.durationMs() / 1000.0);
      }
      Bytes after = Bytes.of(storage.objectStore());
      System.out.println(after.row("after " + branches + " branches, each imaged"));
      long target = (long) (1.1 * (databaseBytes + changedBytes));
      System.out.printf("images (chunks and manifests): %d MiB; target 1.1 x (database %d MiB + changed %d MiB) = %d MiB: %.2f x%n",
          after.images() / MIB, databaseBytes / MIB, changedBytes / MIB, target / MIB,
          after.images() / (double) (databaseBytes + changedBytes));
    }
    System.out.println("machine: " + Machine.describe());
  }

  /** Object-store bytes by kind, from the layout of ObjectKeys. */
  record Bytes(long chunks, long manifests, long wal, long other) {
    long images() {
      return chunks + manifests;
    }

    String row(String when) {
      return String.format("%s: chunks %d MiB, image manifests %d KiB, WAL %d MiB, other %d KiB", when, chunks / MIB,
          manifests / 1024, wal / MIB, other / 1024);
    }

    static Bytes of(Path store) {
      long[] sums = new long[4];
      try (var files = Files.walk(store)) {
        files.filter(Files::isRegularFile).forEach(p -> {
          String key = store.relativize(p).toString();
          int kind = key.contains("/chunks/") ? 0 : key.contains("/images/") ? 1 : key.contains("/wal/") ? 2 : 3;
          try {
            sums[kind] += Files.size(p);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return new Bytes(sums[0], sums[1], sums[2], sums[3]);
    }
  }
}

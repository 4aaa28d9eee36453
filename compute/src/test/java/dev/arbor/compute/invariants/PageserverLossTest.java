package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.pageserver.ImageMade;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Issue 11, item 4: a pageserver with nothing of its own to lose. Everything it serves is rebuilt from object
 * storage and the safekeepers, so a pageserver SIGKILLed with its work directory deleted is replaced by a new
 * one on another port, with an empty work directory, that serves every tenant, timeline, branch and image
 * (initdb's and one made from WAL), and computes start on main and on every branch —
 * a branch at an LSN of an older generation of main exactly as main was at that LSN.
 */
class PageserverLossTest {

  @Test
  void aNewPageserverOnAnotherPortWithAnEmptyWorkDirectoryServesEverything() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-ps-loss-")) {
      TenantInfo tenant = storage.createTenant(15);
      TenantInfo other = storage.createTenant(15);
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();

      // Main's first generation; the old LSN lies on its TLI, which a restart of the endpoint ends.
      String oldLsn;
      try (RunningCompute first = Computes.start(storage, t, main, work.resolve("main-1"))) {
        Sql.exec(first, "CREATE TABLE items (id int PRIMARY KEY, src text)");
        Sql.exec(first, "INSERT INTO items SELECT g, 'first' FROM generate_series(1, 300) g");
        oldLsn = Sql.one(first, "SELECT pg_current_wal_lsn()");
        Sql.exec(first, "INSERT INTO items SELECT g, 'first-later' FROM generate_series(301, 400) g");
        Sql.exec(first, "UPDATE items SET src = 'first-updated' WHERE id <= 50");
      }
      String secondLsn;
      Map<TimelineId, TimelineInfo> timelinesBefore;
      List<TenantInfo> tenantsBefore;
      TimelineInfo atOld;
      TimelineInfo atHead;
      ImageMade mainImage;
      try (RunningCompute second = Computes.start(storage, t, main, work.resolve("main-2"))) {
        Sql.exec(second, "INSERT INTO items SELECT g, 'second' FROM generate_series(1001, 1100) g");
        secondLsn = Sql.one(second, "SELECT pg_current_wal_lsn()");
        Sql.exec(second, "DELETE FROM items WHERE id BETWEEN 301 AND 320");

        atOld = storage.branch(t, main, oldLsn);
        atHead = storage.branch(t, main, null);
        try (RunningCompute onHead = Computes.start(storage, t, atHead.timelineId(), work.resolve("head-1"))) {
          assertThat(content(onHead)).isEqualTo("480 rows, 250 first, 80 first-later, 50 first-updated, 100 second");
          Sql.exec(onHead, "INSERT INTO items SELECT g, 'head' FROM generate_series(5001, 5040) g");
        }
        // The endpoint of the branch restarts too: the branch has generations of its own.
        try (RunningCompute onHead = Computes.start(storage, t, atHead.timelineId(), work.resolve("head-2"))) {
          Sql.exec(onHead, "DELETE FROM items WHERE src = 'second'");
        }

        // An image of main made from WAL, which the new pageserver must serve as well.
        for (int i = 0; i < 3; i++) {
          Sql.exec(second, "CREATE TABLE IF NOT EXISTS filler (n int); INSERT INTO filler VALUES (" + i + ")");
          Sql.exec(second, "SELECT pg_switch_wal()");
        }
        mainImage = storage.makeImage(t, main);

        tenantsBefore = sorted(storage.tenants());
        timelinesBefore = byId(storage.timelines(t));
        assertThat(timelinesBefore).hasSize(3);
        assertThat(timelinesBefore.get(main).startedGenerations()).isEqualTo(2);
        assertThat(timelinesBefore.get(atHead.timelineId()).startedGenerations()).isEqualTo(2);
        assertThat(timelinesBefore.get(main).latestImageLsn()).as("main's image from WAL").isEqualTo(mainImage.lsn());
        String oldUrl = storage.pageserverUrl();

        // The pageserver's pod is lost: process and disk. Main's compute runs on and commits without it.
        storage.killPageserver();
        java.nio.file.Path lostWorkDir = storage.pageserverWorkDir();
        storage.deletePageserverWorkDir();
        assertThat(lostWorkDir).doesNotExist();
        Sql.exec(second, "INSERT INTO items SELECT g, 'while-no-pageserver' FROM generate_series(2001, 2010) g");
        storage.replacePageserver();
        assertThat(storage.pageserverUrl()).isNotEqualTo(oldUrl);
        assertThat(storage.pageserverWorkDir()).isNotEqualTo(lostWorkDir);

        assertThat(sorted(storage.tenants())).isEqualTo(tenantsBefore).extracting(TenantInfo::tenantId)
            .containsExactlyInAnyOrder(t, other.tenantId());
        Map<TimelineId, TimelineInfo> timelinesAfter = byId(storage.timelines(t));
        assertThat(timelinesAfter.keySet()).isEqualTo(timelinesBefore.keySet());
        for (TimelineInfo before : timelinesBefore.values()) {
          TimelineInfo after = timelinesAfter.get(before.timelineId());
          assertThat(withoutHead(after)).as("timeline %s as the new pageserver serves it", before.timelineId())
              .isEqualTo(withoutHead(before));
          assertThat(after.walStatus()).isEqualTo("ok");
          assertThat(after.lastDurableLsn()).isNotNull().isGreaterThanOrEqualTo(before.lastDurableLsn());
        }
        assertThat(byId(storage.timelines(other.tenantId())).values()).extracting(TimelineInfo::latestImageLsn)
            .as("the other tenant's initdb image").doesNotContainNull();

        second.kill(); // main's endpoint restarts through the new pageserver
      }
      try (RunningCompute mainAgain = Computes.start(storage, t, main, work.resolve("main-3"))) {
        // Replay begins at the image's REDO point (after the checkpoint record itself when that is where REDO is).
        assertThat(mainAgain.redo().orElseThrow().start()).as("main starts from its image made before the loss")
            .isBetween(mainImage.redoLsn(), mainImage.lsn());
        assertThat(content(mainAgain)).isEqualTo("490 rows, 250 first, 80 first-later, 50 first-updated, 100 second, "
            + "10 while-no-pageserver");
        Sql.exec(mainAgain, "INSERT INTO items VALUES (9001, 'after-new-pageserver')");
      }
      try (RunningCompute onOld = Computes.start(storage, t, atOld.timelineId(), work.resolve("old-1"))) {
        assertThat(Lsn.parse(oldLsn)).isEqualTo(atOld.ancestorLsn());
        assertThat(content(onOld)).as("the branch at %s, on main's first TLI", oldLsn).isEqualTo("300 rows, 300 first");
      }
      try (RunningCompute onHead = Computes.start(storage, t, atHead.timelineId(), work.resolve("head-3"))) {
        assertThat(content(onHead)).isEqualTo("420 rows, 250 first, 80 first-later, 50 first-updated, 40 head");
      }
      // A new branch at an old LSN of main's second generation is exact too.
      TimelineInfo atSecond = storage.branch(t, main, secondLsn);
      try (RunningCompute onSecond = Computes.start(storage, t, atSecond.timelineId(), work.resolve("second-1"))) {
        assertThat(content(onSecond)).isEqualTo("500 rows, 250 first, 100 first-later, 50 first-updated, 100 second");
      }
    }
  }

  /** A timeline's identity, ancestry, generations and images: all but the durable head, which moves on. */
  private static TimelineInfo withoutHead(TimelineInfo i) {
    return new TimelineInfo(i.tenantId(), i.timelineId(), i.ancestorTimelineId(), i.ancestorLsn(), i.pgVersion(), i.state(),
        i.createdLsn(), null, i.latestImageLsn(), i.currentPgTli(), i.startedGenerations(), null, i.createdAt());
  }

  private static Map<TimelineId, TimelineInfo> byId(List<TimelineInfo> timelines) {
    return timelines.stream().collect(Collectors.toMap(TimelineInfo::timelineId, i -> i));
  }

  private static List<TenantInfo> sorted(List<TenantInfo> tenants) {
    return tenants.stream().sorted(Comparator.comparing(i -> i.tenantId().toString())).toList();
  }

  /** "N rows, <count> <src>, ..." with sources in alphabetical order. */
  private static String content(RunningCompute c) throws Exception {
    String total = Sql.one(c, "SELECT count(*) FROM items");
    String bySource = Sql.one(c, "SELECT string_agg(n || ' ' || src, ', ' ORDER BY src) FROM "
        + "(SELECT src, count(*) n FROM items GROUP BY src) s");
    return total + " rows, " + bySource;
  }
}

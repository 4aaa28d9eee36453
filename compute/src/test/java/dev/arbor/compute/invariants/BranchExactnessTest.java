package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Invariants 2 and 3: a branch at LSN L sees exactly what its parent had committed at L — including when a
 * concurrent commit record begins exactly at L — writes on a branch never reach its parent or siblings,
 * branches nest, computes restart in any order (PostgreSQL TLI numbers then repeat on parent and child),
 * and creating a branch copies no data.
 */
class BranchExactnessTest {

  @Test
  void branchesSeeExactlyTheirParentsCommitsAtTheirLsnAndNothingElse() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-branch-")) {
      TenantInfo tenant = storage.createTenant(15);
      TimelineId main = tenant.rootTimelineId();
      RunningCompute parent = Computes.start(storage, tenant.tenantId(), main, work.resolve("main-1"));
      Sql.exec(parent, "CREATE TABLE items (id int PRIMARY KEY, src text)");
      Sql.exec(parent, "INSERT INTO items SELECT g, 'main' FROM generate_series(1, 500) g");
      String afterCommit = Sql.one(parent, "SELECT pg_current_wal_lsn()");

      String commitStart = concurrentCommitBeginningExactlyAtCapturedLsn(parent);

      Sql.exec(parent, "INSERT INTO items SELECT g, 'main-later' FROM generate_series(2001, 2100) g");
      Sql.exec(parent, "UPDATE items SET src = 'updated' WHERE id <= 10");

      long before = storage.objectStoreBytes();
      TimelineInfo b0 = storage.branch(tenant.tenantId(), main, afterCommit);
      assertThat(storage.objectStoreBytes() - before).as("a branch is metadata only").isLessThan(64 * 1024);
      TimelineInfo edge = storage.branch(tenant.tenantId(), main, commitStart);
      assertThat(b0.ancestorLsn()).isEqualTo(Lsn.parse(afterCommit));

      RunningCompute onB0 = Computes.start(storage, tenant.tenantId(), b0.timelineId(), work.resolve("b0-1"));
      assertThat(content(onB0)).isEqualTo("500 rows, 500 main");
      try (RunningCompute onEdge = Computes.start(storage, tenant.tenantId(), edge.timelineId(), work.resolve("edge"))) {
        // The concurrent transaction's commit record begins exactly at the branch LSN: not on the branch.
        assertThat(content(onEdge)).isEqualTo("500 rows, 500 main");
        Sql.exec(onEdge, "INSERT INTO items VALUES (9001, 'edge')");
      }

      // Writes on a branch reach neither its parent nor a sibling.
      Sql.exec(onB0, "INSERT INTO items SELECT g, 'b0' FROM generate_series(3001, 3050) g");
      assertThat(content(parent)).isEqualTo("611 rows, 11 concurrent, 490 main, 100 main-later, 10 updated");
      String b0Head = Sql.one(onB0, "SELECT pg_current_wal_lsn()");

      // A branch of a branch of a branch.
      TimelineInfo b00 = storage.branch(tenant.tenantId(), b0.timelineId(), b0Head);
      String b00Head;
      try (RunningCompute onB00 = Computes.start(storage, tenant.tenantId(), b00.timelineId(), work.resolve("b00"))) {
        assertThat(content(onB00)).isEqualTo("550 rows, 50 b0, 500 main");
        Sql.exec(onB00, "INSERT INTO items SELECT g, 'b00' FROM generate_series(4001, 4020) g");
        b00Head = Sql.one(onB00, "SELECT pg_current_wal_lsn()");
      }
      TimelineInfo b000 = storage.branch(tenant.tenantId(), b00.timelineId(), b00Head);
      try (RunningCompute onB000 = Computes.start(storage, tenant.tenantId(), b000.timelineId(), work.resolve("b000"))) {
        assertThat(content(onB000)).isEqualTo("570 rows, 50 b0, 20 b00, 500 main");
      }
      assertThat(content(onB0)).isEqualTo("550 rows, 50 b0, 500 main");

      // Restart parent and child in turn: TLIs now repeat across them, and nothing changes.
      parent.stop();
      onB0.stop();
      RunningCompute b0Again = Computes.start(storage, tenant.tenantId(), b0.timelineId(), work.resolve("b0-2"));
      RunningCompute parentAgain = Computes.start(storage, tenant.tenantId(), main, work.resolve("main-2"));
      try (b0Again; parentAgain) {
        assertThat(List.of(parentAgain.pgTli(), b0Again.pgTli())).as("TLIs of parent and child").doesNotHaveDuplicates();
        assertThat(content(b0Again)).isEqualTo("550 rows, 50 b0, 500 main");
        assertThat(content(parentAgain)).isEqualTo("611 rows, 11 concurrent, 490 main, 100 main-later, 10 updated");
        Sql.exec(parentAgain, "INSERT INTO items VALUES (5001, 'main-after-restart')");
        Sql.exec(b0Again, "INSERT INTO items VALUES (5002, 'b0-after-restart')");
      }
      try (RunningCompute b0Third = Computes.start(storage, tenant.tenantId(), b0.timelineId(), work.resolve("b0-3"))) {
        assertThat(content(b0Third)).isEqualTo("551 rows, 50 b0, 1 b0-after-restart, 500 main");
      }
    }
  }

  /**
   * Makes a transaction commit whose commit record starts exactly at an LSN read just before (checked with
   * pg_waldump; retried on the rare run where other WAL slipped in between) and returns that LSN.
   */
  private static String concurrentCommitBeginningExactlyAtCapturedLsn(RunningCompute c) throws Exception {
    for (int attempt = 0; attempt < 10; attempt++) {
      int base = 1001 + attempt * 100;
      try (Connection x = c.connect("postgres"); Connection reader = c.connect("postgres")) {
        x.setAutoCommit(false);
        String xid;
        try (Statement st = x.createStatement()) {
          st.execute("INSERT INTO items SELECT g, 'concurrent' FROM generate_series(" + base + ", " + (base + 10) + ") g");
          try (ResultSet rs = st.executeQuery("SELECT txid_current()")) {
            rs.next();
            xid = rs.getString(1);
          }
        }
        String lsn;
        try (Statement st = reader.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_current_wal_insert_lsn()")) {
          rs.next();
          lsn = rs.getString(1);
        }
        x.commit();
        if (commitRecordAt(c, lsn, xid)) {
          return lsn;
        }
        try (Statement st = x.createStatement()) { // another record came first: undo and try again
          st.execute("DELETE FROM items WHERE src = 'concurrent'");
          x.commit();
        }
      }
    }
    throw new AssertionError("could not place a commit record exactly at a captured LSN in 10 attempts");
  }

  private static boolean commitRecordAt(RunningCompute c, String lsn, String xid) throws Exception {
    var installation = c.server().installation();
    Process p = new ProcessBuilder(installation.binary("pg_waldump").toString(), "-p", c.server().dataDir().resolve("pg_wal").toString(),
        "-t", Integer.toString(c.pgTli()), "-s", lsn, "-n", "1").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(30, TimeUnit.SECONDS);
    // pg_waldump prints the LSN zero-padded (0/01771A38); compare values, not text.
    var m = java.util.regex.Pattern.compile("tx:\\s+(\\d+), lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: COMMIT").matcher(out);
    return m.find() && m.group(1).equals(xid) && Lsn.parse(m.group(2)).equals(Lsn.parse(lsn));
  }

  /** "N rows, <count> <src>, ..." with sources in alphabetical order. */
  private static String content(RunningCompute c) throws Exception {
    String total = Sql.one(c, "SELECT count(*) FROM items");
    String bySource = Sql.one(c, "SELECT string_agg(n || ' ' || src, ', ' ORDER BY src) FROM "
        + "(SELECT src, count(*) n FROM items GROUP BY src) s");
    return total + " rows, " + bySource;
  }
}

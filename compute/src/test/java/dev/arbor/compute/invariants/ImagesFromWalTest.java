package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.pageserver.ImageMade;
import dev.arbor.compute.start.ComputeSpec;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.start.RunningSnapshot;
import dev.arbor.compute.start.SnapshotStart;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.postgres.RedoRange;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Images made from WAL (ARCHITECTURE.md, "Images") never change what a start sees: a start at an LSN from the
 * newest image holds byte for byte the tables' contents that a start replaying all WAL from initdb holds, on
 * the root timeline and on a branch (whose image is made from its parent's history plus its own WAL).
 */
class ImagesFromWalTest {
  private static final long SEGMENT = Lsn.DEFAULT_SEGMENT_SIZE;

  @Test
  void aStartFromAnImageSeesExactlyWhatAFullReplaySees() throws Exception {
    try (var storage = new StorageProcesses(3).withImageThreshold("0").start(); var work = TempDirectory.create("arbor-images-")) {
      TenantInfo tenant = storage.createTenant(15);
      TimelineId main = tenant.rootTimelineId();
      String branchPoint;
      ImageMade image;
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), main, work.resolve("main-1"))) {
        Sql.exec(c, "CREATE TABLE items (id int PRIMARY KEY, src text, payload text)");
        Sql.exec(c, "CREATE TABLE wide (id int PRIMARY KEY, doc text)"); // TOASTed values
        Sql.exec(c, "INSERT INTO items SELECT g, 'main', md5(g::text) FROM generate_series(1, 20000) g");
        Sql.exec(c, "INSERT INTO wide SELECT g, repeat(md5(g::text), 400) FROM generate_series(1, 200) g");
        branchPoint = Sql.one(c, "SELECT pg_current_wal_lsn()");
        Sql.exec(c, "UPDATE items SET payload = 'updated' WHERE id % 7 = 0");
        Sql.exec(c, "DELETE FROM items WHERE id % 11 = 0");
        Sql.exec(c, "CREATE INDEX items_src ON items (src, id)");
        Sql.exec(c, "VACUUM items");
        Sql.exec(c, "CHECKPOINT"); // an image recovers to a restartpoint, made at a checkpoint record
        Sql.exec(c, "UPDATE items SET src = 'after-checkpoint' WHERE id % 13 = 0");
        // Made while the compute writes on: the image lies at the end of durable WAL at that moment.
        image = storage.makeImage(tenant.tenantId(), main);
        writeMore(c, "main-after-image");
      }
      Lsn mainEnd = storage.timeline(tenant.tenantId(), main).lastDurableLsn();
      assertThat(image.lsn()).isGreaterThan(Lsn.parse(branchPoint)).isLessThan(mainEnd);
      assertThat(image.redoLsn()).isLessThanOrEqualTo(image.lsn());
      String fullReplay = assertSameAsFullReplay(storage, tenant.tenantId(), main, image, mainEnd, work.resolve("main"));

      // A read-write start replays from the image's REDO point now, not from initdb.
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), main, work.resolve("main-2"))) {
        RedoRange redo = c.redo().orElseThrow(() -> new AssertionError("the start replayed no WAL, but WAL follows the image"));
        // At the image's REDO point, or right after the checkpoint record when REDO is the record itself.
        assertThat(redo.start()).as("replay starts from the image").isBetween(image.redoLsn(), image.lsn());
        assertThat(content(c)).isEqualTo(fullReplay);
      }

      // A branch: its first image comes from its parent's image-less history up to the branch point plus its own WAL.
      TimelineInfo branch = storage.branch(tenant.tenantId(), main, branchPoint);
      ImageMade branchImage;
      try (RunningCompute b = Computes.start(storage, tenant.tenantId(), branch.timelineId(), work.resolve("branch-1"))) {
        Sql.exec(b, "INSERT INTO items SELECT g, 'branch', md5(g::text) FROM generate_series(30001, 40000) g");
        Sql.exec(b, "UPDATE wide SET doc = doc || 'x' WHERE id <= 20");
        Sql.exec(b, "CHECKPOINT");
        Sql.exec(b, "DELETE FROM items WHERE id <= 100");
        branchImage = storage.makeImage(tenant.tenantId(), branch.timelineId());
        writeMore(b, "branch-after-image");
      }
      Lsn branchEnd = storage.timeline(tenant.tenantId(), branch.timelineId()).lastDurableLsn();
      assertThat(branchImage.lsn()).isGreaterThan(Lsn.parse(branchPoint)).isLessThan(branchEnd);
      String branchFull = assertSameAsFullReplay(storage, tenant.tenantId(), branch.timelineId(), branchImage, branchEnd,
          work.resolve("branch"));
      assertThat(branchFull).as("the branch has its own rows").contains("branch");
      // The branch's image shares the chunks that did not change with the images before it.
      assertThat(branchImage.newChunks()).isLessThan(branchImage.chunks());
    }
  }

  /**
   * Starts snapshots at the image's own LSN and at {@code end}, first from the image, then — with the image's
   * manifest moved aside, so the pageserver chooses an older image — by replaying all WAL since that one, and
   * compares them. Returns the content at {@code end}.
   */
  private static String assertSameAsFullReplay(StorageProcesses storage, TenantId tenant, TimelineId timeline,
      ImageMade image, Lsn end, Path work) throws Exception {
    String atImage = contentAt(storage, tenant, timeline, image.lsn(), work.resolve("image-at-image"));
    String atEnd = contentAt(storage, tenant, timeline, end, work.resolve("image-at-end"));
    Path manifest = storage.objectStore().resolve(ObjectKeys.image(tenant, timeline, image.lsn()));
    Path aside = manifest.resolveSibling("aside");
    Files.move(manifest, aside);
    try {
      assertThat(contentAt(storage, tenant, timeline, image.lsn(), work.resolve("full-at-image")))
          .as("at the image's LSN %s: from the image, then by full replay", image.lsn()).isEqualTo(atImage);
      assertThat(contentAt(storage, tenant, timeline, end, work.resolve("full-at-end")))
          .as("at %s: from the image, then by full replay", end).isEqualTo(atEnd);
    } finally {
      Files.move(aside, manifest);
    }
    assertThat(atImage).as("the image's LSN lies before the last writes").isNotEqualTo(atEnd);
    return atEnd;
  }

  /** Commits after the image: rows the image must not hold and a later start must. */
  private static void writeMore(RunningCompute c, String src) throws Exception {
    Sql.exec(c, "INSERT INTO items SELECT g, '" + src + "', 'x' FROM generate_series(50001, 50100) g");
    Sql.exec(c, "UPDATE items SET payload = '" + src + "' WHERE id % 17 = 0");
  }

  /** A read-only snapshot of the timeline at {@code lsn}, started from whatever basebackup the pageserver chooses. */
  private static String contentAt(StorageProcesses storage, TenantId tenant, TimelineId timeline, Lsn lsn, Path workDir)
      throws Exception {
    var spec = new ComputeSpec(tenant, timeline, storage.pageserverUrl(), Map.of(), PostgresInstallation.find(15), workDir,
        "127.0.0.1", FreePort.pick(), Map.of(), null, storage.computeTokens(tenant, timeline));
    try (RunningSnapshot snapshot = new SnapshotStart(spec, lsn).start();
         Connection conn = snapshot.server().connectLocal("postgres", "postgres", "images-test")) {
      return content(conn);
    }
  }

  private static String content(RunningCompute c) throws Exception {
    try (Connection conn = c.connect("postgres")) {
      return content(conn);
    }
  }

  /**
   * Every row of every table, as text in key order, read once by sequential scan and once through the indexes
   * (an image must carry indexes that match their tables).
   */
  private static String content(Connection conn) throws Exception {
    StringBuilder out = new StringBuilder();
    try (Statement st = conn.createStatement()) {
      out.append(one(st, "SELECT string_agg(t::text, E'\\n' ORDER BY id) FROM items t")).append('\n');
      out.append(one(st, "SELECT string_agg(t::text, E'\\n' ORDER BY id) FROM wide t")).append('\n');
      st.execute("SET enable_seqscan = off");
      st.execute("SET enable_bitmapscan = off");
      out.append(one(st, "SELECT string_agg(id::text, ',' ORDER BY src, id) FROM items WHERE src >= ''")).append('\n');
      out.append(one(st, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE id > 0")).append('\n');
    }
    return out.toString();
  }

  private static String one(Statement st, String sql) throws Exception {
    try (ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }
}

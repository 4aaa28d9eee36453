package dev.arbor.storage.pageserver;

import dev.arbor.api.pageserver.Basebackup;

import static dev.arbor.storage.pageserver.PageserverFixture.timelinePath;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.postgres.PostgresServer;
import dev.arbor.postgres.ServerUser;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.Problem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.image.SystemTar;
import dev.arbor.client.Json;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The start path (ARCHITECTURE.md): a basebackup is a tar of a PGDATA plus a recovery configuration whose
 * restore_command fetches WAL from this pageserver for this timeline, and PostgreSQL 15 really starts from
 * it — replaying the WAL it fetched with curl and promoting into a new TLI.
 *
 * <p>Tenant T has root {@code R} and the chain {@code R → B → BB}, all at initdb's end of WAL.
 */
class BasebackupTest {
  private static final String FIRST_SEGMENT = "000000010000000000000001";
  private static final long SEGMENT_SIZE = Lsn.DEFAULT_SEGMENT_SIZE;

  @RegisterExtension
  static final PageserverFixture pageserver = new PageserverFixture();

  private static TempDirectory computes;
  private static String tenant;
  private static String root;
  private static String b;
  private static String bb;
  private static String initdbEnd;

  @BeforeAll
  static void tenantAndBranches() {
    computes = TempDirectory.create("arbor-bb-");
    JsonNode t = pageserver.createTenant();
    tenant = t.get("tenant_id").asText();
    root = t.get("root_timeline_id").asText();
    initdbEnd = pageserver.timeline(tenant, root).get("created_lsn").asText();
    b = pageserver.createBranch(tenant, Map.of("ancestor_timeline_id", root)).get("timeline_id").asText();
    bb = pageserver.createBranch(tenant, Map.of("ancestor_timeline_id", b)).get("timeline_id").asText();
  }

  @AfterAll
  static void removeComputes() {
    if (computes != null) {
      computes.close();
    }
  }

  @Test
  void theRootsBasebackupIsAPgdataThatRecoversFromThisPageserver() throws IOException {
    DownloadedBasebackup backup = DownloadedBasebackup.fetch(pageserver.api(), tenant, root, "", pageserver.directory(), "root");

    assertThat(backup.reply().headers().firstValue("X-Arbor-Image-Lsn")).contains(initdbEnd);
    assertThat(backup.reply().headers().firstValue("X-Arbor-Target-Tli")).contains("1");
    assertThat(backup.paths()).contains("PG_VERSION", "global/pg_control", "recovery.signal", Basebackup.RECOVERY_CONF, "pg_wal/")
        .as("WAL comes through restore_command, never in the tar").noneMatch(p -> p.startsWith("pg_wal/") && !p.endsWith("/"));
    assertThat(Files.readString(backup.extracted().resolve("PG_VERSION"))).isEqualTo(PageserverFixture.PG_MAJOR + "\n");
    assertThat(Files.size(backup.extracted().resolve("recovery.signal"))).isZero();

    Map<String, String> settings = backup.recoverySettings();
    assertThat(settings.get("restore_command")).contains("\"" + walUrl(root) + "/%f\"", "%p");
    assertThat(settings).containsEntry("recovery_target_timeline", "1").containsEntry("recovery_target_action", "promote")
        .as("the end of WAL, not a point in the past").doesNotContainKeys("recovery_target_lsn", "recovery_target_inclusive");
  }

  /**
   * Every branch here is at the end of initdb's WAL. A start at a point in the past fetches WAL cut at that
   * point ({@code until_lsn}) instead of setting recovery_target_lsn, which fails when no record follows the
   * point (see {@link #postgresStartsFromABranchsBasebackupAtItsBranchPointAndPromotes}). Branch points
   * with WAL after them are covered with real computes in the compute module (BranchExactnessTest).
   */
  @Test
  void aBranchsBasebackupReplaysItsAncestorsWalThroughTheBranchUpToTheBranchPoint() {
    for (String branch : new String[] {b, bb}) {
      DownloadedBasebackup backup = DownloadedBasebackup.fetch(pageserver.api(), tenant, branch, "", pageserver.directory(), "branch-" + branch);
      assertThat(pageserver.timeline(tenant, branch).get("ancestor_lsn").asText()).isEqualTo(initdbEnd);

      assertThat(backup.reply().headers().firstValue("X-Arbor-Image-Lsn")).as("the root's image, through the ancestry").contains(initdbEnd);
      assertThat(backup.reply().headers().firstValue("X-Arbor-Target-Tli")).contains("1");
      assertThat(backup.paths()).contains("PG_VERSION", "global/pg_control", "recovery.signal", Basebackup.RECOVERY_CONF);
      Map<String, String> settings = backup.recoverySettings();
      assertThat(settings.get("restore_command")).as("WAL of the branch itself, cut at its branch point; the pageserver resolves its ancestry")
          .contains("\"" + walUrl(branch) + "/%f?until_lsn=" + initdbEnd + "\"");
      assertThat(settings).containsEntry("recovery_target_timeline", "1").containsEntry("recovery_target_action", "promote")
          .as("the cut WAL ends replay; no PostgreSQL target").doesNotContainKeys("recovery_target_lsn", "recovery_target_inclusive");
      var wal = Json.read(backup.recoveryWal().getBytes(StandardCharsets.UTF_8), Basebackup.RecoveryWal.class);
      assertThat(wal.walUrl()).isEqualTo(walUrl(branch) + "/%f?until_lsn=" + initdbEnd);
      assertThat(wal.files()).as("the image is at the branch point: only the segment of its checkpoint, where recovery begins")
          .containsExactly("000000010000000000000001");
    }
    DownloadedBasebackup explicit = DownloadedBasebackup.fetch(pageserver.api(), tenant, root, "lsn=" + initdbEnd, pageserver.directory(), "root-at-initdb-end");
    assertThat(explicit.recoverySettings()).containsEntry("recovery_target_timeline", "1").doesNotContainKey("recovery_target_lsn");
    assertThat(explicit.recoverySettings().get("restore_command")).contains("/%f?until_lsn=" + initdbEnd + "\"");
  }

  @Test
  void theWalEndpointServesTheRootsFirstSegmentAlsoThroughBranches() throws IOException {
    byte[] stored = Files.readAllBytes(pageserver.objectsRoot()
        .resolve(ObjectKeys.wal(new TenantId(tenant), new TimelineId(root), FIRST_SEGMENT)));

    for (String timeline : new String[] {root, b, bb}) {
      RawApi.Reply reply = pageserver.api().get(timelinePath(tenant, timeline) + "/wal/" + FIRST_SEGMENT);
      assertThat(reply.status()).as(reply.describe()).isEqualTo(200);
      assertThat(reply.contentType()).isEqualTo("application/octet-stream");
      assertThat(reply.body()).as("segment served for timeline %s", timeline).hasSize((int) SEGMENT_SIZE).isEqualTo(stored);
    }
    // Independently of our code: the first page header of PostgreSQL's segment 1 on TLI 1.
    ByteBuffer header = ByteBuffer.wrap(stored).order(ByteOrder.LITTLE_ENDIAN);
    assertThat(header.getShort(2) & 0x0002).as("xlp_info has XLP_LONG_HEADER").isNotZero();
    assertThat(header.getInt(4)).as("xlp_tli").isEqualTo(1);
    assertThat(header.getLong(8)).as("xlp_pageaddr").isEqualTo(SEGMENT_SIZE);
    assertThat(WalFileName.segment(1, Lsn.parse(initdbEnd).segmentNumber(SEGMENT_SIZE), SEGMENT_SIZE))
        .as("initdb's checkpoint lies in the first segment").isEqualTo(FIRST_SEGMENT);
  }

  /** A compute that kept its PGDATA asks for the recovery configuration of its start alone: no image bytes. */
  @Test
  void aKeptPgdatasStartGetsTheRecoveryConfigurationAlone() throws IOException {
    DownloadedBasebackup backup = DownloadedBasebackup.fetch(pageserver.api(), tenant, root,
        "pg_tli=1&end_lsn=" + initdbEnd + "&recovery_from=" + initdbEnd, pageserver.directory(), "root-recovery-only");

    assertThat(backup.paths()).containsExactlyInAnyOrder("recovery.signal", Basebackup.RECOVERY_CONF, Basebackup.RECOVERY_WAL);
    Map<String, String> settings = backup.recoverySettings();
    assertThat(settings.get("restore_command")).contains("\"" + walUrl(root) + "/%f?until_lsn=" + initdbEnd + "\"");
    assertThat(settings).containsEntry("recovery_target_timeline", "1").containsEntry("recovery_target_action", "promote");
  }

  @Test
  void aMissingWalFileIsANotFoundProblem() {
    String[][] missing = {
        {root, "000000010000000000000002"}, {root, "00000002.history"}, {root, "000000020000000000000001"},
        {b, "000000010000000000000002"}, {bb, "000000020000000000000001"}, {bb, "00000002.history"}};
    for (String[] m : missing) {
      String path = timelinePath(tenant, m[0]) + "/wal/" + m[1];
      RawApi.Reply reply = pageserver.api().get(path);
      assertThat(reply.status()).as(reply.describe()).isEqualTo(404);
      assertThat(reply.contentType()).isEqualTo("application/problem+json");
      Problem p = Json.read(reply.body(), Problem.class);
      assertThat(p.type()).isEqualTo(ApiProblem.TYPE_BASE + "wal-not-found");
      assertThat(p.field()).isEqualTo("file");
      assertThat(p.instance()).isEqualTo(path);
      assertThat(p.detail()).contains(m[1]);
    }
  }

  @Test
  void postgresStartsFromTheRootsBasebackupReplaysThroughRestoreCommandAndPromotes() throws Exception {
    try (PostgresServer server = startCompute(root, "root")) {
      awaitPromotion(server);
      assertThat(tliOfCurrentWal(server)).as("promoted into the TLI after initdb's").isEqualTo(2);
      assertThat(Files.readString(server.logFile()))
          .as("the segment holding the checkpoint came from the pageserver, since the tar has no WAL")
          .contains("restored log file \"" + FIRST_SEGMENT + "\" from archive");
      assertThat(server.psql("postgres", "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'postgres'")).isEqualTo("1");
    }
  }

  @Test
  void postgresStartsFromABranchsBasebackupAtItsBranchPointAndPromotes() throws Exception {
    try (PostgresServer server = startCompute(bb, "bb")) {
      awaitPromotion(server);
      assertThat(tliOfCurrentWal(server)).isEqualTo(2);
      assertThat(Files.readString(server.logFile())).contains("restored log file \"" + FIRST_SEGMENT + "\" from archive");
    }
  }

  /**
   * What a compute does with a basebackup: unpack it into an empty PGDATA of mode 0700, include the
   * recovery configuration from postgresql.conf, hand it to the PostgreSQL user, start PostgreSQL.
   */
  private static PostgresServer startCompute(String timeline, String name) throws IOException {
    Path dir = Files.createDirectory(computes.resolve(name));
    Path tar = dir.resolve("basebackup.tar");
    RawApi.Reply reply = pageserver.api().download(timelinePath(tenant, timeline) + "/basebackup", tar);
    assertThat(reply.status()).as(reply.describe()).isEqualTo(200);
    Path pgdata = Files.createDirectory(dir.resolve("pgdata"));
    SystemTar.extract(tar, pgdata);
    Files.writeString(pgdata.resolve("postgresql.conf"), "\ninclude_if_exists = '" + Basebackup.RECOVERY_CONF + "'\n",
        StandardOpenOption.APPEND);
    Files.setPosixFilePermissions(pgdata, PosixFilePermissions.fromString("rwx------"));
    ServerUser.current().handOver(computes.path());
    for (int attempt = 1; ; attempt++) {
      var server = PostgresServer.builder(PostgresInstallation.find(PageserverFixture.PG_MAJOR), pgdata).port(FreePort.pick())
          .socketDir(dir.resolve("s")).logFile(dir.resolve("postgres.log")).build();
      try {
        return server.start();
      } catch (IOException e) {
        // Another process may take the port we picked; any other failure is the test's answer.
        if (attempt == 3 || !Files.readString(server.logFile()).contains("could not bind")) {
          throw e;
        }
      }
    }
  }

  private static void awaitPromotion(PostgresServer server) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    String last = "no answer yet";
    while (System.nanoTime() < deadline) {
      assertThat(server.isRunning()).as("PostgreSQL is running; its log ends with:%n%s", server.logTail()).isTrue();
      try {
        last = server.psql("postgres", "postgres", "SELECT pg_is_in_recovery()");
        if (last.equals("f")) {
          return;
        }
      } catch (IOException notYet) {
        last = notYet.getMessage(); // no connections before recovery reaches a consistent state
      }
      Thread.sleep(200);
    }
    throw new AssertionError("PostgreSQL did not leave recovery within 2 minutes (last answer: " + last + "); its log ends with:\n"
        + server.logTail());
  }

  private static int tliOfCurrentWal(PostgresServer server) throws IOException {
    return WalFileName.timelineOf(server.psql("postgres", "postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())"));
  }

  private static String walUrl(String timeline) {
    return pageserver.url() + timelinePath(tenant, timeline) + "/wal";
  }
}

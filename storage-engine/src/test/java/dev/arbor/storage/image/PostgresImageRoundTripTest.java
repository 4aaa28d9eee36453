package dev.arbor.storage.image;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.postgres.Initdb;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.postgres.PostgresServer;
import dev.arbor.postgres.ServerUser;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Images of a real PostgreSQL 15 cluster: written from a cleanly stopped PGDATA, restored (through GNU tar
 * or directly into a directory) next to the WAL segment holding the shutdown checkpoint, and started. The
 * image itself carries no WAL, so the test copies the segments the way restore_command will fetch them.
 */
class PostgresImageRoundTripTest {

  private static final Logger log = LoggerFactory.getLogger(PostgresImageRoundTripTest.class);
  private static final int PG_MAJOR = 15;
  private static final int ROWS = 80_000; // about 10 MB of heap

  private static final TenantId tenant = TenantId.random();
  private static final TimelineId timeline = TimelineId.random();
  private static PostgresInstallation pg;
  private static TempDirectory dir;
  private static Path source;
  private static LocalObjectStore objects;
  private static Snapshot first;

  /** An image with what it takes to start it (the WAL at its LSN) and what it must contain. */
  record Snapshot(ImageWriter.Result written, Path wal, Fingerprint rows) {
    ImageManifest image() {
      return written.manifest();
    }
  }

  record Fingerprint(long rows, String md5) {}

  @BeforeAll
  static void writeFirstImage() throws Exception {
    pg = PostgresInstallation.find(PG_MAJOR);
    dir = TempDirectory.create("arbor-img-");
    ServerUser.current().handOver(dir.path()); // the server user must reach its data and socket dirs
    source = dir.resolve("source");
    Initdb.with(pg).superuser("postgres").authLocal("trust").authHost("trust").run(source);
    objects = new LocalObjectStore(dir.resolve("objects"));
    Fingerprint rows;
    try (PostgresServer server = start(source, "source")) {
      execute(server,
          "CREATE TABLE items (id int PRIMARY KEY, payload text NOT NULL)",
          "INSERT INTO items SELECT g, md5(g::text) || repeat('x', 60) FROM generate_series(1, " + ROWS + ") g",
          // Hint bits and freezing now: otherwise the first read after the image rewrites every page.
          "VACUUM (FREEZE, ANALYZE) items");
      rows = fingerprint(server);
    }
    first = snapshot(rows);
  }

  @AfterAll
  static void removeEverything() {
    if (dir != null) {
      dir.close();
    }
  }

  @Test
  void anImageStreamedAsTarStartsWithEveryRow() throws Exception {
    assertThat(first.rows().rows()).isEqualTo(ROWS);
    assertThat(restoreFromTar(first, "from-tar")).isEqualTo(first.rows());
  }

  @Test
  void runtimeFilesOfTheClusterAreNotInTheImage() throws Exception {
    assertThat(source.resolve("postmaster.opts")).as("left by the stopped server").exists();
    assertThat(source.resolve("global/pg_internal.init")).as("left by the stopped server").exists();
    try (Stream<Path> wal = Files.list(source.resolve("pg_wal"))) {
      assertThat(wal.filter(p -> p.getFileName().toString().matches("[0-9A-F]{24}"))).isNotEmpty();
    }

    List<String> paths = first.image().files().stream().map(ImageManifest.FileEntry::path).toList();
    assertThat(paths).contains("PG_VERSION", "global/pg_control", "postgresql.conf")
        .noneMatch(p -> p.startsWith("pg_wal/"))
        .noneMatch(p -> p.endsWith("pg_internal.init"))
        .doesNotContain("postmaster.opts", "postmaster.pid");
    assertThat(first.image().directories()).extracting(ImageManifest.DirectoryEntry::path)
        .contains("pg_wal", "pg_wal/archive_status");
  }

  @Test
  void aLaterImageStoresOnlyTheChangedChunksAndTheFirstStillRestores() throws Exception {
    Fingerprint changedRows;
    try (PostgresServer server = start(source, "source")) {
      execute(server, "UPDATE items SET payload = 'changed ' || id WHERE id IN (7, 8, 9, 40000, 79999)");
      changedRows = fingerprint(server);
    }
    Snapshot second = snapshot(changedRows);

    ImageWriter.Result written = second.written();
    log.info("event=dedupe total_bytes={} chunks={} new_chunks={} new_bytes={} first_image_bytes={}",
        written.totalBytes(), written.chunks(), written.newChunks(), written.newBytes(), first.written().totalBytes());
    assertThat(second.image().lsn()).isGreaterThan(first.image().lsn());
    assertThat(written.newChunks()).as("the update changed pages").isPositive();
    assertThat(written.newBytes()).as("new chunk bytes against the image's %d bytes", written.totalBytes())
        .isLessThan(written.totalBytes() / 10);

    assertThat(changedRows).isNotEqualTo(first.rows());
    assertThat(restoreByMaterializing(first, "first-again")).isEqualTo(first.rows());
    assertThat(restoreFromTar(second, "second")).isEqualTo(changedRows);
  }

  @Test
  void writingTheSamePgdataTwiceAddsNoChunks() throws Exception {
    TimelineId other = TimelineId.random();
    Lsn lsn = checkpointLsn(source);
    var writer = new ImageWriter(objects);
    ImageWriter.Result once = writer.write(tenant, other, lsn, PG_MAJOR, source);
    ImageWriter.Result twice = writer.write(tenant, other, lsn, PG_MAJOR, source);

    assertThat(twice.newChunks()).isZero();
    assertThat(twice.newBytes()).isZero();
    assertThat(twice.manifest().files()).isEqualTo(once.manifest().files());
  }

  private static Snapshot snapshot(Fingerprint rows) throws Exception {
    Lsn lsn = checkpointLsn(source);
    Path wal = Files.createDirectory(dir.resolve("wal-" + lsn.toString().replace('/', '-')));
    try (Stream<Path> files = Files.list(source.resolve("pg_wal"))) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        Files.copy(f, wal.resolve(f.getFileName()));
      }
    }
    return new Snapshot(new ImageWriter(objects).write(tenant, timeline, lsn, PG_MAJOR, source), wal, rows);
  }

  private static Fingerprint restoreFromTar(Snapshot snapshot, String name) throws Exception {
    Path archive = dir.resolve(name + ".tar");
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(archive))) {
      new ImageMaterializer(objects).writeTar(snapshot.image(), Map.of(), out);
    }
    Path restored = Files.createDirectory(dir.resolve(name));
    SystemTar.extract(archive, restored);
    return startAndFingerprint(snapshot, restored, name);
  }

  private static Fingerprint restoreByMaterializing(Snapshot snapshot, String name) throws Exception {
    Path restored = dir.resolve(name);
    new ImageMaterializer(objects).materialize(snapshot.image(), restored);
    return startAndFingerprint(snapshot, restored, name);
  }

  private static Fingerprint startAndFingerprint(Snapshot snapshot, Path pgdata, String name) throws Exception {
    try (Stream<Path> segments = Files.list(snapshot.wal())) {
      for (Path segment : segments.toList()) {
        Files.copy(segment, pgdata.resolve("pg_wal").resolve(segment.getFileName()));
      }
    }
    Files.setPosixFilePermissions(pgdata, PosixFilePermissions.fromString("rwx------"));
    ServerUser.current().handOver(pgdata);
    try (PostgresServer server = start(pgdata, name)) {
      return fingerprint(server);
    }
  }

  private static PostgresServer start(Path pgdata, String name) throws IOException {
    IOException last = null;
    for (int attempt = 0; attempt < 3; attempt++) { // another process may take the port we picked
      try {
        return PostgresServer.builder(pg, pgdata).port(FreePort.pick()).logFile(dir.resolve(name + ".log")).build().start();
      } catch (IOException e) {
        last = e;
      }
    }
    throw last;
  }

  private static void execute(PostgresServer server, String... statements) throws Exception {
    try (Connection c = server.connect("postgres", "postgres", null); Statement s = c.createStatement()) {
      for (String sql : statements) {
        s.execute(sql);
      }
    }
  }

  private static Fingerprint fingerprint(PostgresServer server) throws Exception {
    try (Connection c = server.connect("postgres", "postgres", null); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT count(*), md5(string_agg(id || ':' || payload, ',' ORDER BY id)) FROM items")) {
      rs.next();
      return new Fingerprint(rs.getLong(1), rs.getString(2));
    }
  }

  /** The shutdown checkpoint of a cleanly stopped cluster: the LSN its image stands for. */
  private static Lsn checkpointLsn(Path pgdata) throws IOException, InterruptedException {
    var builder = new ProcessBuilder(pg.binary("pg_controldata").toString(), "-D", pgdata.toString()).redirectErrorStream(true);
    builder.environment().put("LC_ALL", "C");
    Process p = builder.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(1, TimeUnit.MINUTES)).isTrue();
    assertThat(out).as("pg_controldata output").containsPattern("Database cluster state:\\s+shut down\\n");
    String location = out.lines().filter(l -> l.startsWith("Latest checkpoint location:")).findFirst().orElseThrow()
        .substring("Latest checkpoint location:".length()).strip();
    return Lsn.parse(location);
  }
}

package dev.arbor.storage.image;

import static dev.arbor.storage.image.FakePgdata.file;
import static dev.arbor.storage.image.TarWriterTest.randomBytes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.storage.objectstore.ObjectKeys;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageWriterTest {

  private static final int CHUNK = 8192;
  private static final Lsn LSN = Lsn.parse("0/3000028");

  @TempDir
  Path dir;

  private LocalObjectStore objects;
  private final TenantId tenant = TenantId.random();
  private final TimelineId timeline = TimelineId.random();

  @BeforeEach
  void setUp() throws IOException {
    objects = new LocalObjectStore(dir.resolve("objects"));
  }

  @Test
  void leavesOutRuntimeFilesButKeepsTheDirectoriesPostgresNeeds() throws Exception {
    Path pgdata = FakePgdata.create(dir.resolve("pgdata"));
    byte[] page = new byte[CHUNK];
    for (String kept : new String[] {"global/pg_control", "base/1/1259", "postgresql.auto.conf", "pg_stat/pgstat.stat"}) {
      file(pgdata, kept, page, 0600);
    }
    for (String runtime : new String[] {"postmaster.pid", "postmaster.opts", "standby.signal", "recovery.signal",
        "backup_label", "tablespace_map", "pg_wal/000000010000000000000001", "pg_wal/00000002.history",
        "pg_wal/archive_status/000000010000000000000001.done",
        "pg_wal/summaries/0000000100000000010000280000000001000100.summary", "pg_replslot/slot1/state", "pg_stat_tmp/global.stat",
        "pg_subtrans/0000", "pg_notify/0000", "global/pg_internal.init", "base/1/pg_internal.init",
        "base/1/pg_internal.init.4242", "base/pgsql_tmp/pgsql_tmp4242.0"}) {
      file(pgdata, runtime, page, 0600);
    }

    ImageManifest manifest = new ImageWriter(objects, CHUNK).write(tenant, timeline, LSN, 15, pgdata).manifest();

    assertThat(manifest.files()).extracting(ImageManifest.FileEntry::path).containsExactly(
        "PG_VERSION", "base/1/1259", "global/pg_control", "pg_stat/pgstat.stat", "postgresql.auto.conf");
    assertThat(manifest.directories()).extracting(ImageManifest.DirectoryEntry::path).containsExactly(
        "base", "base/1", "global", "pg_notify", "pg_replslot", "pg_stat", "pg_stat_tmp", "pg_subtrans", "pg_wal",
        "pg_wal/archive_status", "pg_wal/summaries");
  }

  @Test
  void symbolicLinksAreRefusedBecauseTablespacesAreNotSupported() throws Exception {
    Path pgdata = FakePgdata.create(dir.resolve("pgdata"));
    Files.createDirectories(pgdata.resolve("pg_tblspc"));
    Files.createSymbolicLink(pgdata.resolve("pg_tblspc/16384"), dir);

    assertThatThrownBy(() -> new ImageWriter(objects).write(tenant, timeline, LSN, 15, pgdata))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("'pg_tblspc/16384'")
        .hasMessageContaining("symbolic link");
    assertThat(objects.list(ObjectKeys.imagesPrefix(tenant, timeline))).isEmpty();
  }

  @Test
  void aPgdataOfAnotherMajorVersionIsRefused() throws Exception {
    Path pgdata = FakePgdata.create(dir.resolve("pgdata"));
    assertThatThrownBy(() -> new ImageWriter(objects).write(tenant, timeline, LSN, 17, pgdata))
        .hasMessageContaining("belongs to PostgreSQL 15");
    assertThatThrownBy(() -> new ImageWriter(objects).write(tenant, timeline, LSN, 15, dir))
        .hasMessageContaining("no PG_VERSION");
  }

  @Test
  void filesAreCutIntoFixedSizeChunksAndMaterializeExactly() throws Exception {
    Path pgdata = FakePgdata.create(dir.resolve("pgdata"));
    FakePgdata.directory(pgdata, "base/1", 0750);
    Map<String, byte[]> contents = Map.of(
        "base/1/empty", new byte[0],
        "base/1/one_byte", randomBytes(1),
        "base/1/one_chunk", randomBytes(CHUNK),
        "base/1/one_chunk_and_a_byte", randomBytes(CHUNK + 1),
        "base/1/three_chunks_and_a_tail", randomBytes(3 * CHUNK + 5));
    contents.forEach((path, bytes) -> {
      try {
        file(pgdata, path, bytes, path.endsWith("tail") ? 0400 : 0640);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });

    ImageWriter.Result result = new ImageWriter(objects, CHUNK).write(tenant, timeline, LSN, 15, pgdata);

    Map<String, ImageManifest.FileEntry> files = result.manifest().files().stream()
        .collect(Collectors.toMap(ImageManifest.FileEntry::path, Function.identity()));
    assertThat(files.get("base/1/empty").chunks()).isEmpty();
    assertThat(files.get("base/1/one_byte").chunks()).hasSize(1);
    assertThat(files.get("base/1/one_chunk").chunks()).hasSize(1);
    assertThat(files.get("base/1/one_chunk_and_a_byte").chunks()).hasSize(2);
    assertThat(files.get("base/1/three_chunks_and_a_tail").chunks()).hasSize(4);
    assertThat(files.get("base/1/three_chunks_and_a_tail").mode()).isEqualTo(0400);
    assertThat(result.totalBytes()).isEqualTo(3 + 1 + CHUNK + CHUNK + 1 + 3 * CHUNK + 5);
    assertThat(result.newBytes()).isEqualTo(result.totalBytes());

    Path restored = dir.resolve("restored");
    new ImageMaterializer(objects).materialize(result.manifest(), restored);
    for (var entry : contents.entrySet()) {
      assertThat(Files.readAllBytes(restored.resolve(entry.getKey()))).as(entry.getKey()).isEqualTo(entry.getValue());
      assertThat(FakePgdata.mode(restored.resolve(entry.getKey()))).as(entry.getKey())
          .isEqualTo(FakePgdata.mode(pgdata.resolve(entry.getKey())));
    }
    assertThat(FakePgdata.mode(restored.resolve("base/1"))).isEqualTo("rwxr-x---");
    assertThat(FakePgdata.mode(restored)).isEqualTo("rwx------");
  }

  @Test
  void chunksAreStoredOncePerTenant() throws Exception {
    Path pgdata = FakePgdata.create(dir.resolve("pgdata"));
    file(pgdata, "base/1/16384", randomBytes(10 * CHUNK), 0600);
    var writer = new ImageWriter(objects, CHUNK);

    ImageWriter.Result first = writer.write(tenant, timeline, LSN, 15, pgdata);
    ImageWriter.Result again = writer.write(tenant, timeline, LSN.plus(1), 15, pgdata);
    assertThat(first.newChunks()).isEqualTo(11);
    assertThat(again.newChunks()).isZero();
    assertThat(again.newBytes()).isZero();
    assertThat(again.chunks()).isEqualTo(first.chunks());

    // One page rewritten in place: one chunk changes.
    try (FileChannel ch = FileChannel.open(pgdata.resolve("base/1/16384"), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(randomBytes(100)), 4L * CHUNK + 17);
    }
    ImageWriter.Result changed = writer.write(tenant, timeline, LSN.plus(2), 15, pgdata);
    assertThat(changed.newChunks()).isEqualTo(1);
    assertThat(changed.newBytes()).isEqualTo(CHUNK);

    assertThat(writer.write(tenant, TimelineId.random(), LSN, 15, pgdata).newChunks())
        .as("another timeline of the tenant shares the chunks").isZero();
    assertThat(writer.write(TenantId.random(), timeline, LSN, 15, pgdata).newChunks())
        .as("another tenant shares nothing").isEqualTo(11);
  }
}

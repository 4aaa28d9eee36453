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
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageMaterializerTest {

  private static final int CHUNK = 8192;

  @TempDir
  Path dir;

  private LocalObjectStore objects;
  private ImageMaterializer materializer;
  private ImageManifest image;
  private final byte[] relation = randomBytes(3 * CHUNK + 100);

  @BeforeEach
  void writeImage() throws IOException {
    objects = new LocalObjectStore(dir.resolve("objects"));
    materializer = new ImageMaterializer(objects);
    Path pgdata = FakePgdata.create(dir.resolve("pgdata"));
    file(pgdata, "base/1/16384", relation, 0600);
    file(pgdata, "postgresql.auto.conf", bytes("# image's own\n"), 0600);
    FakePgdata.directory(pgdata, "pg_wal/archive_status", 0700);
    image = new ImageWriter(objects, CHUNK).write(TenantId.random(), TimelineId.random(), Lsn.parse("0/3000028"), 15, pgdata)
        .manifest();
  }

  @Test
  void tarHoldsTheImageWithExtraFilesAddedOrReplacing() throws Exception {
    var extras = new LinkedHashMap<String, byte[]>();
    extras.put("recovery.signal", new byte[0]);
    extras.put("postgresql.auto.conf", bytes("restore_command = 'x'\n"));
    Path archive = dir.resolve("image.tar");
    try (OutputStream out = Files.newOutputStream(archive)) {
      materializer.writeTar(image, extras, out);
    }

    assertThat(SystemTar.list(archive)).extracting(SystemTar.Entry::path).containsExactly(
        "base/", "base/1/", "pg_wal/", "pg_wal/archive_status/",
        "PG_VERSION", "base/1/16384", "postgresql.auto.conf", "recovery.signal");
    Path unpacked = Files.createDirectory(dir.resolve("unpacked"));
    SystemTar.extract(archive, unpacked);
    assertThat(Files.readAllBytes(unpacked.resolve("base/1/16384"))).isEqualTo(relation);
    assertThat(Files.readString(unpacked.resolve("postgresql.auto.conf"))).isEqualTo("restore_command = 'x'\n");
    assertThat(Files.size(unpacked.resolve("recovery.signal"))).isZero();
    assertThat(FakePgdata.mode(unpacked.resolve("recovery.signal"))).isEqualTo("rw-------");
  }

  @Test
  void extraFilesMustFitTheImageTree() {
    assertThatThrownBy(() -> materializer.writeTar(image, Map.of("conf.d/arbor.conf", new byte[0]), OutputStream.nullOutputStream()))
        .hasMessageContaining("'conf.d', which the image does not have");
    assertThatThrownBy(() -> materializer.writeTar(image, Map.of("base/1", new byte[0]), OutputStream.nullOutputStream()))
        .hasMessageContaining("would replace a directory");
    assertThatThrownBy(() -> materializer.writeTar(image, Map.of("../escape", new byte[0]), OutputStream.nullOutputStream()))
        .hasMessageContaining("not a relative path inside PGDATA");
  }

  @Test
  void aMissingChunkFailsTheRestore() throws Exception {
    String id = relationChunk(2);
    objects.delete(ObjectKeys.chunk(image.tenant(), id));

    assertThatThrownBy(() -> materializer.writeTar(image, Map.of(), OutputStream.nullOutputStream()))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("chunk " + id + " of 'base/1/16384' is missing");
    assertThatThrownBy(() -> materializer.materialize(image, dir.resolve("restored")))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("is missing");
  }

  @Test
  void aDamagedChunkFailsTheRestore() throws Exception {
    String id = relationChunk(1);
    byte[] flipped = objects.getBytes(ObjectKeys.chunk(image.tenant(), id)).orElseThrow();
    flipped[4000] ^= 1;
    objects.put(ObjectKeys.chunk(image.tenant(), id), flipped);

    assertThatThrownBy(() -> materializer.writeTar(image, Map.of(), OutputStream.nullOutputStream()))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("chunk " + id + " of 'base/1/16384' is corrupt in object storage: its bytes hash to");
    assertThatThrownBy(() -> materializer.materialize(image, dir.resolve("restored")))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("its bytes hash to");
  }

  @Test
  void aChunkOfTheWrongLengthFailsTheRestore() throws Exception {
    String last = relationChunk(3); // 100 bytes
    objects.put(ObjectKeys.chunk(image.tenant(), last), randomBytes(101));
    assertThatThrownBy(() -> materializer.writeTar(image, Map.of(), OutputStream.nullOutputStream()))
        .hasMessageContaining("chunk " + last + " of 'base/1/16384' is corrupt in object storage: it holds more than the 100 bytes");

    objects.put(ObjectKeys.chunk(image.tenant(), last), randomBytes(99));
    assertThatThrownBy(() -> materializer.writeTar(image, Map.of(), OutputStream.nullOutputStream()))
        .hasMessageContaining("it holds 99 bytes, the manifest implies 100");
  }

  @Test
  void materializeOnlyIntoAnEmptyDirectory() throws Exception {
    Path target = Files.createDirectories(dir.resolve("target"));
    Files.writeString(target.resolve("leftover"), "x");
    assertThatThrownBy(() -> materializer.materialize(image, target))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("not empty");
  }

  private String relationChunk(int index) {
    return image.files().stream().filter(f -> f.path().equals("base/1/16384")).findFirst().orElseThrow().chunks().get(index);
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}

package dev.arbor.storage.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.storage.objectstore.ObjectKeys;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageStoreTest {

  @TempDir
  Path dir;

  private LocalObjectStore objects;
  private ImageStore images;
  private final TenantId tenant = TenantId.random();
  private final TimelineId timeline = TimelineId.random();

  @BeforeEach
  void setUp() throws IOException {
    objects = new LocalObjectStore(dir.resolve("objects"));
    images = new ImageStore(objects);
  }

  @Test
  void newestAtOrBelowPicksTheImageABasebackupStartsFrom() throws Exception {
    // Written out of order; 1/0 sorts after F/FFFFFFFF only if LSNs compare as numbers, not as text.
    for (String lsn : List.of("1/0", "0/1000000", "0/FFFFFFFF", "0/3000000")) {
      write(timeline, Lsn.parse(lsn));
    }
    write(TimelineId.random(), Lsn.parse("0/2000000"));

    assertThat(images.list(tenant, timeline)).extracting(Lsn::toString)
        .containsExactly("0/1000000", "0/3000000", "0/FFFFFFFF", "1/0");
    assertThat(newestAtOrBelow("0/FFFFFF")).isNull();
    assertThat(newestAtOrBelow("0/1000000")).isEqualTo("0/1000000");
    assertThat(newestAtOrBelow("0/2FFFFFF")).as("another timeline's image does not count").isEqualTo("0/1000000");
    assertThat(newestAtOrBelow("0/3000000")).isEqualTo("0/3000000");
    assertThat(newestAtOrBelow("0/FFFFFFFF")).isEqualTo("0/FFFFFFFF");
    assertThat(newestAtOrBelow("FFFFFFFF/FFFFFFFF")).isEqualTo("1/0");
    assertThat(images.newestAtOrBelow(tenant, TimelineId.random(), Lsn.parse("1/0"))).isEmpty();
  }

  @Test
  void deletingAManifestLeavesItsChunksForGc() throws Exception {
    ImageManifest manifest = write(timeline, Lsn.parse("0/1000000"));
    write(timeline, Lsn.parse("0/2000000"));

    images.delete(tenant, timeline, Lsn.parse("0/2000000"));
    images.delete(tenant, timeline, Lsn.parse("0/2000000"));

    assertThat(images.list(tenant, timeline)).containsExactly(Lsn.parse("0/1000000"));
    assertThat(images.read(tenant, timeline, Lsn.parse("0/2000000"))).isEmpty();
    assertThat(newestAtOrBelow("0/2000000")).isEqualTo("0/1000000");
    assertThat(manifest.files()).allSatisfy(f -> assertThat(f.chunks())
        .allSatisfy(id -> assertThat(objects.exists(ObjectKeys.chunk(tenant, id))).isTrue()));
  }

  @Test
  void aManifestUnderAnotherImagesKeyIsRefused() throws Exception {
    write(timeline, Lsn.parse("0/1000000"));
    byte[] json = objects.getBytes(ObjectKeys.image(tenant, timeline, Lsn.parse("0/1000000"))).orElseThrow();
    objects.put(ObjectKeys.image(tenant, timeline, Lsn.parse("0/5000000")), json);

    assertThatThrownBy(() -> images.read(tenant, timeline, Lsn.parse("0/5000000")))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("stored under the wrong key");
  }

  private ImageManifest write(TimelineId timeline, Lsn lsn) throws IOException {
    Path pgdata = FakePgdata.create(dir.resolve("pgdata"));
    FakePgdata.file(pgdata, "global/pg_control", TarWriterTest.randomBytes(8192), 0600);
    return new ImageWriter(objects).write(tenant, timeline, lsn, 15, pgdata).manifest();
  }

  private String newestAtOrBelow(String lsn) throws IOException {
    return images.newestAtOrBelow(tenant, timeline, Lsn.parse(lsn)).map(m -> m.lsn().toString()).orElse(null);
  }
}

package dev.arbor.storage.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class ImageManifestTest {

  private static final TenantId TENANT = new TenantId("0123456789abcdef0123456789abcdef");
  private static final TimelineId TIMELINE = new TimelineId("fedcba9876543210fedcba9876543210");
  private static final String A = "a".repeat(64);
  private static final String B = "b".repeat(64);

  @Test
  void roundTripsThroughJsonWithReadableLsnAndModes() throws Exception {
    ImageManifest manifest = manifest(List.of(
        new ImageManifest.DirectoryEntry("base", 0700),
        new ImageManifest.DirectoryEntry("base/1", 0700)), List.of(
        new ImageManifest.FileEntry("PG_VERSION", 3, 0600, List.of(A)),
        new ImageManifest.FileEntry("base/1/1259", 10, 0640, List.of(A, B)),
        new ImageManifest.FileEntry("base/1/empty", 0, 0600, List.of())));

    String json = new String(manifest.toJson(), StandardCharsets.UTF_8);
    assertThat(json)
        .contains("\"formatVersion\":2")
        .contains("\"lsn\":\"0/16B5A50\"")
        .contains("\"redoLsn\":\"0/16B5A28\"")
        .contains("\"tenant\":\"" + TENANT + "\"")
        .contains("\"mode\":\"0640\"")
        .contains("\"createdAt\":\"2024-05-01T12:00:00Z\"")
        .doesNotContain("totalBytes");
    assertThat(ImageManifest.fromJson(manifest.toJson())).isEqualTo(manifest);
    assertThat(manifest.totalBytes()).isEqualTo(13);
  }

  @Test
  void anotherFormatVersionIsRefusedWithTheReason() {
    String json = new String(manifest(List.of(), List.of()).toJson(), StandardCharsets.UTF_8)
        .replace("\"formatVersion\":2", "\"formatVersion\":3");
    assertThatThrownBy(() -> ImageManifest.fromJson(json.getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("format version 3 is not supported");
  }

  @Test
  void aVersionOneManifestIsReadAndReplaysFromItsLsn() throws Exception {
    String json = new String(manifest(List.of(), List.of()).toJson(), StandardCharsets.UTF_8)
        .replace("\"formatVersion\":2", "\"formatVersion\":1").replace("\"redoLsn\":\"0/16B5A28\",", "");
    ImageManifest v1 = ImageManifest.fromJson(json.getBytes(StandardCharsets.UTF_8));
    assertThat(v1.redoLsn()).isNull();
    assertThat(v1.replayFrom()).isEqualTo(Lsn.parse("0/16B5A50"));
    assertThat(manifest(List.of(), List.of()).replayFrom()).isEqualTo(Lsn.parse("0/16B5A28"));
    assertThatThrownBy(() -> ImageManifest.fromJson(json.replace("\"formatVersion\":1", "\"formatVersion\":2")
        .getBytes(StandardCharsets.UTF_8))).isInstanceOf(IOException.class).hasMessageContaining("redoLsn");
  }

  @Test
  void unknownFieldsAndBrokenValuesAreRefused() {
    String json = new String(manifest(List.of(), List.of(new ImageManifest.FileEntry("f", 1, 0600, List.of(A)))).toJson(),
        StandardCharsets.UTF_8);
    assertThatThrownBy(() -> ImageManifest.fromJson(json.replace("\"pgMajor\"", "\"compression\":\"zstd\",\"pgMajor\"")
        .getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("compression");
    assertThatThrownBy(() -> ImageManifest.fromJson(json.replace("0/16B5A50", "16B5A50").getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("is not an LSN");
    assertThatThrownBy(() -> ImageManifest.fromJson(json.replace("\"0600\"", "\"rw-\"").getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("not octal");
    assertThatThrownBy(() -> ImageManifest.fromJson(json.replace("\"f\"", "\"../f\"").getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("not a relative path inside PGDATA");
  }

  @Test
  void pathsThatLeavePgdataAreRefused() {
    for (String bad : List.of("", "/etc/passwd", "../x", "base/../../x", "base//1", "base/./1", "base/")) {
      assertThatThrownBy(() -> new ImageManifest.FileEntry(bad, 0, 0600, List.of()))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void theTreeMustBeComplete() {
    assertThatThrownBy(() -> manifest(List.of(new ImageManifest.DirectoryEntry("base/1", 0700)), List.of()))
        .hasMessageContaining("comes before its parent 'base'");
    assertThatThrownBy(() -> manifest(List.of(), List.of(new ImageManifest.FileEntry("base/1/1259", 1, 0600, List.of(A)))))
        .hasMessageContaining("not a directory of the image");
    assertThatThrownBy(() -> manifest(List.of(), List.of(
        new ImageManifest.FileEntry("f", 1, 0600, List.of(A)), new ImageManifest.FileEntry("f", 1, 0600, List.of(A)))))
        .hasMessageContaining("listed twice");
  }

  @Test
  void aFileHasExactlyTheChunksItsSizeNeeds() {
    // chunkSize is 8 in these manifests: 9 bytes need two chunks, 8 bytes one.
    assertThatThrownBy(() -> manifest(List.of(), List.of(new ImageManifest.FileEntry("f", 9, 0600, List.of(A)))))
        .hasMessageContaining("needs 2 chunks of 8 bytes, but the manifest lists 1");
    assertThatThrownBy(() -> manifest(List.of(), List.of(new ImageManifest.FileEntry("f", 8, 0600, List.of(A, B)))))
        .hasMessageContaining("needs 1 chunks");
    assertThatThrownBy(() -> new ImageManifest.FileEntry("f", 1, 0600, List.of("A".repeat(64))))
        .hasMessageContaining("not a sha256 in lowercase hex");
  }

  private static ImageManifest manifest(List<ImageManifest.DirectoryEntry> dirs, List<ImageManifest.FileEntry> files) {
    return new ImageManifest(ImageManifest.FORMAT_VERSION, TENANT, TIMELINE, Lsn.parse("0/16B5A50"), Lsn.parse("0/16B5A28"), 15,
        Instant.parse("2024-05-01T12:00:00Z"), 8, dirs, files);
  }
}

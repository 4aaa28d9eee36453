package dev.arbor.storage.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TarWriterTest {

  private static final Instant MTIME = Instant.parse("2024-05-01T12:34:56Z");

  @TempDir
  Path dir;

  @Test
  void gnuTarListsAndUnpacksWhatWasWritten() throws Exception {
    // 157 bytes: fits only through the ustar prefix field.
    String longDir = "base/" + "d".repeat(70) + "/" + "e".repeat(40);
    String longFile = longDir + "/" + "f".repeat(40);
    String exactly100 = "g".repeat(100);
    byte[] big = randomBytes(1_000_003); // not a multiple of the 512-byte block
    byte[] small = "15\n".getBytes(StandardCharsets.US_ASCII);

    Path archive = dir.resolve("a.tar");
    try (OutputStream out = Files.newOutputStream(archive)) {
      var tar = new TarWriter(out, MTIME);
      tar.directory("base", 0700);
      tar.directory("base/" + "d".repeat(70), 0750);
      tar.directory(longDir, 0755);
      tar.file("base/big", 0600, big.length, new ByteArrayInputStream(big));
      tar.file("PG_VERSION", 0644, small);
      tar.file("empty", 0400, new byte[0]);
      tar.file(longFile, 0640, small);
      tar.file(exactly100, 0600, small);
      tar.finish();
    }

    Map<String, SystemTar.Entry> listed = SystemTar.list(archive).stream()
        .collect(Collectors.toMap(SystemTar.Entry::path, Function.identity()));
    assertThat(listed).containsOnlyKeys("base/", "base/" + "d".repeat(70) + "/", longDir + "/", "base/big", "PG_VERSION",
        "empty", longFile, exactly100);
    assertThat(listed.get("base/").permissions()).isEqualTo("drwx------");
    assertThat(listed.get(longDir + "/").permissions()).isEqualTo("drwxr-xr-x");
    assertThat(listed.get("base/big")).satisfies(e -> {
      assertThat(e.permissions()).isEqualTo("-rw-------");
      assertThat(e.size()).isEqualTo(big.length);
    });
    assertThat(listed.get("PG_VERSION").permissions()).isEqualTo("-rw-r--r--");
    assertThat(listed.get("empty")).satisfies(e -> {
      assertThat(e.permissions()).isEqualTo("-r--------");
      assertThat(e.size()).isZero();
    });
    assertThat(listed.get(longFile)).satisfies(e -> {
      assertThat(e.permissions()).isEqualTo("-rw-r-----");
      assertThat(e.size()).isEqualTo(small.length);
    });
    assertThat(listed.values()).allSatisfy(e -> {
      assertThat(e.owner()).isEqualTo("0/0");
      assertThat(e.mtime()).isEqualTo("2024-05-01 12:34:56");
    });

    Path unpacked = Files.createDirectory(dir.resolve("unpacked"));
    SystemTar.extract(archive, unpacked);
    assertThat(Files.readAllBytes(unpacked.resolve("base/big"))).isEqualTo(big);
    assertThat(Files.readAllBytes(unpacked.resolve(longFile))).isEqualTo(small);
    assertThat(Files.readAllBytes(unpacked.resolve(exactly100))).isEqualTo(small);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(unpacked.resolve("base/big")))).isEqualTo("rw-------");
  }

  @Test
  void pathsBeyondUstarLimitsAreRefusedWithTheReason() {
    var tar = new TarWriter(new ByteArrayOutputStream(), MTIME);
    String nameTooLong = "base/" + "n".repeat(101);
    assertThatThrownBy(() -> tar.file(nameTooLong, 0600, new byte[1]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("does not fit a ustar header");
    String prefixTooLong = "p/".repeat(130) + "name";
    assertThatThrownBy(() -> tar.directory(prefixTooLong, 0700))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at most 155 bytes before it");
    assertThatThrownBy(() -> tar.file("/etc/passwd", 0600, new byte[1]))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("relative");
  }

  @Test
  void contentThatDoesNotMatchItsDeclaredSizeFailsTheEntry() {
    var tar = new TarWriter(new ByteArrayOutputStream(), MTIME);
    assertThatThrownBy(() -> tar.file("short", 0600, 10, new ByteArrayInputStream(new byte[9])))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("ended after 9 of its 10 bytes");
    var other = new TarWriter(new ByteArrayOutputStream(), MTIME);
    assertThatThrownBy(() -> other.file("long", 0600, 10, new ByteArrayInputStream(new byte[11])))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("longer than its declared 10 bytes");
  }

  @Test
  void filesOfEightGibOrMoreDoNotFitTheSizeField() {
    var tar = new TarWriter(new ByteArrayOutputStream(), MTIME);
    assertThatThrownBy(() -> tar.file("huge", 0600, 1L << 33, new ByteArrayInputStream(new byte[0])))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("8 GiB - 1");
  }

  @Test
  void archiveIsWholeBlocksEndingInTwoZeroBlocks() throws Exception {
    var bytes = new ByteArrayOutputStream();
    var tar = new TarWriter(bytes, MTIME);
    tar.file("a", 0600, new byte[700]);
    tar.finish();
    // header + 700 bytes padded to 1024 + end-of-archive
    assertThat(bytes.size()).isEqualTo(512 + 1024 + 1024);
    byte[] all = bytes.toByteArray();
    for (int i = all.length - 1024; i < all.length; i++) {
      assertThat(all[i]).isZero();
    }
  }

  static byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    new Random(n).nextBytes(b);
    return b;
  }
}

package dev.arbor.testing;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.postgres.ServerUser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * crashfs's model of durability, through the real syscalls (write, fsync, fdatasync, rename, unlink,
 * directory fsync) the storage engine makes: after a cut only what that model calls durable is left.
 */
class CrashableDirectoryTest {

  private CrashableDirectory disk;
  private Path root;

  @BeforeEach
  void mount() {
    disk = CrashableDirectory.start();
    root = disk.path();
  }

  @AfterEach
  void unmount() {
    if (disk != null) {
      disk.close();
      assertThat(disk.isMounted()).isFalse();
    }
  }

  @Test
  void aNewFileNeverSyncedIsGone() throws IOException {
    Files.writeString(root.resolve("f"), "lost");
    assertThat(root.resolve("f")).hasContent("lost"); // visible to everyone before the cut

    disk.cut();

    assertThat(root.resolve("f")).doesNotExist();
  }

  @Test
  void dataWrittenWithoutFsyncIsLostEvenWhenTheNameIsDurable() throws IOException {
    Path f = root.resolve("f");
    Files.createFile(f);
    fsyncDirectory(root);
    Files.writeString(f, "never synced");

    disk.cut();

    assertThat(f).exists().isEmptyFile();
  }

  @Test
  void anFsyncedFileWhoseDirectoryWasNotFsyncedIsGone() throws IOException {
    Path f = root.resolve("f");
    write(f, 0, "synced data");
    fsync(f);

    disk.cut();

    assertThat(f).doesNotExist();
  }

  @Test
  void anFsyncedFileInAnFsyncedDirectorySurvives() throws IOException {
    Path f = root.resolve("f");
    write(f, 0, "synced data");
    fsync(f);
    fsyncDirectory(root);

    disk.cut();

    assertThat(f).hasContent("synced data");
  }

  @Test
  void fdatasyncMakesDataAndSizeDurable() throws IOException {
    Path f = durableEmptyFile("f");
    write(f, 0, "0123456789");
    fdatasync(f);

    disk.cut();

    assertThat(f).hasContent("0123456789");
  }

  @Test
  void aDirectoryOnlyExistsOnceItsParentIsFsynced() throws IOException {
    Path d = root.resolve("d");
    Files.createDirectory(d);
    write(d.resolve("f"), 0, "x");
    fsync(d.resolve("f"));
    fsyncDirectory(d); // f is durable in d, but d itself is not durable in the root

    disk.cut();
    assertThat(d).doesNotExist();

    Files.createDirectory(d);
    fsyncDirectory(root);
    write(d.resolve("f"), 0, "x");
    fsync(d.resolve("f"));
    disk.cut();
    assertThat(d).isDirectory().isEmptyDirectory();
  }

  @Test
  void aRenameWithoutDirectoryFsyncIsUndoneAndTheOldNameIsBack() throws IOException {
    Path a = durableFile("a", "content");
    Files.move(a, root.resolve("b"), StandardCopyOption.ATOMIC_MOVE);

    disk.cut();

    assertThat(a).hasContent("content");
    assertThat(root.resolve("b")).doesNotExist();
  }

  @Test
  void aRenameFollowedByDirectoryFsyncIsDurable() throws IOException {
    Path a = durableFile("a", "content");
    Files.move(a, root.resolve("b"), StandardCopyOption.ATOMIC_MOVE);
    fsyncDirectory(root);

    disk.cut();

    assertThat(a).doesNotExist();
    assertThat(root.resolve("b")).hasContent("content");
  }

  @Test
  void dataStaysWithTheInodeWhateverNameItWasSyncedUnder() throws IOException {
    Path a = durableFile("a", "old");
    Path b = root.resolve("b");
    Files.move(a, b, StandardCopyOption.ATOMIC_MOVE);
    write(b, 0, "new");
    fsync(b); // the rename is not durable, the data is: it belongs to the file, not to the name

    disk.cut();

    assertThat(a).hasContent("new");
    assertThat(b).doesNotExist();
  }

  @Test
  void renameOverAnExistingFileWithoutDirectoryFsyncLeavesTheOldFile() throws IOException {
    // DurableFiles.write's pattern, cut before its directory fsync.
    Path target = durableFile("target", "version 1");
    Path tmp = root.resolve("target.tmp");
    write(tmp, 0, "version 2");
    fsync(tmp);
    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    assertThat(target).hasContent("version 2");

    disk.cut();

    assertThat(target).hasContent("version 1");
    assertThat(tmp).doesNotExist();
  }

  @Test
  void anUnlinkWithoutDirectoryFsyncIsUndoneWithTheDurableContent() throws IOException {
    Path f = durableFile("f", "durable");
    write(f, 0, "DURABLE, then more"); // not synced
    Files.delete(f);

    disk.cut();

    assertThat(f).hasContent("durable");
  }

  @Test
  void anUnlinkFollowedByDirectoryFsyncIsDurable() throws IOException {
    Path f = durableFile("f", "durable");
    Files.delete(f);
    fsyncDirectory(root);

    disk.cut();

    assertThat(f).doesNotExist();
  }

  @Test
  void anInPlaceOverwriteWithoutFsyncLeavesTheOldBytes() throws IOException {
    Path f = durableFile("f", "aaaaaaaaaa");
    write(f, 3, "BBB");
    assertThat(f).hasContent("aaaBBBaaaa");

    disk.cut();

    assertThat(f).hasContent("aaaaaaaaaa");
  }

  @Test
  void truncationAndExtensionAreDurableOnlyAfterFsync() throws IOException {
    Path f = durableFile("f", "0123456789");
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
      ch.truncate(4);
    }
    disk.cut();
    assertThat(f).hasContent("0123456789");

    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
      ch.truncate(4);
      ch.write(ByteBuffer.wrap("X".getBytes(UTF_8)), 8); // extends again: bytes 4..7 are zeros now
      ch.force(false);
    }
    disk.cut();
    assertThat(Files.readAllBytes(f)).containsExactly('0', '1', '2', '3', 0, 0, 0, 0, 'X');

    write(f, 20, "tail"); // extension not synced
    disk.cut();
    assertThat(Files.size(f)).isEqualTo(9);
  }

  @Test
  void aSegmentWrittenInSmallPiecesKeepsExactlyWhatWasSynced() throws IOException {
    // A WAL segment: zero-filled and made durable at full size, then appended to in small writes
    // with an fdatasync now and then. The cut keeps exactly the bytes written before the last one.
    int size = 16 << 20;
    long seed = System.nanoTime();
    System.out.println("aSegmentWrittenInSmallPiecesKeepsExactlyWhatWasSynced seed=" + seed);
    var random = new Random(seed);
    Path f = root.resolve("000000010000000000000001");
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer zeros = ByteBuffer.allocate(1 << 20);
      for (long pos = 0; pos < size; pos += zeros.capacity()) {
        ch.write(zeros.clear(), pos);
      }
      ch.force(true);
    }
    fsyncDirectory(root);

    byte[] expected = new byte[size];
    int written = 0;
    int synced = 0;
    int syncs = 0;
    int stopAt = size / 2 + random.nextInt(size / 2);
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
      while (written < stopAt) {
        byte[] piece = new byte[Math.min(1 + random.nextInt(16 << 10), stopAt - written)];
        random.nextBytes(piece);
        ch.write(ByteBuffer.wrap(piece), written);
        System.arraycopy(piece, 0, expected, written, piece.length);
        written += piece.length;
        if (random.nextInt(8) == 0) {
          ch.force(false);
          synced = written;
          syncs++;
        }
      }
    }
    assertThat(syncs).as("fdatasyncs (seed %d)", seed).isPositive();
    assertThat(written).as("bytes written after the last fdatasync (seed %d)", seed).isGreaterThanOrEqualTo(synced);

    disk.cut();

    byte[] after = Files.readAllBytes(f);
    assertThat(after.length).as("size (seed %d)", seed).isEqualTo(size);
    Arrays.fill(expected, synced, size, (byte) 0);
    assertThat(Arrays.mismatch(after, expected))
        .as("first differing byte; %d bytes written, %d synced (seed %d)", written, synced, seed)
        .isEqualTo(-1);
  }

  @Test
  void aGrowingFileKeepsItsSyncedPrefixAndSize() throws IOException {
    long seed = System.nanoTime();
    System.out.println("aGrowingFileKeepsItsSyncedPrefixAndSize seed=" + seed);
    var random = new Random(seed);
    Path f = durableEmptyFile("log");
    var expected = new java.io.ByteArrayOutputStream();
    int synced = 0;
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
      for (int i = 0; i < 500; i++) {
        byte[] piece = new byte[1 + random.nextInt(8192)];
        random.nextBytes(piece);
        ch.write(ByteBuffer.wrap(piece));
        expected.write(piece);
        if (random.nextInt(10) == 0) {
          ch.force(false);
          synced = expected.size();
        }
      }
    }

    disk.cut();

    assertThat(Files.readAllBytes(f)).as("seed %d", seed).isEqualTo(Arrays.copyOf(expected.toByteArray(), synced));
  }

  @Test
  void filesOpenAtTheCutFailWithEioAndCannotMakeAnythingDurable() throws IOException {
    Path f = durableFile("f", "before");
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
      disk.cut();
      assertThatThrownBy(() -> ch.write(ByteBuffer.wrap("after".getBytes(UTF_8)), 0))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("Input/output error");
      assertThatThrownBy(() -> ch.force(true)).isInstanceOf(IOException.class);
      assertThatThrownBy(() -> ch.size()).isInstanceOf(IOException.class).hasMessageContaining("Input/output error");
    }
    try (FileChannel reader = FileChannel.open(f, StandardOpenOption.READ)) {
      disk.cut();
      assertThatThrownBy(() -> reader.read(ByteBuffer.allocate(16), 0))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("Input/output error");
    }
    disk.cut();
    assertThat(f).hasContent("before");
  }

  @Test
  void aCutIsARebootSoLocksHeldByADroppedWriterAreGone() throws IOException {
    // A writer that "dies" without closing keeps its file lock in this JVM; after the cut the file
    // is a new inode, so a new writer can lock it, as after a real restart.
    Path f = durableEmptyFile("lock");
    FileChannel dropped = FileChannel.open(f, StandardOpenOption.WRITE);
    assertThat(dropped.tryLock()).isNotNull();

    disk.cut();

    try (FileChannel next = FileChannel.open(f, StandardOpenOption.WRITE)) {
      assertThat(next.tryLock()).isNotNull();
    } finally {
      dropped.close();
    }
  }

  @Test
  void otherUsersReachTheTree() throws Exception {
    // PostgreSQL drops to the 'postgres' user when tests run as root: the mount allows other users,
    // and the kernel checks the modes.
    ServerUser user = ServerUser.current();
    Path d = root.resolve("for-postgres");
    Files.createDirectory(d);
    user.handOver(d);
    Process p = new ProcessBuilder(user.wrap(List.of("sh", "-c", "echo hi > " + d.resolve("f") + " && cat " + d.resolve("f"))))
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), UTF_8);
    assertThat(p.waitFor()).as(out).isZero();
    assertThat(out).isEqualTo("hi\n");
  }

  @Test
  void theMissingBinaryNamesTheScriptThatBuildsIt() {
    try (var empty = TempDirectory.create("arbor-empty-")) {
      assertThatThrownBy(() -> CrashableDirectory.start(empty.resolve("crashfs")))
          .hasMessageContaining("scripts/crashfs")
          .hasMessageContaining(empty.resolve("crashfs").toString());
    }
  }

  @Test
  void closeUnmountsEvenWithFilesStillOpen() throws IOException {
    Path f = durableFile("f", "x");
    FileChannel open = FileChannel.open(f, StandardOpenOption.READ);
    try {
      disk.close();
      assertThat(disk.isMounted()).isFalse();
    } finally {
      try {
        open.close();
      } catch (IOException connectionGone) {
        // crashfs has exited: close(2) reports ENOTCONN, the descriptor is released all the same
      }
    }
  }

  // ---- the syscalls, as the storage engine makes them ----

  private Path durableEmptyFile(String name) throws IOException {
    Path f = root.resolve(name);
    Files.createFile(f);
    fsync(f);
    fsyncDirectory(root);
    return f;
  }

  private Path durableFile(String name, String content) throws IOException {
    Path f = root.resolve(name);
    write(f, 0, content);
    fsync(f);
    fsyncDirectory(root);
    return f;
  }

  private static void write(Path f, long position, String content) throws IOException {
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.wrap(content.getBytes(UTF_8));
      while (b.hasRemaining()) {
        ch.write(b, position + b.position());
      }
    }
  }

  private static void fsync(Path f) throws IOException {
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  private static void fdatasync(Path f) throws IOException {
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
      ch.force(false);
    }
  }

  private static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }
}

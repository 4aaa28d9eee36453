package dev.arbor.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A directory on <b>crashfs</b>, a FUSE file system that behaves like a disk whose page cache is lost at a
 * power cut (see {@code test-support/crashfs/README.md}). Everything written is visible at once, as usual;
 * {@link #cut()} reverts the whole tree to what was made durable: file data and size by {@code fsync} or
 * {@code fdatasync} of the file ({@code FileChannel.force}), names (creations, renames, unlinks) only by
 * {@code fsync} of their directory ({@code FileChannel.open(dir, READ).force(true)}).
 *
 * <pre>{@code
 * try (var disk = CrashableDirectory.start()) {
 *   ... write under disk.path(), stop (or drop) the writer ...
 *   disk.cut();
 *   ... reopen under disk.path() and check what survived ...
 * }
 * }</pre>
 *
 * <p>Contract: stop (or abandon) every writer before {@link #cut()}. A cut is a power loss followed by a
 * reboot: every file handle open at the cut fails with EIO from then on (its writes and fsyncs can never
 * become durable), and inode numbers change, as after a remount. Needs root (it mounts) and /dev/fuse.
 * The binary is built by {@code scripts/crashfs}.
 */
public final class CrashableDirectory implements AutoCloseable {

  private static final Duration START_TIMEOUT = Duration.ofSeconds(20);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);

  private final TempDirectory dir;
  private final Path mountPoint;
  private final Path control;
  private final Path log;
  private Process daemon;
  private boolean closed;

  private CrashableDirectory(TempDirectory dir) {
    this.dir = dir;
    this.mountPoint = dir.resolve("mnt");
    this.control = dir.resolve("control.sock");
    this.log = dir.resolve("crashfs.log");
  }

  /** Mounts a fresh, empty crashfs and returns once it serves requests. */
  public static CrashableDirectory start() {
    return start(binary());
  }

  static CrashableDirectory start(Path binary) {
    if (!Files.isExecutable(binary)) {
      throw new IllegalStateException("the crashfs binary is missing at " + binary + ". Build it with 'scripts/crashfs' "
          + "(needs go; seconds, cached afterwards), or run the whole suite with 'scripts/test', which does it first.");
    }
    var crashable = new CrashableDirectory(TempDirectory.create("arbor-crashfs-"));
    try {
      crashable.launch(binary);
      return crashable;
    } catch (RuntimeException | Error e) {
      try {
        crashable.close();
      } catch (RuntimeException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /**
   * Where {@code scripts/crashfs} puts the binary: {@code $ARBOR_CRASHFS_DIR/crashfs}, by default
   * {@code ~/.cache/arbor/crashfs}.
   */
  public static Path binary() {
    String dir = System.getenv("ARBOR_CRASHFS_DIR");
    Path base = dir != null && !dir.isBlank() ? Path.of(dir) : Path.of(System.getProperty("user.home"), ".cache", "arbor");
    return base.resolve("crashfs");
  }

  private void launch(Path binary) {
    try {
      Files.createDirectory(mountPoint);
      // stdin stays a pipe to this JVM: when the JVM dies, crashfs sees EOF, unmounts and exits.
      daemon = new ProcessBuilder(List.of(binary.toString(), "--storage", dir.resolve("storage").toString(),
          "--mount", mountPoint.toString(), "--control", control.toString(), "--exit-on-stdin-eof"))
          .redirectErrorStream(true)
          .redirectOutput(log.toFile())
          .start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start crashfs " + binary, e);
    }
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (true) {
      if (!daemon.isAlive()) {
        throw new IllegalStateException("crashfs exited with status " + daemon.exitValue() + " before mounting "
            + mountPoint + " (it needs root and /dev/fuse):\n" + logText());
      }
      if (Files.exists(control)) {
        try {
          if (command("ping").equals("ok") && isMounted()) {
            return;
          }
        } catch (IOException notYet) {
          // the socket file exists before it listens
        }
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("crashfs did not mount " + mountPoint + " within " + START_TIMEOUT + ":\n" + logText());
      }
      sleep(20);
    }
  }

  /** The root of the crashable tree. */
  public Path path() {
    return mountPoint;
  }

  /**
   * Power loss: returns once the tree shows only its durable state. Stop writers first; their open files
   * fail with EIO afterwards.
   *
   * @return crashfs's report of the cut (what it kept, dropped and restored)
   */
  public String cut() {
    try {
      String reply = command("cut");
      if (!reply.startsWith("ok")) {
        throw new IllegalStateException("crashfs could not cut " + mountPoint + ": " + reply + "\n" + logText());
      }
      return reply.substring(2).trim();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot reach crashfs's control socket " + control + ":\n" + logText(), e);
    }
  }

  /** Counters since the mount: writes, fsyncs, fdatasyncs, directory fsyncs, bytes made durable, cuts. */
  public String stats() {
    try {
      return command("stats").replaceFirst("^ok ?", "");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot reach crashfs's control socket " + control, e);
    }
  }

  private String command(String cmd) throws IOException {
    try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      channel.connect(UnixDomainSocketAddress.of(control));
      Channels.newOutputStream(channel).write((cmd + "\n").getBytes(StandardCharsets.UTF_8));
      var in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
      String line = in.readLine();
      if (line == null) {
        throw new IOException("crashfs closed the control connection without answering '" + cmd + "'");
      }
      return line;
    }
  }

  /** Whether the mount point is mounted (in this process's mount namespace). */
  public boolean isMounted() {
    try {
      String target = mountPoint.toString();
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String[] fields = line.split(" ");
        if (fields.length > 4 && fields[4].equals(target)) {
          return true;
        }
      }
      return false;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read /proc/self/mountinfo", e);
    }
  }

  /** What crashfs logged so far (mount, cuts, unmount). */
  public String logText() {
    try {
      return Files.exists(log) ? Files.readString(log) : "(no crashfs log)";
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }

  /**
   * Unmounts and stops the crashfs process this instance started (SIGTERM by its pid, SIGKILL if it hangs),
   * then removes the backing storage. A mount left behind by a killed daemon is detached.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (daemon != null && daemon.isAlive()) {
      daemon.destroy(); // SIGTERM: crashfs unmounts (lazily if files are still open) and exits
      try {
        if (!daemon.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
          daemon.destroyForcibly();
          daemon.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (isMounted()) {
      detach();
    }
    if (isMounted()) {
      throw new IllegalStateException("crashfs at " + mountPoint + " is still mounted; left " + dir.path()
          + " in place. Unmount it with 'umount -l " + mountPoint + "'.\n" + logText());
    }
    dir.close();
  }

  private void detach() {
    try {
      Process umount = new ProcessBuilder("umount", "-l", mountPoint.toString()).redirectErrorStream(true).start();
      String out = new String(umount.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!umount.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS) || umount.exitValue() != 0) {
        System.err.println("umount -l " + mountPoint + " failed: " + out);
      }
    } catch (IOException e) {
      System.err.println("cannot run umount -l " + mountPoint + ": " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for crashfs", e);
    }
  }
}

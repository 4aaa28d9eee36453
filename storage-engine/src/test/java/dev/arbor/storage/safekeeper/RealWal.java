package dev.arbor.storage.safekeeper;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.postgres.ServerUser;
import dev.arbor.postgres.WalDump;
import dev.arbor.postgres.WalFileName;
import dev.arbor.postgres.WalRecordScanner;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Real PostgreSQL WAL for the store's tests: where the compute's records end, and copying its bytes into a store. */
final class RealWal {

  private static final long PAGE = 8192;

  private RealWal() {}

  /**
   * Where the compute's last record ends. pg_current_wal_insert_lsn() is where the next record goes: the
   * end of the last one, except when that end is a page boundary, where it points past the next page's header.
   */
  static Lsn insertLsn(Connection c, long segmentSize) throws SQLException {
    Lsn insert = ComputeWal.queryLsn(c, "SELECT pg_current_wal_insert_lsn()");
    long inPage = insert.value() % PAGE;
    if (inPage == 24 || (inPage == 40 && insert.segmentOffset(segmentSize) == 40)) {
      return new Lsn(insert.value() - inPage);
    }
    return insert;
  }

  /** Writes the WAL of {@code tli} from {@code from} to {@code to}, as {@code walDir}'s segment files hold it, unflushed. */
  static void copy(WalSegmentStore store, Path walDir, int tli, Lsn from, Lsn to) throws IOException {
    long segmentSize = store.segmentSize();
    for (long pos = from.value(); pos < to.value(); ) {
      long segment = pos / segmentSize;
      long segmentEnd = (segment + 1) * segmentSize;
      ByteBuffer bytes = ByteBuffer.allocate((int) (Math.min(to.value(), segmentEnd) - pos));
      try (FileChannel ch = FileChannel.open(walDir.resolve(WalFileName.segment(tli, segment, segmentSize)),
          StandardOpenOption.READ)) {
        while (bytes.hasRemaining()) {
          if (ch.read(bytes, pos % segmentSize + bytes.position()) < 0) {
            throw new IOException("WAL segment " + segment + " of timeline " + tli + " in " + walDir + " is short");
          }
        }
      }
      store.write(tli, new Lsn(pos), bytes.flip());
      pos += bytes.limit();
    }
  }

  /**
   * Copies segments {@code from} up to the one holding the byte before {@code end} from {@code pgWal} into
   * {@code into}, with zeros from {@code end} on: pg_wal holds more WAL than a test measured (checkpoints,
   * standby snapshots), and the zeros end the WAL exactly where the test says.
   */
  static void copyUpTo(Path pgWal, Path into, int tli, long from, Lsn end, long segmentSize) throws IOException {
    Files.createDirectories(into);
    for (long n = from; n <= end.plus(-1).segmentNumber(segmentSize); n++) {
      String name = WalFileName.segment(tli, n, segmentSize);
      byte[] bytes = Files.readAllBytes(pgWal.resolve(name));
      long zerosFrom = Math.max(end.value() - n * segmentSize, 0);
      Arrays.fill(bytes, (int) Math.min(zerosFrom, segmentSize), bytes.length, (byte) 0);
      Files.write(into.resolve(name), bytes);
    }
  }

  /** The segment files of {@code tli} in {@code dir}, for the scanner. */
  static WalRecordScanner.SegmentSource segmentsIn(Path dir, int tli, long segmentSize) {
    return n -> {
      try {
        return Optional.of(ByteBuffer.wrap(Files.readAllBytes(dir.resolve(WalFileName.segment(tli, n, segmentSize)))));
      } catch (NoSuchFileException e) {
        return Optional.empty();
      }
    };
  }

  private static final Pattern LAST_VALID = Pattern.compile("error in WAL record at ([0-9A-F]+/[0-9A-F]+): (.*)");

  /**
   * Where PostgreSQL finds the end of the WAL of {@code tli} in {@code dir}, reading from {@code from}:
   * pg_waldump reads with PostgreSQL's xlogreader, as recovery does, and stops at the first record that
   * fails a check, naming the last valid one. {@code dir} must be readable to PostgreSQL's OS user.
   */
  static Lsn postgresEnd(PostgresInstallation pg, Path dir, int tli, Lsn from, long segmentSize)
      throws IOException, InterruptedException {
    List<String> cmd = ServerUser.current().wrap(List.of(pg.binary("pg_waldump").toString(), "--quiet",
        "--path=" + dir, "--timeline=" + tli, "--start=" + from));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(1, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new IOException("pg_waldump did not finish within a minute on " + dir);
    }
    Matcher m = LAST_VALID.matcher(out);
    if (!m.find()) {
      throw new IOException("pg_waldump named no last valid record in " + dir + ": " + out.strip());
    }
    return WalDump.nextRecordAfter(pg, dir, tli, Lsn.parse(m.group(1)), segmentSize);
  }
}

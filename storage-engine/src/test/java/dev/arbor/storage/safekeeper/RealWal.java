package dev.arbor.storage.safekeeper;

import dev.arbor.postgres.Lsn;
import dev.arbor.postgres.WalFileName;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.SQLException;

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
}

package dev.arbor.postgres;

import dev.arbor.api.Lsn;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Facts about WAL records read with {@code pg_waldump}. */
public final class WalDump {
  private static final Pattern RECORD = Pattern.compile("len \\(rec/tot\\):\\s*\\d+/\\s*(\\d+),.*?lsn: ([0-9A-F]+/[0-9A-F]+),");
  private static final long PAGE_SIZE = WalRecordScanner.PAGE_SIZE;
  private static final long SHORT_PAGE_HEADER = WalRecordScanner.SHORT_PAGE_HEADER;
  private static final long LONG_PAGE_HEADER = WalRecordScanner.LONG_PAGE_HEADER;

  private WalDump() {}

  /**
   * Where the next record after the one starting at {@code lsn} begins: the record's total length laid over
   * WAL pages (a record continued on the next page skips that page's header), rounded up to 8 bytes.
   */
  public static Lsn nextRecordAfter(PostgresInstallation pg, Path walDir, int tli, Lsn lsn, long segmentSize) throws IOException {
    ServerUser.Output out = ServerUser.current().run(List.of(pg.binary("pg_waldump").toString(), "-p", walDir.toAbsolutePath().toString(),
        "-t", Integer.toString(tli), "-s", lsn.toString(), "-n", "1"), Duration.ofMinutes(1));
    Matcher m = RECORD.matcher(out.stdout());
    if (!m.find() || !Lsn.parse(m.group(2)).equals(lsn)) {
      throw new IOException("pg_waldump found no record at " + lsn + " in " + walDir + " (exit " + out.exitCode() + "): "
          + out.stdout().strip() + " " + out.stderrLine());
    }
    return endOf(lsn, Long.parseLong(m.group(1)), segmentSize);
  }

  static Lsn endOf(Lsn start, long totalLength, long segmentSize) {
    long pos = start.value();
    long remaining = totalLength;
    while (true) {
      long pageEnd = (pos / PAGE_SIZE + 1) * PAGE_SIZE;
      if (remaining <= pageEnd - pos) {
        pos += remaining;
        break;
      }
      remaining -= pageEnd - pos;
      pos = pageEnd + (pageEnd % segmentSize == 0 ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER);
    }
    return new Lsn((pos + 7) & ~7L);
  }
}

package dev.arbor.postgres;

import dev.arbor.api.Lsn;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * Finds where the valid WAL of one PostgreSQL timeline ends, by reading it record by record from a
 * segment start and checking every record's CRC and back-link, as PostgreSQL's own recovery does to
 * find the end of WAL. Bytes after the end (zeros, a torn write, a record whose tail never reached the
 * disk) fail a check and end the scan; no record is trusted on its length alone.
 *
 * <p>The WAL format (PostgreSQL 15–17, little-endian as written on x86-64 and arm64): 8 KiB pages,
 * each starting with a page header (24 bytes; 40 on a segment's first page) holding a magic number,
 * flags, the TLI, the page's own LSN and, for a page that begins inside a record, how many bytes of it
 * remain. Records start at 8-byte boundaries and may cross pages and segments: a 24-byte header
 * ({@code xl_tot_len}, {@code xl_xid}, {@code xl_prev}, {@code xl_info}, {@code xl_rmid}, {@code xl_crc})
 * then the data. The CRC-32C covers the data, then the header up to the CRC. After an
 * {@code XLOG_SWITCH} record, WAL continues at the next segment's start.
 *
 * <p>A record whose continuation is missing (the server crashed after writing its first pages) is
 * abandoned when crash recovery marks the page where the continuation was expected with
 * {@code XLP_FIRST_IS_OVERWRITE_CONTRECORD}: as PostgreSQL's xlogreader does, the scan then restarts
 * at that page, and the record there ({@code XLOG_OVERWRITE_CONTRECORD}) links back to the last
 * valid record before the abandoned one.
 */
public final class WalRecordScanner {

  /** The bytes of one whole segment of the timeline, or empty when it is not stored. */
  @FunctionalInterface
  public interface SegmentSource {
    Optional<ByteBuffer> segment(long segmentNumber) throws IOException;
  }

  /**
   * What a scan found: where the last valid record ends (8-byte aligned, as PostgreSQL's end pointers are;
   * for an {@code XLOG_SWITCH}, the end of its segment) and where it starts.
   */
  public record Result(Lsn end, long records, Lsn lastStart) {}

  static final int PAGE_SIZE = 8192;
  /** MAXALIGN(sizeof(XLogPageHeaderData)). */
  static final int SHORT_PAGE_HEADER = 24;
  /** MAXALIGN(sizeof(XLogLongPageHeaderData)): the first page of a segment. */
  static final int LONG_PAGE_HEADER = 40;
  static final int RECORD_HEADER = 24;
  private static final int XLP_FIRST_IS_CONTRECORD = 0x0001;
  private static final int XLP_LONG_HEADER = 0x0002;
  private static final int XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
  /** XLogRecordMaxSize in PostgreSQL 16+; older versions allow no more in practice. */
  private static final long MAX_RECORD = 1020L * 1024 * 1024;
  private static final int RM_XLOG_ID = 0;
  private static final int XLOG_SWITCH = 0x40;

  private final long segmentSize;
  private final SegmentSource source;
  private long currentSegmentNumber = -1;
  private ByteBuffer currentSegment;
  private int magic = -1;

  private WalRecordScanner(long segmentSize, SegmentSource source) {
    this.segmentSize = segmentSize;
    this.source = source;
  }

  /**
   * Scans from the first record that begins in segment {@code firstSegment} (skipping the tail of a
   * record continued from the segment before) until the first byte that is not valid WAL.
   *
   * @return empty when not even one whole record is valid
   */
  public static Optional<Result> scan(long segmentSize, long firstSegment, SegmentSource source) throws IOException {
    return new WalRecordScanner(segmentSize, source).run(firstSegment);
  }

  /**
   * Scans from {@code recordStart}, known to be where a valid record begins (a checkpoint's location, as pg_control
   * has it), until the first byte that is not valid WAL; the records before it are not read.
   *
   * @return empty when the record there is not valid
   */
  public static Optional<Result> scanFrom(long segmentSize, Lsn recordStart, SegmentSource source) throws IOException {
    var scanner = new WalRecordScanner(segmentSize, source);
    long start = recordStart.value();
    if (start % PAGE_SIZE < SHORT_PAGE_HEADER || scanner.pageHeader(start - start % PAGE_SIZE) == null) {
      return Optional.empty();
    }
    return scanner.records(start);
  }

  private Optional<Result> run(long firstSegment) throws IOException {
    long pos = firstSegment * segmentSize;
    PageHeader first = pageHeader(pos);
    if (first == null) {
      return Optional.empty();
    }
    pos += first.size;
    if ((first.info & XLP_FIRST_IS_CONTRECORD) != 0) {
      // The tail of a record that began in an earlier segment: step over it to the first record start.
      Cursor tail = new Cursor(pos, first.remaining);
      if (tail.skip(first.remaining)) {
        pos = align(tail.pos);
      } else if (tail.overwrittenAt >= 0) {
        pos = tail.overwrittenAt;
      } else {
        return Optional.empty();
      }
    }
    return records(pos);
  }

  /** Reads record after record from {@code pos}, a record's start, once the page header of its page was checked. */
  private Optional<Result> records(long pos) throws IOException {
    long records = 0;
    long end = -1;
    long prev = -1;
    var crc = new CRC32C();
    while (true) {
      if (pos % PAGE_SIZE == 0) {
        PageHeader h = pageHeader(pos);
        if (h == null || (h.info & XLP_FIRST_IS_CONTRECORD) != 0) {
          break;
        }
        pos += h.size;
      }
      ByteBuffer page = bytesAt(pos);
      if (page == null) {
        break;
      }
      long totalLength = Integer.toUnsignedLong(page.getInt(page.position()));
      if (totalLength < RECORD_HEADER || totalLength > MAX_RECORD) {
        break; // zeros after the last record, or garbage
      }
      Cursor record = new Cursor(pos, totalLength);
      byte[] header = new byte[RECORD_HEADER];
      if (!record.read(header, 0, RECORD_HEADER)) {
        if (record.overwrittenAt >= 0) {
          pos = record.overwrittenAt; // the record was abandoned; prev stays the last valid one
          continue;
        }
        break;
      }
      ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
      long xlPrev = h.getLong(8);
      int info = h.get(16) & 0xFF;
      int rmid = h.get(17) & 0xFF;
      if (prev >= 0 && xlPrev != prev) {
        break; // not the record that follows the previous one: stale bytes of another history
      }
      crc.reset();
      if (!record.digest(crc, totalLength - RECORD_HEADER)) {
        if (record.overwrittenAt >= 0) {
          pos = record.overwrittenAt;
          continue;
        }
        break;
      }
      crc.update(header, 0, 20);
      if ((int) crc.getValue() != h.getInt(20)) {
        break;
      }
      records++;
      prev = pos;
      if (rmid == RM_XLOG_ID && (info & 0xF0) == XLOG_SWITCH) {
        end = (record.pos / segmentSize + (record.pos % segmentSize == 0 ? 0 : 1)) * segmentSize;
      } else {
        end = align(record.pos);
      }
      pos = end;
    }
    return records == 0 ? Optional.empty() : Optional.of(new Result(new Lsn(end), records, new Lsn(prev)));
  }

  private static long align(long pos) {
    return (pos + 7) & ~7L;
  }

  private record PageHeader(int info, long remaining, int size) {}

  /** The header of the page at {@code pageStart}, or null when it is missing or not a valid page of this WAL. */
  private PageHeader pageHeader(long pageStart) throws IOException {
    ByteBuffer b = bytesAt(pageStart);
    if (b == null) {
      return null;
    }
    int at = b.position();
    int pageMagic = Short.toUnsignedInt(b.getShort(at));
    int info = Short.toUnsignedInt(b.getShort(at + 2));
    long pageAddress = b.getLong(at + 8);
    long remaining = Integer.toUnsignedLong(b.getInt(at + 16));
    boolean segmentStart = pageStart % segmentSize == 0;
    if ((pageMagic & 0xFF00) != 0xD100 || (magic >= 0 && pageMagic != magic) || pageAddress != pageStart
        || ((info & XLP_LONG_HEADER) != 0) != segmentStart) {
      return null;
    }
    magic = pageMagic;
    return new PageHeader(info, remaining, segmentStart ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER);
  }

  /** The segment bytes from {@code pos} to its page's end, or null when that segment is not stored. */
  private ByteBuffer bytesAt(long pos) throws IOException {
    long segmentNumber = pos / segmentSize;
    if (segmentNumber != currentSegmentNumber) {
      Optional<ByteBuffer> s = source.segment(segmentNumber);
      if (s.isEmpty() || s.get().capacity() < segmentSize) {
        return null;
      }
      currentSegment = s.get().order(ByteOrder.LITTLE_ENDIAN);
      currentSegmentNumber = segmentNumber;
    }
    int offset = (int) (pos % segmentSize);
    int pageEnd = (offset / PAGE_SIZE + 1) * PAGE_SIZE;
    return currentSegment.duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(pageEnd).position(offset);
  }

  /**
   * Reads one record's bytes in LSN order, stepping over page headers; every page entered must say it
   * continues a record with exactly the bytes still missing, or that it overwrites the continuation.
   */
  private final class Cursor {
    long pos;
    long left;
    /** The start of the page that abandoned this record by overwriting its continuation, or -1. */
    long overwrittenAt = -1;

    Cursor(long pos, long length) {
      this.pos = pos;
      this.left = length;
    }

    boolean read(byte[] into, int offset, int length) throws IOException {
      int done = 0;
      while (done < length) {
        ByteBuffer b = enter();
        if (b == null) {
          return false;
        }
        int n = Math.min(length - done, b.remaining());
        b.get(into, offset + done, n);
        advance(n);
        done += n;
      }
      return true;
    }

    boolean digest(CRC32C crc, long length) throws IOException {
      long done = 0;
      while (done < length) {
        ByteBuffer b = enter();
        if (b == null) {
          return false;
        }
        int n = (int) Math.min(length - done, b.remaining());
        crc.update(b.limit(b.position() + n));
        advance(n);
        done += n;
      }
      return true;
    }

    boolean skip(long length) throws IOException {
      long done = 0;
      while (done < length) {
        ByteBuffer b = enter();
        if (b == null) {
          return false;
        }
        int n = (int) Math.min(length - done, b.remaining());
        advance(n);
        done += n;
      }
      return true;
    }

    private void advance(int n) {
      pos += n;
      left -= n;
    }

    /** The bytes at the cursor, after the page header when the cursor stands at a page start. */
    private ByteBuffer enter() throws IOException {
      if (pos % PAGE_SIZE == 0) {
        PageHeader h = pageHeader(pos);
        if (h != null && (h.info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) != 0) {
          overwrittenAt = pos;
          return null;
        }
        if (h == null || (h.info & XLP_FIRST_IS_CONTRECORD) == 0 || h.remaining != left) {
          return null;
        }
        pos += h.size;
      }
      return bytesAt(pos);
    }
  }
}

package dev.arbor.storage.image;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;

/**
 * A streaming writer of POSIX ustar archives: what a compute's agent and GNU tar unpack into a PGDATA.
 * Memory is one 512-byte header and one copy buffer, whatever the size of the archive.
 *
 * <p>Entries are owned by uid/gid 0 with empty owner names, so the unpacking side decides ownership
 * (PostgreSQL's data directory must belong to the user that runs it, which only the unpacker knows).
 * Every entry carries the mtime given to the constructor. The caller owns the output stream:
 * {@link #finish()} ends the archive but does not close it.
 */
public final class TarWriter {

  static final int BLOCK = 512;
  private static final int NAME_LENGTH = 100;
  private static final int PREFIX_LENGTH = 155;
  /** The size field holds 11 octal digits. */
  public static final long MAX_FILE_SIZE = (1L << 33) - 1;
  private static final int COPY_BUFFER = 64 * 1024;
  private static final byte[] ZEROS = new byte[BLOCK];

  private final OutputStream out;
  private final long mtimeSeconds;
  private final byte[] header = new byte[BLOCK];
  private final byte[] buffer = new byte[COPY_BUFFER];
  private boolean finished;

  public TarWriter(OutputStream out, Instant mtime) {
    this.out = out;
    this.mtimeSeconds = mtime.getEpochSecond();
    if (mtimeSeconds < 0 || mtimeSeconds > MAX_FILE_SIZE) {
      throw new IllegalArgumentException("mtime " + mtime + " does not fit a ustar header (1970 to 2242)");
    }
  }

  /** A directory entry; {@code path} is relative, without a trailing slash. */
  public void directory(String path, int mode) throws IOException {
    writeHeader(path + "/", mode, 0, (byte) '5');
  }

  /**
   * A regular file whose content is exactly the next {@code size} bytes of {@code content}. A stream
   * that ends early or holds more fails the entry: the archive would otherwise be silently wrong.
   */
  public void file(String path, int mode, long size, InputStream content) throws IOException {
    writeHeader(path, mode, size, (byte) '0');
    long remaining = size;
    while (remaining > 0) {
      int n = content.read(buffer, 0, (int) Math.min(buffer.length, remaining));
      if (n < 0) {
        throw new IOException("content of '" + path + "' ended after " + (size - remaining) + " of its " + size + " bytes");
      }
      out.write(buffer, 0, n);
      remaining -= n;
    }
    if (content.read() >= 0) {
      throw new IOException("content of '" + path + "' is longer than its declared " + size + " bytes");
    }
    pad(size);
  }

  /** A regular file held in memory (configuration the basebackup adds). */
  public void file(String path, int mode, byte[] content) throws IOException {
    writeHeader(path, mode, content.length, (byte) '0');
    out.write(content);
    pad(content.length);
  }

  /** Writes the end-of-archive marker (two zero blocks) and flushes; the stream stays open. */
  public void finish() throws IOException {
    if (finished) {
      return;
    }
    out.write(ZEROS);
    out.write(ZEROS);
    out.flush();
    finished = true;
  }

  private void writeHeader(String path, int mode, long size, byte type) throws IOException {
    if (finished) {
      throw new IllegalStateException("the archive is already finished");
    }
    if (size < 0 || size > MAX_FILE_SIZE) {
      throw new IllegalArgumentException("'" + path + "' has " + size + " bytes; a ustar entry holds at most "
          + MAX_FILE_SIZE + " (8 GiB - 1)");
    }
    Arrays.fill(header, (byte) 0);
    putPath(path);
    putOctal(100, 8, mode & 07777);
    putOctal(108, 8, 0); // uid
    putOctal(116, 8, 0); // gid
    putOctal(124, 12, size);
    putOctal(136, 12, mtimeSeconds);
    header[156] = type;
    putAscii(257, "ustar\0");
    putAscii(263, "00");
    putOctal(329, 8, 0); // devmajor
    putOctal(337, 8, 0); // devminor
    // The checksum is computed with its own field read as eight spaces.
    Arrays.fill(header, 148, 156, (byte) ' ');
    long sum = 0;
    for (byte b : header) {
      sum += b & 0xFF;
    }
    putAscii(148, String.format("%06o\0 ", sum));
    out.write(header);
  }

  /**
   * ustar splits a path that does not fit the 100-byte name field at a '/' into a prefix (up to 155 bytes)
   * and a name; a path with no such split cannot be written.
   */
  private void putPath(String path) {
    if (path.isEmpty() || path.startsWith("/") || path.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("tar entry path must be relative and non-empty: '" + path + "'");
    }
    byte[] bytes = path.getBytes(StandardCharsets.UTF_8);
    if (bytes.length <= NAME_LENGTH) {
      System.arraycopy(bytes, 0, header, 0, bytes.length);
      return;
    }
    // A directory's trailing '/' belongs to the name, so the split is never at the last byte.
    for (int slash = Math.min(PREFIX_LENGTH, bytes.length - 2); slash > 0; slash--) {
      if (bytes[slash] == '/' && bytes.length - slash - 1 <= NAME_LENGTH) {
        System.arraycopy(bytes, 0, header, 345, slash);
        System.arraycopy(bytes, slash + 1, header, 0, bytes.length - slash - 1);
        return;
      }
    }
    throw new IllegalArgumentException("path '" + path + "' (" + bytes.length + " bytes) does not fit a ustar header: "
        + "it needs a '/' that leaves at most " + PREFIX_LENGTH + " bytes before it and " + NAME_LENGTH + " after it");
  }

  private void putOctal(int offset, int length, long value) {
    String digits = Long.toOctalString(value);
    if (digits.length() > length - 1) {
      throw new IllegalArgumentException(value + " does not fit a " + length + "-byte ustar field");
    }
    putAscii(offset, "0".repeat(length - 1 - digits.length()) + digits); // the last byte stays NUL
  }

  private void putAscii(int offset, String s) {
    byte[] b = s.getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(b, 0, header, offset, b.length);
  }

  private void pad(long size) throws IOException {
    int rest = (int) (size % BLOCK);
    if (rest != 0) {
      out.write(ZEROS, 0, BLOCK - rest);
    }
  }
}

package dev.arbor.storage.fs;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * The first {@code keep} bytes of a stream, then zeros up to {@code size}: a WAL segment cut at a point.
 * PostgreSQL reads the zeros as the end of WAL, as in a {@code .partial} segment. Used for a safekeeper's
 * durable prefix (nothing past the flush LSN is served) and for WAL cut at a branch point.
 */
public final class PrefixThenZeros extends FilterInputStream {
  private final long keep;
  private final long size;
  private long position;

  public PrefixThenZeros(InputStream in, long keep, long size) {
    super(in);
    this.keep = keep;
    this.size = size;
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) {
      return 0;
    }
    if (position >= size) {
      return -1;
    }
    int n;
    if (position < keep) {
      n = in.read(b, off, (int) Math.min(len, keep - position));
      if (n < 0) {
        throw new IOException("WAL segment ended after " + position + " bytes, before the " + keep + " bytes it must hold");
      }
    } else {
      n = (int) Math.min(len, size - position);
      Arrays.fill(b, off, off + n, (byte) 0);
    }
    position += n;
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    byte[] buf = new byte[8192];
    long skipped = 0;
    while (skipped < n) {
      int r = read(buf, 0, (int) Math.min(buf.length, n - skipped));
      if (r < 0) {
        break;
      }
      skipped += r;
    }
    return skipped;
  }

  @Override
  public int available() {
    return 0;
  }

  @Override
  public boolean markSupported() {
    return false;
  }
}

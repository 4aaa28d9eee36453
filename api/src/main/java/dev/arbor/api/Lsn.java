package dev.arbor.api;

import java.util.regex.Pattern;

/**
 * A PostgreSQL WAL position (64-bit, unsigned), written {@code X/Y} in hex as PostgreSQL prints it.
 * Ordering is unsigned; values above 2^63 do not occur in practice but compare correctly anyway.
 */
public record Lsn(long value) implements Comparable<Lsn> {

  public static final Lsn ZERO = new Lsn(0);
  public static final Pattern TEXT = Pattern.compile("^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$");
  /** PostgreSQL's default WAL segment size; a cluster's real size is in pg_control. */
  public static final long DEFAULT_SEGMENT_SIZE = 16L * 1024 * 1024;

  /** Parses {@code X/Y}; the message of the exception says what a valid LSN looks like. */
  public static Lsn parse(String text) {
    if (text == null || !TEXT.matcher(text).matches()) {
      throw new IllegalArgumentException("'" + text + "' is not an LSN: expected two hex numbers of up to 8 digits "
          + "separated by '/', as PostgreSQL prints them (e.g. 0/16B5A50)");
    }
    int slash = text.indexOf('/');
    long hi = Long.parseLong(text.substring(0, slash), 16);
    long lo = Long.parseLong(text.substring(slash + 1), 16);
    return new Lsn((hi << 32) | lo);
  }

  public static boolean isValid(String text) {
    return text != null && TEXT.matcher(text).matches();
  }

  public long segmentNumber(long segmentSize) {
    return Long.divideUnsigned(value, segmentSize);
  }

  public long segmentOffset(long segmentSize) {
    return Long.remainderUnsigned(value, segmentSize);
  }

  /** The start of the segment this LSN lies in. */
  public Lsn segmentStart(long segmentSize) {
    return new Lsn(value - segmentOffset(segmentSize));
  }

  public Lsn plus(long bytes) {
    return new Lsn(value + bytes);
  }

  public boolean isAfter(Lsn other) {
    return compareTo(other) > 0;
  }

  public boolean isBefore(Lsn other) {
    return compareTo(other) < 0;
  }

  public static Lsn max(Lsn a, Lsn b) {
    return a.compareTo(b) >= 0 ? a : b;
  }

  public static Lsn min(Lsn a, Lsn b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  @Override
  public int compareTo(Lsn o) {
    return Long.compareUnsigned(value, o.value);
  }

  @Override
  public String toString() {
    return String.format("%X/%X", value >>> 32, value & 0xFFFFFFFFL);
  }
}

package dev.arbor.postgres;

import java.util.regex.Pattern;

/**
 * Names of files in pg_wal: a segment is {@code TTTTTTTTXXXXXXXXYYYYYYYY} (timeline, then the segment number
 * split into "log" and "seg" parts by segments per 4 GiB); a timeline history file is {@code TTTTTTTT.history}.
 */
public final class WalFileName {
  private static final Pattern SEGMENT = Pattern.compile("^[0-9A-F]{24}$");
  private static final Pattern HISTORY = Pattern.compile("^[0-9A-F]{8}\\.history$");

  private WalFileName() {}

  public static String segment(int timeline, long segmentNumber, long segmentSize) {
    long perLog = 0x1_0000_0000L / segmentSize;
    return String.format("%08X%08X%08X", timeline, segmentNumber / perLog, segmentNumber % perLog);
  }

  public static String history(int timeline) {
    return String.format("%08X.history", timeline);
  }

  public static boolean isSegment(String name) {
    return SEGMENT.matcher(name).matches();
  }

  public static boolean isHistory(String name) {
    return HISTORY.matcher(name).matches();
  }

  public static int timelineOf(String name) {
    return Integer.parseUnsignedInt(name.substring(0, 8), 16);
  }

  /** The segment number a segment file name stands for. */
  public static long segmentNumberOf(String name, long segmentSize) {
    long perLog = 0x1_0000_0000L / segmentSize;
    return Long.parseLong(name.substring(8, 16), 16) * perLog + Long.parseLong(name.substring(16, 24), 16);
  }
}

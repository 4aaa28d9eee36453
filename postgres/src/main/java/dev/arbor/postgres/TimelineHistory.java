package dev.arbor.postgres;

import dev.arbor.api.Lsn;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A PostgreSQL timeline history file ({@code TTTTTTTT.history}) of TLI {@code tli}: one line per ancestor
 * TLI, oldest first, {@code parentTLI <TAB> switchpoint <TAB> reason}, where the switch point is the LSN at
 * which the next TLI branched off it (blank lines and {@code #} comments aside). TLI 1 has no file: its
 * history is itself from LSN 0.
 */
public final class TimelineHistory {

  /** A TLI of the history and where its WAL begins (0 for the first). */
  public record Begin(int tli, Lsn lsn) {}

  private final int tli;
  /** Oldest first; the last one is {@code tli} itself. */
  private final List<Begin> begins;

  private TimelineHistory(int tli, List<Begin> begins) {
    this.tli = tli;
    this.begins = List.copyOf(begins);
  }

  /** The history of TLI 1 (no file), or of a TLI from its file's content. */
  public static TimelineHistory of(int tli, String fileContent) {
    List<Begin> begins = new ArrayList<>();
    Lsn begin = Lsn.ZERO;
    if (fileContent != null) {
      for (String line : fileContent.split("\n")) {
        String[] f = line.strip().split("\\s+");
        if (f.length < 2 || f[0].isEmpty() || f[0].startsWith("#") || !Lsn.isValid(f[1])) {
          continue;
        }
        begins.add(new Begin(Integer.parseInt(f[0]), begin));
        begin = Lsn.parse(f[1]);
      }
    }
    begins.add(new Begin(tli, begin));
    return new TimelineHistory(tli, begins);
  }

  public static TimelineHistory of(int tli, byte[] fileContent) {
    return of(tli, new String(fileContent, StandardCharsets.UTF_8));
  }

  public int tli() {
    return tli;
  }

  /** Every TLI of the history with where its WAL begins, oldest first, ending with {@link #tli()}. */
  public List<Begin> begins() {
    return begins;
  }

  /** The TLI this one branched off and where: empty for a history without ancestors. */
  public Optional<Begin> parentSwitch() {
    if (begins.size() < 2) {
      return Optional.empty();
    }
    return Optional.of(new Begin(begins.get(begins.size() - 2).tli(), begins.getLast().lsn()));
  }

  /** Where ancestor TLI {@code ancestor} ended (the next TLI of the history began there), if it is one. */
  public Optional<Lsn> switchPoint(int ancestor) {
    for (int i = 0; i + 1 < begins.size(); i++) {
      if (begins.get(i).tli() == ancestor) {
        return Optional.of(begins.get(i + 1).lsn());
      }
    }
    return Optional.empty();
  }

  /**
   * The TLIs whose WAL may hold segment {@code segmentNumber}, newest first: those that begin in or before
   * it. Recovery following {@link #tli()} asks for the segment under these names in this order
   * (xlogrecovery.c, XLogFileReadAnyTLI).
   */
  public List<Integer> tlisForSegment(long segmentNumber, long segmentSize) {
    List<Integer> tlis = new ArrayList<>();
    for (int i = begins.size() - 1; i >= 0; i--) {
      if (begins.get(i).lsn().segmentNumber(segmentSize) <= segmentNumber) {
        tlis.add(begins.get(i).tli());
      }
    }
    return tlis;
  }
}

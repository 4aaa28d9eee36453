package dev.arbor.postgres;

import dev.arbor.api.Lsn;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The WAL a recovery replayed, as PostgreSQL reports it in its log: {@code redo starts at X} when replay
 * begins, {@code redo done at Y} when it ends (both at the default log level). What a start cost in WAL.
 */
public record RedoRange(Lsn start, Lsn done) {
  private static final Pattern STARTS = Pattern.compile("redo starts at ([0-9A-F]+/[0-9A-F]+)");
  private static final Pattern DONE = Pattern.compile("redo done at ([0-9A-F]+/[0-9A-F]+)");

  /** The bytes of WAL from where replay started to where it ended. */
  public long bytes() {
    return done.value() - start.value();
  }

  /** The last complete range in the log: empty when no recovery in it started and ended replaying. */
  public static Optional<RedoRange> lastIn(Path logFile) throws IOException {
    Lsn start = null;
    RedoRange last = null;
    for (String line : Files.readAllLines(logFile, StandardCharsets.UTF_8)) {
      Matcher s = STARTS.matcher(line);
      if (s.find()) {
        start = Lsn.parse(s.group(1));
        continue;
      }
      Matcher d = DONE.matcher(line);
      if (d.find() && start != null) {
        last = new RedoRange(start, Lsn.parse(d.group(1)));
        start = null;
      }
    }
    return Optional.ofNullable(last);
  }
}

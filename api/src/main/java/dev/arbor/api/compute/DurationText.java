package dev.arbor.api.compute;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Durations in a compute spec as people write them in YAML for Kubernetes: {@code 300s}, {@code 5m}, {@code 1h}. */
public final class DurationText {
  private static final Pattern TEXT = Pattern.compile("^(\\d+)(s|m|h)$");

  private DurationText() {}

  /** Reads a whole number with s, m or h; the exception's message says what a valid value looks like. */
  public static Duration parse(String text) {
    Matcher m = TEXT.matcher(text == null ? "" : text.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException("'" + text + "' is not a duration: write a whole number with s, m or h (e.g. 300s, 5m, 1h)");
    }
    long n = Long.parseLong(m.group(1));
    return switch (m.group(2)) {
      case "s" -> Duration.ofSeconds(n);
      case "m" -> Duration.ofMinutes(n);
      default -> Duration.ofHours(n);
    };
  }

  /** The largest whole unit that writes the duration exactly ({@code 5m}, not {@code 300s}); whole seconds. */
  public static String format(Duration d) {
    long s = d.toSeconds();
    if (s % 3600 == 0 && s > 0) {
      return s / 3600 + "h";
    }
    if (s % 60 == 0 && s > 0) {
      return s / 60 + "m";
    }
    return s + "s";
  }
}

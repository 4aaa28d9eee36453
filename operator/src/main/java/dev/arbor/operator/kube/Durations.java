package dev.arbor.operator.kube;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The API's duration syntax (crds Formats.DURATION): {@code 90s}, {@code 5m}, {@code 12h}, {@code 7d}, {@code 1d12h};
 * and the bare {@code 0} that Formats.DURATION_OR_ZERO also allows.
 */
public final class Durations {
  private Durations() {}

  private static final Pattern PART = Pattern.compile("([0-9]+)(s|m|h|d)");

  public static Duration parse(String text) {
    if ("0".equals(text)) {
      return Duration.ZERO;
    }
    Matcher m = PART.matcher(text);
    Duration d = Duration.ZERO;
    int end = 0;
    while (m.find()) {
      if (m.start() != end) {
        break;
      }
      long n = Long.parseLong(m.group(1));
      d = d.plus(switch (m.group(2)) {
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        case "h" -> Duration.ofHours(n);
        default -> Duration.ofDays(n);
      });
      end = m.end();
    }
    if (end == 0 || end != text.length()) {
      throw new IllegalArgumentException("'" + text + "' is not a duration such as 90s, 5m, 12h or 1d12h");
    }
    return d;
  }
}

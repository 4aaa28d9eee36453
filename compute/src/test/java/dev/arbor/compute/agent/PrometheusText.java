package dev.arbor.compute.agent;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: it fails on anything a
 * Prometheus server would reject (bad names, label syntax or values, a TYPE after its samples or twice, a
 * family split in two groups, duplicate series, a missing final newline) and returns series → value.
 */
final class PrometheusText {
  private static final String NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  private static final Pattern HELP = Pattern.compile("^# HELP (" + NAME + ") (.*)$");
  private static final Pattern TYPE = Pattern.compile("^# TYPE (" + NAME + ") (counter|gauge|histogram|summary|untyped)$");
  private static final Pattern SAMPLE = Pattern.compile(
      "^(" + NAME + ")(\\{(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\[\\\\\"n])*\"(?:,[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\[\\\\\"n])*\")*,?)?\\})? "
          + "(\\S+)( -?\\d+)?$");
  private static final Pattern FLOAT = Pattern.compile("^([+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?|[+-]?Inf|NaN)$");

  private PrometheusText() {}

  static Map<String, Double> parse(String text) {
    if (!text.endsWith("\n")) {
      throw new AssertionError("the exposition must end with a line feed");
    }
    Map<String, Double> series = new LinkedHashMap<>();
    Set<String> typed = new HashSet<>();
    Set<String> closedFamilies = new HashSet<>();
    String currentFamily = null;
    int n = 0;
    for (String line : text.split("\n", -1)) {
      n++;
      if (line.isEmpty()) {
        continue;
      }
      String family;
      if (line.startsWith("#")) {
        Matcher help = HELP.matcher(line);
        Matcher type = TYPE.matcher(line);
        if (type.matches()) {
          family = type.group(1);
          if (!typed.add(family) || series.keySet().stream().anyMatch(s -> familyOf(s).equals(type.group(1)))) {
            throw new AssertionError("line " + n + ": TYPE of " + family + " repeated or after its samples: " + line);
          }
        } else if (help.matches()) {
          family = help.group(1);
        } else if (line.startsWith("# HELP") || line.startsWith("# TYPE")) {
          throw new AssertionError("line " + n + ": malformed HELP/TYPE line: " + line);
        } else {
          continue; // a plain comment
        }
      } else {
        Matcher m = SAMPLE.matcher(line);
        if (!m.matches()) {
          throw new AssertionError("line " + n + ": not a sample line: " + line);
        }
        if (!FLOAT.matcher(m.group(3)).matches()) {
          throw new AssertionError("line " + n + ": value '" + m.group(3) + "' is not a float");
        }
        family = m.group(1);
        String key = m.group(1) + (m.group(2) == null ? "" : m.group(2));
        if (series.put(key, Double.parseDouble(m.group(3).replace("Inf", "Infinity"))) != null) {
          throw new AssertionError("line " + n + ": duplicate series " + key);
        }
      }
      if (!family.equals(currentFamily)) {
        if (closedFamilies.contains(family)) {
          throw new AssertionError("line " + n + ": the lines of " + family + " are not one group");
        }
        if (currentFamily != null) {
          closedFamilies.add(currentFamily);
        }
        currentFamily = family;
      }
    }
    return series;
  }

  private static String familyOf(String series) {
    int brace = series.indexOf('{');
    return brace < 0 ? series : series.substring(0, brace);
  }
}

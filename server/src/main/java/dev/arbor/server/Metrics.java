package dev.arbor.server;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * A process's metrics in the Prometheus text exposition format (version 0.0.4): counters and histograms
 * updated on the hot path without locks, and gauges read when scraped. Families are registered once, up
 * front; labels are given as values in the order the family declared their names.
 */
public final class Metrics {
  public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
  private static final Pattern NAME = Pattern.compile("^[a-zA-Z_:][a-zA-Z0-9_:]*$");

  private final Map<String, Family> families = new LinkedHashMap<>();

  private sealed interface Family permits Counter, Histogram, Gauge {
    void render(StringBuilder out);
  }

  /** A monotonically increasing count per label set. */
  public final class Counter implements Family {
    private final String name;
    private final String help;
    private final String[] labels;
    private final Map<List<String>, LongAdder> values = new ConcurrentHashMap<>();

    private Counter(String name, String help, String[] labels) {
      this.name = name;
      this.help = help;
      this.labels = labels;
      if (labels.length == 0) {
        add(0); // a counter without labels shows 0 before its first event, as Prometheus expects
      }
    }

    public void add(long amount, String... labelValues) {
      values.computeIfAbsent(key(labels, labelValues), k -> new LongAdder()).add(amount);
    }

    public void increment(String... labelValues) {
      add(1, labelValues);
    }

    @Override
    public void render(StringBuilder out) {
      header(out, name, help, "counter");
      values.forEach((k, v) -> sample(out, name, labels, k, null, Long.toString(v.sum())));
    }
  }

  /** Observations counted into cumulative buckets, with their sum, per label set. */
  public final class Histogram implements Family {
    private final String name;
    private final String help;
    private final String[] labels;
    private final double[] bounds;
    private final Map<List<String>, Series> values = new ConcurrentHashMap<>();

    private record Series(AtomicLongArray buckets, LongAdder count, DoubleAdder sum) {}

    private Histogram(String name, String help, double[] bounds, String[] labels) {
      this.name = name;
      this.help = help;
      this.bounds = bounds.clone();
      this.labels = labels;
      Arrays.sort(this.bounds);
      if (labels.length == 0) {
        series(List.of());
      }
    }

    private Series series(List<String> key) {
      return values.computeIfAbsent(key, k -> new Series(new AtomicLongArray(bounds.length), new LongAdder(), new DoubleAdder()));
    }

    public void observe(double value, String... labelValues) {
      Series s = series(key(labels, labelValues));
      for (int i = 0; i < bounds.length; i++) {
        if (value <= bounds[i]) {
          s.buckets.incrementAndGet(i);
          break;
        }
      }
      s.count.increment();
      s.sum.add(value);
    }

    /** Observes a duration measured with {@link System#nanoTime()}, in seconds. */
    public void observeNanos(long nanos, String... labelValues) {
      observe(nanos / 1e9, labelValues);
    }

    @Override
    public void render(StringBuilder out) {
      header(out, name, help, "histogram");
      values.forEach((k, s) -> {
        long cumulative = 0;
        for (int i = 0; i < bounds.length; i++) {
          cumulative += s.buckets.get(i);
          sample(out, name + "_bucket", labels, k, format(bounds[i]), Long.toString(cumulative));
        }
        long count = s.count.sum();
        sample(out, name + "_bucket", labels, k, "+Inf", Long.toString(count));
        sample(out, name + "_sum", labels, k, null, format(s.sum.sum()));
        sample(out, name + "_count", labels, k, null, Long.toString(count));
      });
    }
  }

  /** Where a gauge's samples go when it is read. */
  public interface GaugeSamples {
    void sample(double value, String... labelValues);
  }

  private final class Gauge implements Family {
    private final String name;
    private final String help;
    private final String[] labels;
    private final Consumer<GaugeSamples> reader;

    private Gauge(String name, String help, String[] labels, Consumer<GaugeSamples> reader) {
      this.name = name;
      this.help = help;
      this.labels = labels;
      this.reader = reader;
    }

    @Override
    public void render(StringBuilder out) {
      header(out, name, help, "gauge");
      reader.accept((value, labelValues) -> sample(out, name, labels, key(labels, labelValues), null, format(value)));
    }
  }

  public synchronized Counter counter(String name, String help, String... labels) {
    return register(name, new Counter(name, help, checkLabels(labels)));
  }

  public synchronized Histogram histogram(String name, String help, double[] bounds, String... labels) {
    return register(name, new Histogram(name, help, bounds, checkLabels(labels)));
  }

  /** A gauge whose samples {@code reader} produces each time the metrics are read. */
  public synchronized void gauge(String name, String help, Consumer<GaugeSamples> reader, String... labels) {
    register(name, new Gauge(name, help, checkLabels(labels), reader));
  }

  /** The text exposition of every family, in registration order. */
  public String render() {
    List<Family> snapshot;
    synchronized (this) {
      snapshot = new ArrayList<>(families.values());
    }
    var out = new StringBuilder();
    for (Family f : snapshot) {
      f.render(out);
    }
    return out.toString();
  }

  private <F extends Family> F register(String name, F family) {
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("'" + name + "' is not a Prometheus metric name");
    }
    if (families.putIfAbsent(name, family) != null) {
      throw new IllegalStateException("metric " + name + " is registered twice");
    }
    return family;
  }

  private static String[] checkLabels(String[] labels) {
    for (String l : labels) {
      if (!NAME.matcher(l).matches() || l.startsWith("__") || l.contains(":")) {
        throw new IllegalArgumentException("'" + l + "' is not a Prometheus label name");
      }
    }
    return labels.clone();
  }

  private static List<String> key(String[] labels, String[] values) {
    if (values.length != labels.length) {
      throw new IllegalArgumentException("expected values for labels " + Arrays.toString(labels) + ", got "
          + Arrays.toString(values));
    }
    return List.of(values);
  }

  private static void header(StringBuilder out, String name, String help, String type) {
    out.append("# HELP ").append(name).append(' ').append(help.replace("\\", "\\\\").replace("\n", "\\n")).append('\n');
    out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
  }

  private static void sample(StringBuilder out, String name, String[] labels, List<String> values, String le, String value) {
    out.append(name);
    if (labels.length > 0 || le != null) {
      out.append('{');
      for (int i = 0; i < labels.length; i++) {
        if (i > 0) {
          out.append(',');
        }
        out.append(labels[i]).append("=\"").append(escape(values.get(i))).append('"');
      }
      if (le != null) {
        out.append(labels.length > 0 ? "," : "").append("le=\"").append(le).append('"');
      }
      out.append('}');
    }
    out.append(' ').append(value).append('\n');
  }

  private static String escape(String v) {
    return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
  }

  private static String format(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e15) {
      return Long.toString((long) v);
    }
    return String.format(Locale.ROOT, "%s", v);
  }
}

package dev.arbor.testing;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** What the wake benchmarks (local mode and the e2e cluster) do as clients, and how they print what they measured. */
public final class WakeSamples {
  private WakeSamples() {}

  /** A new connection, {@code SELECT 1}, its first row, and the close. */
  public static void selectOne(String jdbcUrl) throws SQLException {
    try (Connection c = DriverManager.getConnection(jdbcUrl); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT 1")) {
      rs.next();
    }
  }

  /** {@code clients} connections made at the same moment, each {@link #selectOne}; how many got their row. */
  public static int selectOneAtOnce(String jdbcUrl, int clients) throws Exception {
    var start = new CountDownLatch(1);
    List<Future<?>> all = new ArrayList<>();
    try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < clients; i++) {
        all.add(pool.submit(() -> {
          start.await();
          selectOne(jdbcUrl);
          return null;
        }));
      }
      start.countDown();
      int ok = 0;
      for (Future<?> f : all) {
        f.get();
        ok++;
      }
      return ok;
    }
  }

  /** A Markdown table row: {@code name}, then the p50, p95 and max of {@code millis}. */
  public static String row(String name, List<Double> millis) {
    List<Double> sorted = new ArrayList<>(millis);
    Collections.sort(sorted);
    return String.format("| %s | %.0f | %.0f | %.0f |", name, percentile(sorted, 50), percentile(sorted, 95), sorted.getLast());
  }

  private static double percentile(List<Double> sorted, int p) {
    int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
  }
}

package dev.arbor.compute.testing;

import dev.arbor.compute.start.RunningCompute;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/** Small SQL helpers for tests against a compute. */
public final class Sql {
  private Sql() {}

  /** New connections to the compute, for writers that reconnect (e.g. {@link CommitLedger}). */
  public static java.util.function.Supplier<Connection> connections(RunningCompute c) {
    return () -> {
      try {
        return c.connect("postgres");
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    };
  }

  public static void exec(RunningCompute c, String sql) throws SQLException {
    try (Connection conn = c.connect("postgres"); Statement st = conn.createStatement()) {
      st.execute(sql);
    }
  }

  public static String one(RunningCompute c, String sql) throws SQLException {
    try (Connection conn = c.connect("postgres"); Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }

  public static List<Long> longs(RunningCompute c, String sql) throws SQLException {
    try (Connection conn = c.connect("postgres"); Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      List<Long> out = new ArrayList<>();
      while (rs.next()) {
        out.add(rs.getLong(1));
      }
      return out;
    }
  }
}

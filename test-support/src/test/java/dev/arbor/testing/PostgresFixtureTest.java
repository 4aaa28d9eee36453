package dev.arbor.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Proves the PostgreSQL fixture is a real server process that we start, crash, restart and clean up. */
class PostgresFixtureTest {

  @RegisterExtension
  static final PostgresFixture pg = new PostgresFixture();

  @Test
  void runsSqlAndTheWalPositionAdvancesWithWrites() throws SQLException {
    try (Connection c = pg.connect(); Statement st = c.createStatement()) {
      assertThat(query(st, "SHOW server_version")).startsWith(PostgresFixture.DEFAULT_MAJOR + ".");
      String before = query(st, "SELECT pg_current_wal_lsn()");
      st.execute("CREATE TABLE smoke (id int PRIMARY KEY, note text)");
      st.execute("INSERT INTO smoke SELECT g, 'row ' || g FROM generate_series(1, 1000) g");
      String after = query(st, "SELECT pg_current_wal_lsn()");

      assertThat(before).matches("[0-9A-F]+/[0-9A-F]+");
      assertThat(lsn(after)).isGreaterThan(lsn(before));
      assertThat(query(st, "SELECT count(*) FROM smoke")).isEqualTo("1000");
    }
  }

  @Test
  void listensOnLoopbackWithItsSocketInTheFixtureDirectory() throws SQLException {
    try (Connection c = pg.connect(); Statement st = c.createStatement()) {
      assertThat(query(st, "SHOW listen_addresses")).isEqualTo("127.0.0.1");
      assertThat(Path.of(query(st, "SHOW unix_socket_directories"))).startsWith(pg.directory());
      assertThat(Path.of(query(st, "SHOW data_directory"))).startsWith(pg.directory());
    }
    assertThat(pg.server().socketDir().resolve(".s.PGSQL." + pg.server().port())).exists();
    String owner = ProcessHandle.of(pg.server().pid()).orElseThrow().info().user().orElseThrow();
    assertThat(owner).as("PostgreSQL refuses root; as root the fixture drops to 'postgres'").isNotEqualTo("root");
  }

  @Test
  void survivesSigkillWithCommittedDataAndCleansUpOnClose() throws Exception {
    Path dir;
    long pid;
    try (var own = new PostgresFixture().start()) {
      dir = own.directory();
      try (Connection c = own.connect(); Statement st = c.createStatement()) {
        st.execute("CREATE TABLE t (v int)");
        st.execute("INSERT INTO t VALUES (42)");
      }
      own.server().kill();
      assertThat(own.server().isRunning()).isFalse();

      own.server().start(); // crash recovery replays the WAL
      pid = own.server().pid();
      try (Connection c = own.connect(); Statement st = c.createStatement()) {
        assertThat(query(st, "SELECT v FROM t")).isEqualTo("42");
      }
    }
    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
    assertThat(Files.exists(dir)).isFalse();
  }

  private static String query(Statement st, String sql) throws SQLException {
    try (ResultSet rs = st.executeQuery(sql)) {
      assertThat(rs.next()).isTrue();
      return rs.getString(1);
    }
  }

  private static long lsn(String text) {
    String[] parts = text.split("/");
    return (Long.parseLong(parts[0], 16) << 32) | Long.parseLong(parts[1], 16);
  }
}

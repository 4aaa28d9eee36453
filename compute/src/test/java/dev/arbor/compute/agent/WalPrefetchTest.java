package dev.arbor.compute.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.testing.AgentProcess;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * A start fetches the WAL segments recovery reads ahead of it, under the names PostgreSQL asks for: on a
 * branch's first start (the parent's WAL cut at the branch point) and on a restart whose WAL spans two
 * TLIs, recovery takes every file that was fetched, and the data is what it was.
 */
class WalPrefetchTest {
  private static final Pattern CLOSED =
      Pattern.compile("event=wal_prefetch_closed listed=(\\d+) fetched=(\\d+) missing=(\\d+) taken=(\\d+)");

  @Test
  void recoveryTakesEverySegmentFetchedAheadOnABranchAndAcrossTlis() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-prefetch-")) {
      TenantInfo tenant = storage.createTenant(15);
      ComputeAgentSpec root = AgentSpecs.readWrite(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("root-1"),
          List.of(), List.of());
      // Generation 1 (TLI 2) writes some 40 MB of WAL, generation 2 (TLI 3) some 25 MB more.
      try (AgentProcess agent = AgentProcess.start(root, work.resolve("root-1.json"), Map.of())) {
        agent.awaitRunning();
        execute(agent, "CREATE TABLE t AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 60000) g");
        assertThat(agent.sigterm()).isEqualTo(0);
      }
      try (AgentProcess agent = AgentProcess.start(AgentSpecs.movedTo(root, work.resolve("root-2")), work.resolve("root-2.json"), Map.of())) {
        agent.awaitRunning();
        assertTookAllFetched(agent, 2);
        execute(agent, "INSERT INTO t SELECT g, repeat('y', 500) FROM generate_series(60001, 100000) g");
        assertThat(agent.sigterm()).isEqualTo(0);
      }

      TimelineInfo branch = storage.branch(tenant.tenantId(), tenant.rootTimelineId(), null);
      ComputeAgentSpec onBranch = AgentSpecs.readWrite(storage, tenant.tenantId(), branch.timelineId(), work.resolve("branch"),
          List.of(), List.of());
      try (AgentProcess agent = AgentProcess.start(onBranch, work.resolve("branch.json"), Map.of())) {
        agent.awaitRunning();
        assertTookAllFetched(agent, 4);
        assertThat(count(agent)).isEqualTo(100000);
        assertThat(Files.exists(work.resolve("branch").resolve("pgdata").resolve("arbor-wal"))).as("prefetch directory removed").isFalse();
        assertThat(agent.sigterm()).isEqualTo(0);
      }

      // Recovery reads the segments of TLI 2, then from the switch on those of TLI 3 (the partial last one
      // comes from a safekeeper into pg_wal).
      try (AgentProcess agent = AgentProcess.start(AgentSpecs.movedTo(root, work.resolve("root-3")), work.resolve("root-3.json"), Map.of())) {
        agent.awaitRunning();
        assertTookAllFetched(agent, 3);
        assertThat(count(agent)).isEqualTo(100000);
        assertThat(agent.sigterm()).isEqualTo(0);
      }
    }
  }

  private static void assertTookAllFetched(AgentProcess agent, int atLeast) {
    String line = agent.output().stream().filter(l -> l.contains("event=wal_prefetch_closed")).findFirst()
        .orElseThrow(() -> new AssertionError("no event=wal_prefetch_closed; output:\n" + agent.outputText()));
    Matcher m = CLOSED.matcher(line);
    assertThat(m.find()).as(line).isTrue();
    int listed = Integer.parseInt(m.group(1));
    int fetched = Integer.parseInt(m.group(2));
    int missing = Integer.parseInt(m.group(3));
    int taken = Integer.parseInt(m.group(4));
    assertThat(fetched + missing).as("every listed file fetched or not (yet) archived: " + line).isEqualTo(listed);
    assertThat(missing).as("at most the partial segment at the end of WAL is missing: " + line).isLessThanOrEqualTo(1);
    assertThat(fetched).as(line).isGreaterThanOrEqualTo(atLeast);
    assertThat(taken).as("recovery took every fetched file, so their names were the ones it asked for: " + line).isEqualTo(fetched);
  }

  private static void execute(AgentProcess agent, String sql) throws Exception {
    try (Connection c = agent.superuser("postgres"); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  private static long count(AgentProcess agent) throws Exception {
    try (Connection c = agent.superuser("postgres"); Statement st = c.createStatement();
         ResultSet rs = st.executeQuery("SELECT count(*) FROM t")) {
      rs.next();
      return rs.getLong(1);
    }
  }
}

package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.pageserver.Basebackup;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.AgentProcess;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The storage engine with TLS and tokens on serves a compute (issue 16, "TLS"): a pageserver and three safekeepers
 * started with certificates of a CA ({@link StorageProcesses#withTls()}), a compute that elects, fetches its basebackup
 * and streams WAL over HTTPS with its token, an image made while it commits (the pageserver's working copy fetches WAL
 * from the pageserver itself with curl and the CA), and a restart through the agent, whose spec names https URLs and
 * the CA, that finds every acknowledged commit (its restore_command fetches WAL over HTTPS too). The compute's
 * PostgreSQL serves TLS with a certificate of the same CA, and the safekeepers stream from it over verify-full TLS with
 * the certificate they serve HTTPS with as client identity: one TLS switch for both.
 */
class StorageOverTlsTest {

  @Test
  void aComputeOverHttpsWithTokensCommitsAndRestartsWithEveryRow() throws Exception {
    try (var storage = new StorageProcesses(3).withTls().start(); var work = TempDirectory.create("arbor-tls-")) {
      assertThat(storage.pageserverUrl()).startsWith("https://");
      assertThat(storage.safekeeperUrls().values()).allMatch(u -> u.startsWith("https://"));
      TenantInfo tenant = storage.createTenant(15);
      RunningCompute main = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("main-1"));
      assertThat(Sql.one(main, "SHOW ssl")).as("with TLS storage the compute serves TLS too").isEqualTo("on");
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(Sql.one(main, "SELECT string_agg(s.ssl || ':' "
          + "|| coalesce(s.client_dn, '-'), ',') FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"))
          .as("every safekeeper streams over TLS with the certificate it serves HTTPS with")
          .isEqualTo("true:/CN=arbor_replication,true:/CN=arbor_replication,true:/CN=arbor_replication"));
      Sql.exec(main, CommitLedger.DDL);
      Set<Long> acked;
      try (var ledger = new CommitLedger(4, Sql.connections(main))) {
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 200);
        storage.makeImage(tenant.tenantId(), tenant.rootTimelineId());
        int afterImage = ledger.count();
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= afterImage + 200);
        main.kill();
        acked = ledger.acknowledged();
      }
      assertThat(acked).hasSizeGreaterThan(400);

      ComputeAgentSpec spec = AgentSpecs.readWrite(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("agent"), List.of(),
          List.of());
      assertThat(spec.pageserverUrl()).startsWith("https://");
      assertThat(spec.storageCaFile()).isEqualTo(storage.caFile().toString());
      assertThat(spec.storageInsecureHttp()).as("no plain HTTP allowed").isNull();
      assertThat(spec.tls()).as("PostgreSQL's certificate of the harness's CA").isNotNull();
      assertThat(spec.tls().dnsName()).isEqualTo("localhost");
      try (AgentProcess agent = AgentProcess.start(spec, work.resolve("spec.json"), Map.of())) {
        agent.awaitRunning();
        Set<Long> present = new HashSet<>();
        try (Connection c = agent.superuser("postgres"); ResultSet rs = c.createStatement().executeQuery("SELECT id FROM ledger_rows")) {
          while (rs.next()) {
            present.add(rs.getLong(1));
          }
        }
        assertThat(present).as("every acknowledged commit after the restart").containsAll(acked);
        assertThat(work.resolve("agent/pgdata").resolve(Basebackup.STORAGE_CA_FILE)).as("restore_command's CA")
            .hasSameTextualContentAs(storage.caFile());
      }
      for (String daemon : List.of("pageserver", "sk-0", "sk-1", "sk-2")) {
        String log = Files.readString(storage.directory().resolve("logs/" + daemon + ".log"));
        assertThat(log).as("%s's log", daemon).doesNotContain("SSLHandshakeException", "PlainHttpRefused");
      }
    }
  }
}

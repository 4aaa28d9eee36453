package dev.arbor.compute.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.net.URI;
import java.net.HttpURLConnection;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The storage processes' {@code GET /metrics}, scraped as Prometheus would while a compute commits:
 * what the safekeepers made durable, how long their flushes took, and the pageserver's requests.
 */
class StorageMetricsTest {

  @Test
  void safekeepersAndPageserverExposeWhatTheyDid() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-metrics-")) {
      TenantInfo tenant = storage.createTenant(15);
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c"))) {
        Sql.exec(c, "CREATE TABLE t AS SELECT generate_series(1, 10000) AS v");
        Lsn committed = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_lsn()"));

        String flushLsnSample = "arbor_safekeeper_flush_lsn_bytes{tenant_id=\"" + tenant.tenantId() + "\",timeline_id=\""
            + tenant.rootTimelineId() + "\"}";
        // A majority had it when the commit returned; the third safekeeper catches up soon after.
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
          for (String url : storage.safekeeperUrls().values()) {
            assertThat(Scrape.of(url).value(flushLsnSample)).as("flush LSN of %s", url).isGreaterThanOrEqualTo(committed.value());
          }
        });
        for (String url : storage.safekeeperUrls().values()) {
          Scrape sk = Scrape.of(url);
          assertThat(sk.value("arbor_safekeeper_timelines")).isEqualTo(1);
          assertThat(sk.value("arbor_safekeeper_wal_bytes_total")).as("WAL made durable").isGreaterThan(100_000);
          assertThat(sk.value("arbor_safekeeper_flush_duration_seconds_count")).as("flushes").isGreaterThan(0);
          assertThat(sk.value("arbor_safekeeper_flush_duration_seconds_bucket{le=\"+Inf\"}"))
              .isEqualTo(sk.value("arbor_safekeeper_flush_duration_seconds_count"));
          assertThat(sk.text).contains("# TYPE arbor_safekeeper_flush_duration_seconds histogram");
          assertThat(sk.value("arbor_http_requests_total{code=\"200\",method=\"POST\",route=\"/v1/tenant/{tenant_id}/timeline/{timeline_id}/fence\"}"))
              .as("the compute start's fence request").isEqualTo(1);
        }

        Scrape ps = Scrape.of(storage.pageserverUrl());
        assertThat(ps.value("arbor_http_requests_total{code=\"201\",method=\"POST\",route=\"/v1/tenant\"}")).isEqualTo(1);
        assertThat(ps.value("arbor_http_request_duration_seconds_count{route=\"/v1/tenant/{tenant_id}/timeline/{timeline_id}/basebackup\"}"))
            .isEqualTo(1);
      }
    }
  }

  private record Scrape(String text) {
    static Scrape of(String baseUrl) throws IOException {
      var conn = (HttpURLConnection) URI.create(baseUrl + "/metrics").toURL().openConnection();
      assertThat(conn.getResponseCode()).isEqualTo(200);
      assertThat(conn.getContentType()).isEqualTo("text/plain; version=0.0.4; charset=utf-8");
      try (var in = conn.getInputStream()) {
        return new Scrape(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      }
    }

    /** The value of the sample with exactly this name and label set; fails when there is none. */
    double value(String sample) {
      Matcher m = Pattern.compile("(?m)^" + Pattern.quote(sample) + " (\\S+)$").matcher(text);
      assertThat(m.find()).as("sample %s in:%n%s", sample, text).isTrue();
      return Double.parseDouble(m.group(1));
    }
  }
}

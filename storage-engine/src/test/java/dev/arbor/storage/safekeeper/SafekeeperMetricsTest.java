package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.TempDirectory;
import org.junit.jupiter.api.Test;

/**
 * A safekeeper's own families on {@code GET /metrics} before it has done anything: each with its type and help
 * text, the counters at 0 (a rate over them starts from the first scrape), the per-timeline gauge absent.
 * What they count once a compute streams is {@code StorageMetricsTest}'s (compute module).
 */
class SafekeeperMetricsTest {

  @Test
  void everyFamilyIsServedWithItsTypeAndHelpFromTheStart() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-metrics-");
         Safekeeper sk = SafekeeperData.start("sk-x", dir.resolve("data"), new LocalObjectStore(dir.resolve("objects")))) {
      String text = SafekeeperData.metrics(sk.url());
      assertThat(text)
          .contains("# HELP arbor_safekeeper_wal_bytes_total WAL received from computes and made durable.\n"
              + "# TYPE arbor_safekeeper_wal_bytes_total counter\n")
          .contains("# HELP arbor_safekeeper_offloaded_segments_total Complete WAL segments uploaded to object storage.\n"
              + "# TYPE arbor_safekeeper_offloaded_segments_total counter\n")
          .contains("# TYPE arbor_safekeeper_offload_failures_total counter\n")
          .contains("# HELP arbor_safekeeper_timelines Timelines this safekeeper holds WAL or a generation of.\n"
              + "# TYPE arbor_safekeeper_timelines gauge\n")
          .contains("# TYPE arbor_safekeeper_quarantined_timelines gauge\n")
          .contains("# HELP arbor_safekeeper_flush_duration_seconds Time to force one batch of WAL to disk; every acknowledged "
              + "commit waits for one.\n# TYPE arbor_safekeeper_flush_duration_seconds histogram\n")
          .as("labelled by timeline: no sample, so no family, while it holds none")
          .doesNotContain("arbor_safekeeper_flush_lsn_bytes")
          .as("labelled by reason: nothing until a receiver fails")
          .doesNotContain("arbor_safekeeper_receiver_failures_total{");
      for (String counter : new String[] {"arbor_safekeeper_wal_bytes_total", "arbor_safekeeper_offloaded_segments_total",
          "arbor_safekeeper_offload_failures_total", "arbor_safekeeper_timelines", "arbor_safekeeper_quarantined_timelines",
          "arbor_safekeeper_flush_duration_seconds_count", "arbor_safekeeper_flush_duration_seconds_bucket{le=\"+Inf\"}"}) {
        assertThat(SafekeeperData.metric(text, counter)).as(counter).isZero();
      }
      assertThat(text).as("the flush buckets, 100 µs to 1 s").contains("arbor_safekeeper_flush_duration_seconds_bucket{le=\"1.0E-4\"} 0")
          .contains("arbor_safekeeper_flush_duration_seconds_bucket{le=\"0.0025\"} 0")
          .contains("arbor_safekeeper_flush_duration_seconds_bucket{le=\"1.0\"} 0");
    }
  }
}

package dev.arbor.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The text exposition format as Prometheus parses it (version 0.0.4). */
class MetricsTest {

  @Test
  void rendersCountersHistogramsAndGaugesWithEscapedLabels() {
    var m = new Metrics();
    var requests = m.counter("x_requests_total", "Requests.\nSecond line.", "route", "code");
    var latency = m.histogram("x_latency_seconds", "Latency.", new double[] {0.1, 0.01, 1});
    m.gauge("x_items", "Items.", g -> {
      g.sample(2, "a\"b\\c");
      g.sample(0.5, "d");
    }, "name");
    requests.increment("/v1/{id}", "200");
    requests.add(2, "/v1/{id}", "200");
    latency.observe(0.005);
    latency.observe(0.05);
    latency.observe(5);

    assertThat(m.render()).isEqualTo("""
        # HELP x_requests_total Requests.\\nSecond line.
        # TYPE x_requests_total counter
        x_requests_total{route="/v1/{id}",code="200"} 3
        # HELP x_latency_seconds Latency.
        # TYPE x_latency_seconds histogram
        x_latency_seconds_bucket{le="0.01"} 1
        x_latency_seconds_bucket{le="0.1"} 2
        x_latency_seconds_bucket{le="1"} 2
        x_latency_seconds_bucket{le="+Inf"} 3
        x_latency_seconds_sum 5.055
        x_latency_seconds_count 3
        # HELP x_items Items.
        # TYPE x_items gauge
        x_items{name="a\\"b\\\\c"} 2
        x_items{name="d"} 0.5
        """);
  }

  @Test
  void refusesBadNamesWrongLabelCountsAndDuplicates() {
    var m = new Metrics();
    var c = m.counter("ok_total", "Ok.", "a");
    m.counter("quiet_total", "Nothing happened yet.");
    assertThat(m.render()).as("a counter without labels shows 0 from the start").contains("\nquiet_total 0\n")
        .as("a labelled one shows nothing before its first label set").doesNotContain("ok_total{");
    assertThatThrownBy(() -> c.increment("1", "2")).hasMessageContaining("expected values for labels [a]");
    assertThatThrownBy(() -> m.counter("ok_total", "Again.")).hasMessageContaining("registered twice");
    assertThatThrownBy(() -> m.counter("bad-name", "Bad.")).hasMessageContaining("not a Prometheus metric name");
    assertThatThrownBy(() -> m.counter("x_total", "X.", "__reserved")).hasMessageContaining("not a Prometheus label name");
  }
}

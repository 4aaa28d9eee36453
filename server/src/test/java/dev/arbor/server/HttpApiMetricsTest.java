package dev.arbor.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code GET /metrics} of every daemon as Prometheus scrapes it: the text format 0.0.4 with the names, types,
 * labels and help texts that dashboards and alerts use, the HTTP server's own families and a component's.
 */
class HttpApiMetricsTest {
  private final HttpClient client = HttpClient.newHttpClient();

  @Test
  void countsAndTimesRequestsByRoutePatternAndServesAComponentsMeters() throws Exception {
    var refreshes = new AtomicInteger();
    try (HttpApi api = new HttpApi("test").route("GET", "/v1/thing/{id}", r -> Response.ok(Map.of("id", r.path("id"))))) {
      Counter events = Counter.builder("arbor_test_events_total").description("Events of the test.").register(api.metrics());
      api.beforeScrape(refreshes::incrementAndGet).start(new InetSocketAddress("127.0.0.1", 0));
      String base = "http://127.0.0.1:" + api.port();

      HttpResponse<String> first = get(base, "GET", "/metrics");
      assertThat(first.statusCode()).isEqualTo(200);
      assertThat(first.headers().firstValue("Content-Type")).contains("text/plain; version=0.0.4; charset=utf-8");
      assertThat(first.body()).as("a counter shows 0 before its first event")
          .contains("# HELP arbor_test_events_total Events of the test.\n# TYPE arbor_test_events_total counter\n")
          .containsPattern("(?m)^arbor_test_events_total 0(\\.0)?$");

      events.increment(3);
      assertThat(get(base, "GET", "/v1/thing/7").statusCode()).isEqualTo(200);
      assertThat(get(base, "GET", "/v1/thing/8").statusCode()).isEqualTo(200);
      assertThat(get(base, "GET", "/v1/nothing").statusCode()).isEqualTo(404);
      assertThat(get(base, "BREW", "/v1/thing/7").statusCode()).isEqualTo(405);

      // A request is counted once its answer is sent: scrape until the last ones are in.
      String ok = "arbor_http_requests_total{code=\"200\",method=\"GET\",route=\"/v1/thing/{id}\"} 2";
      String refused = "arbor_http_requests_total{code=\"405\"";
      int scrapes = 1;
      String text;
      do {
        text = get(base, "GET", "/metrics").body();
        scrapes++;
      } while (!(text.contains(ok) && text.contains(refused)) && scrapes < 200);
      assertThat(refreshes).as("the component's refresh ran before each scrape").hasValue(scrapes);
      assertThat(value(text, "arbor_test_events_total")).isEqualTo(3);
      assertThat(text).contains("# HELP arbor_http_requests_total HTTP requests answered, by method, route pattern and status code.\n"
          + "# TYPE arbor_http_requests_total counter\n");
      assertThat(value(text, "arbor_http_requests_total{code=\"200\",method=\"GET\",route=\"/v1/thing/{id}\"}")).isEqualTo(2);
      assertThat(value(text, "arbor_http_requests_total{code=\"404\",method=\"GET\",route=\"unmatched\"}")).isEqualTo(1);
      assertThat(value(text, "arbor_http_requests_total{code=\"405\",method=\"other\",route=\"unmatched\"}"))
          .as("a method nobody routes is counted as other: the label values stay bounded").isEqualTo(1);

      assertThat(text).contains("# HELP arbor_http_request_duration_seconds Time to answer an HTTP request (streamed bodies included), "
          + "by route pattern.\n# TYPE arbor_http_request_duration_seconds histogram\n");
      String route = "route=\"/v1/thing/{id}\"";
      assertThat(buckets(text, "arbor_http_request_duration_seconds", route))
          .containsExactly("0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1.0", "5.0", "30.0", "+Inf");
      assertThat(value(text, "arbor_http_request_duration_seconds_bucket{" + route + ",le=\"+Inf\"}")).isEqualTo(2);
      assertThat(value(text, "arbor_http_request_duration_seconds_count{" + route + "}")).isEqualTo(2);
      assertThat(value(text, "arbor_http_request_duration_seconds_sum{" + route + "}")).isPositive();
      assertThat(text).as("no OpenMetrics-only samples in the 0.0.4 text").doesNotContain("_created");
    }
  }

  private HttpResponse<String> get(String base, String method, String path) throws Exception {
    return client.send(HttpRequest.newBuilder(URI.create(base + path)).method(method, HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** The value of the sample with exactly this name and label set; fails when there is none. */
  private static double value(String text, String sample) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(sample) + " (\\S+)$").matcher(text);
    assertThat(m.find()).as("sample %s in:%n%s", sample, text).isTrue();
    return Double.parseDouble(m.group(1));
  }

  /** The {@code le} bounds of a histogram's series, in the order served. */
  private static List<String> buckets(String text, String histogram, String labels) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(histogram + "_bucket{" + labels + ",le=\"") + "([^\"]+)\"} ").matcher(text);
    List<String> bounds = new ArrayList<>();
    while (m.find()) {
      bounds.add(m.group(1));
    }
    return bounds;
  }
}

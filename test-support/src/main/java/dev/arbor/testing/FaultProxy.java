package dev.arbor.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * An HTTP reverse proxy on loopback in front of one of Arbor's HTTP servers (a pageserver, a safekeeper),
 * forwarding every request as it is unless a fault rule matches its path: then it answers with a chosen
 * status, cuts the body short, drops the connection, or delays. Tests put it where a component reaches
 * another one, to make fetches fail or race the way networks and overloaded servers make them.
 *
 * <pre>{@code
 * try (var proxy = FaultProxy.start(pageserverUrl)) {
 *   proxy.inject(".+/wal/000000010000000000000005", Fault.status(404));
 *   ... start a compute against proxy.url() ...
 * }
 * }</pre>
 */
public final class FaultProxy implements AutoCloseable {

  /** What a matching request gets instead of the target's answer. */
  public sealed interface Fault {
    /** This status with a problem+json body, without asking the target. */
    static Fault status(int code) {
      return new Status(code);
    }

    /** The target's status and headers, then only the first {@code bytes} bytes of its body, then the connection drops. */
    static Fault truncateAfter(long bytes) {
      return new Truncate(bytes);
    }

    /** The connection drops before any answer. */
    static Fault drop() {
      return new Drop();
    }

    /**
     * The target gets the request and acts on it, then the connection drops before its answer: the client
     * cannot tell whether the request took effect.
     */
    static Fault dropAnswer() {
      return new DropAnswer();
    }

    /** The target's answer, {@code delay} late. */
    static Fault delay(Duration delay) {
      return new Delay(delay);
    }

    /** The target's answer once the gate opens ({@link Gate#open()}); requests wait until then (at most 10 min). */
    static Gate gate() {
      return new Gate(new java.util.concurrent.CountDownLatch(1));
    }
  }

  /** Holds matching requests until opened. */
  public record Gate(java.util.concurrent.CountDownLatch latch) implements Fault {
    public void open() {
      latch.countDown();
    }
  }

  record Status(int code) implements Fault {}

  record Truncate(long bytes) implements Fault {}

  record Drop() implements Fault {}

  record DropAnswer() implements Fault {}

  record Delay(Duration delay) implements Fault {}

  private record Rule(Pattern path, Fault fault, AtomicInteger remaining) {}

  /** Ends the exchange without a complete answer: the JDK server then closes the connection as it is. */
  private static final class DropConnection extends RuntimeException {
    DropConnection() {
      super("fault injected", null, false, false);
    }
  }

  private final String target;
  private final HttpServer server;
  private final List<Rule> rules = new CopyOnWriteArrayList<>();
  private final Map<String, AtomicInteger> faulted = new ConcurrentHashMap<>();
  private final java.util.Set<String> droppedRequestHeaders = ConcurrentHashMap.newKeySet();

  private FaultProxy(String target) throws IOException {
    this.target = target.endsWith("/") ? target.substring(0, target.length() - 1) : target;
    this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    server.createContext("/", this::handle);
    server.start();
  }

  /** A proxy on a free loopback port in front of {@code targetBaseUrl} (e.g. {@code http://127.0.0.1:9898}). */
  public static FaultProxy start(String targetBaseUrl) throws IOException {
    return new FaultProxy(targetBaseUrl);
  }

  public String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  /** Every request whose path (without the query) matches {@code pathRegex} gets {@code fault}, until {@link #clear()}. */
  public FaultProxy inject(String pathRegex, Fault fault) {
    return inject(pathRegex, fault, Integer.MAX_VALUE);
  }

  /** The next {@code times} requests whose path matches {@code pathRegex} get {@code fault}. */
  public FaultProxy inject(String pathRegex, Fault fault, int times) {
    rules.add(new Rule(Pattern.compile(pathRegex), fault, new AtomicInteger(times)));
    return this;
  }

  /**
   * Forwards every request without these headers (case-insensitive), as a server or a middlebox that does not
   * know them would: e.g. {@code If-None-Match} to show what a client does against an S3 server without
   * conditional writes. The target must not check signatures over the dropped headers.
   */
  public FaultProxy dropRequestHeaders(String... names) {
    for (String name : names) {
      droppedRequestHeaders.add(name.toLowerCase(java.util.Locale.ROOT));
    }
    return this;
  }

  /** Forwards everything again. */
  public void clear() {
    rules.clear();
  }

  /** How many requests matching {@code pathRegex} got a fault so far. */
  public int faults(String pathRegex) {
    return faulted.getOrDefault(pathRegex, new AtomicInteger()).get();
  }

  private Fault faultFor(String path) {
    for (Rule r : rules) {
      if (r.path.matcher(path).matches() && r.remaining.getAndDecrement() > 0) {
        faulted.computeIfAbsent(r.path.pattern(), k -> new AtomicInteger()).incrementAndGet();
        return r.fault;
      }
    }
    return null;
  }

  private void handle(HttpExchange exchange) throws IOException {
    Fault fault = faultFor(exchange.getRequestURI().getPath());
    switch (fault) {
      case Status s -> {
        byte[] body = ("{\"type\":\"https://arbor.dev/problems/fault-injected\",\"title\":\"Injected fault\",\"status\":" + s.code()
            + ",\"detail\":\"FaultProxy answered " + s.code() + "\"}").getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/problem+json");
        exchange.sendResponseHeaders(s.code(), body.length);
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(body);
        }
        exchange.close();
        return;
      }
      case Drop d -> throw new DropConnection();
      case Delay d -> pause(d.delay());
      case Gate g -> {
        try {
          g.latch().await(10, java.util.concurrent.TimeUnit.MINUTES);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      case null, default -> { }
    }
    forward(exchange, fault instanceof Truncate t ? t.bytes() : -1, fault instanceof DropAnswer);
  }

  private void forward(HttpExchange exchange, long truncateAfter, boolean dropAnswer) throws IOException {
    HttpURLConnection c = (HttpURLConnection) URI.create(target + exchange.getRequestURI()).toURL().openConnection();
    c.setRequestMethod(exchange.getRequestMethod());
    c.setInstanceFollowRedirects(false);
    c.setConnectTimeout(10_000);
    c.setReadTimeout(300_000);
    exchange.getRequestHeaders().forEach((name, values) -> {
      if (name != null && !name.equalsIgnoreCase("Host") && !name.equalsIgnoreCase("Content-Length")
          && !name.equalsIgnoreCase("Connection") && !name.equalsIgnoreCase("Transfer-Encoding")
          && !droppedRequestHeaders.contains(name.toLowerCase(java.util.Locale.ROOT))) {
        values.forEach(v -> c.addRequestProperty(name, v));
      }
    });
    byte[] requestBody;
    try (InputStream in = exchange.getRequestBody()) {
      requestBody = in.readAllBytes();
    }
    if (requestBody.length > 0) {
      c.setDoOutput(true);
      c.setFixedLengthStreamingMode(requestBody.length);
      try (OutputStream out = c.getOutputStream()) {
        out.write(requestBody);
      }
    }
    int status;
    try {
      status = c.getResponseCode();
    } catch (IOException targetDown) {
      throw new DropConnection(); // as the target did to us
    }
    if (dropAnswer) {
      c.disconnect();
      throw new DropConnection();
    }
    c.getHeaderFields().forEach((name, values) -> {
      if (name != null && !name.equalsIgnoreCase("Content-Length") && !name.equalsIgnoreCase("Transfer-Encoding")
          && !name.equalsIgnoreCase("Connection") && !name.equalsIgnoreCase("Keep-Alive")) {
        exchange.getResponseHeaders().put(name, values);
      }
    });
    InputStream body = status >= 400 ? c.getErrorStream() : c.getInputStream();
    long length = c.getContentLengthLong();
    boolean empty = body == null || length == 0;
    exchange.sendResponseHeaders(status, empty ? -1 : Math.max(length, 0));
    if (empty) {
      exchange.close();
      return;
    }
    OutputStream out = exchange.getResponseBody();
    try (body) {
      byte[] buf = new byte[64 * 1024];
      long sent = 0;
      for (int n; (n = body.read(buf)) >= 0; ) {
        if (truncateAfter >= 0 && sent + n > truncateAfter) {
          out.write(buf, 0, (int) (truncateAfter - sent));
          out.flush();
          throw new DropConnection();
        }
        out.write(buf, 0, n);
        sent += n;
      }
    } catch (IOException targetFailed) {
      throw new DropConnection();
    }
    out.close();
    exchange.close();
  }

  private static void pause(Duration d) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}

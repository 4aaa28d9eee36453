package dev.arbor.storage.safekeeper;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.api.safekeeper.FenceResult;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.api.safekeeper.SafekeeperStatus;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.postgres.WalFileName;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The safekeeper client against a real safekeeper: typed calls, problems, retries, timeouts and isRunning. */
class SafekeeperClientTest {
  private static final RetryPolicy PATIENT = new RetryPolicy(40, Duration.ofMillis(50), Duration.ofMillis(250));
  private final TenantId tenant = TenantId.random();
  private final TimelineId timeline = TimelineId.random();

  @Test
  void everyRouteRoundTripsTypedAndRefusalsArriveAsProblemsWithTheirTypeAndField() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-client-")) {
      Path data = dir.resolve("data");
      SafekeeperData.writeWal(SafekeeperData.storeDir(data, tenant, timeline), 2, new Lsn(SEG), SafekeeperData.randomWal(SEG + SEG / 2, 7));
      try (Safekeeper sk = SafekeeperData.start("sk-c", data, new LocalObjectStore(dir.resolve("objects")))) {
        var client = new SafekeeperClient(sk.url() + "/", Duration.ofSeconds(10), RetryPolicy.DEFAULT);
        assertThat(client.baseUrl()).as("a trailing slash is dropped").isEqualTo(sk.url());

        assertThat(client.status()).isEqualTo(new SafekeeperStatus("safekeeper", "sk-c", 1, 0));
        assertThat(client.timeline(tenant, timeline)).isEqualTo(new TimelineWalStatus("sk-c", 0, 2, new Lsn(2 * SEG + SEG / 2), false));

        ApiProblem unfenced = catchThrowableOfType(ApiProblem.class, () -> client.follow(tenant, timeline, follow(1)));
        assertThat(unfenced.status()).isEqualTo(409);
        assertThat(unfenced.is("fence-required")).as(unfenced.type()).isTrue();
        assertThat(unfenced.field()).isEqualTo("generation");
        assertThat(unfenced).hasMessageContaining("fence it with generation 1 first");

        assertThat(client.fence(tenant, timeline, new FenceRequest(1, true))).isEqualTo(new FenceResult("sk-c", 1, 2, new Lsn(2 * SEG + SEG / 2)));
        ApiProblem stale = catchThrowableOfType(ApiProblem.class, () -> client.fence(tenant, timeline, new FenceRequest(1, null)));
        assertThat(stale.status()).isEqualTo(409);
        assertThat(stale.is("stale-generation")).as(stale.type()).isTrue();
        assertThat(stale.field()).isEqualTo("generation");
        ApiProblem invalid = catchThrowableOfType(ApiProblem.class, () -> client.fence(tenant, timeline, new FenceRequest(0, null)));
        assertThat(invalid.status()).isEqualTo(400);
        assertThat(invalid.is("invalid-field")).isTrue();
        assertThat(invalid.field()).isEqualTo("generation");

        // The compute on port 1 is not there: the safekeeper takes the follow and its receiver retries.
        assertThat(client.follow(tenant, timeline, follow(1)).generation()).isEqualTo(1);

        String complete = WalFileName.segment(2, 1, SEG);
        try (InputStream in = client.walFile(tenant, timeline, complete, new Lsn(2 * SEG), Duration.ofSeconds(30)).orElseThrow()) {
          assertThat(in.readAllBytes()).hasSize((int) SEG);
        }
        assertThat(client.walFile(tenant, timeline, WalFileName.segment(2, 2, SEG), new Lsn(3 * SEG), Duration.ofSeconds(30)))
            .as("not flushed that far").isEmpty();

        var management = new SafekeeperClient(sk.managementUrl(), Duration.ofSeconds(10), RetryPolicy.DEFAULT);
        management.deleteTimeline(tenant, timeline);
        assertThat(client.timeline(tenant, timeline)).isEqualTo(new TimelineWalStatus("sk-c", 0, 0, Lsn.ZERO, false));
        management.deleteTimeline(tenant, timeline); // nothing left to delete is no error
      }
    }
  }

  @Test
  void anIdempotentCallWaitsOutARefusedConnectionUntilTheSafekeeperServes() throws Exception {
    int port = FreePort.pickStable();
    try (var dir = TempDirectory.create("arbor-sk-client-late-")) {
      var config = new SafekeeperConfig("sk-late", new InetSocketAddress("127.0.0.1", port), dir.resolve("data"),
          new LocalObjectStore(dir.resolve("objects")));
      var client = new SafekeeperClient("http://127.0.0.1:" + port, Duration.ofSeconds(5), PATIENT);
      assertThat(client.isRunning()).isFalse();
      assertThatThrownBy(() -> new SafekeeperClient(client.baseUrl(), Duration.ofSeconds(5), RetryPolicy.NONE).status())
          .as("without retries, the refused connection is the answer").isInstanceOf(java.net.ConnectException.class);

      CompletableFuture<Safekeeper> first = startSoon(config);
      try {
        assertThat(client.status().id()).as("answered once it served").isEqualTo("sk-late");
        assertThat(client.isRunning()).isTrue();
      } finally {
        first.get(30, TimeUnit.SECONDS).close();
      }
      assertThat(client.isRunning()).as("closed").isFalse();

      // A once-call is retried too while the connection is refused: the request never reached the safekeeper.
      CompletableFuture<Safekeeper> again = startSoon(config);
      try {
        assertThat(client.fence(tenant, timeline, new FenceRequest(1, false)).generation()).isEqualTo(1);
      } finally {
        again.get(30, TimeUnit.SECONDS).close();
      }
    }
  }

  /** Starts a safekeeper 400 ms from now, while the caller already calls it. */
  private static CompletableFuture<Safekeeper> startSoon(SafekeeperConfig config) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        Thread.sleep(400);
        return new Safekeeper(config).start();
      } catch (IOException | InterruptedException e) {
        throw new IllegalStateException(e);
      }
    }, r -> Thread.ofPlatform().daemon().start(r));
  }

  /**
   * A server that takes connections and never answers (a paused safekeeper holds its sockets open): a read is tried
   * again after its timeout, a fence never, since the first one may have reached the safekeeper.
   */
  @Test
  void aTimedOutFenceIsNotSentAgainWhileATimedOutReadIs() throws Exception {
    try (var silent = new SilentServer()) {
      var client = new SafekeeperClient("http://127.0.0.1:" + silent.port(), Duration.ofMillis(300),
          new RetryPolicy(3, Duration.ofMillis(10), Duration.ofMillis(10)));
      assertThatThrownBy(() -> client.fence(tenant, timeline, new FenceRequest(1, true))).isInstanceOf(SocketTimeoutException.class);
      assertThat(silent.awaitConnections(1)).as("connections after the fence").isEqualTo(1);

      assertThatThrownBy(() -> client.timeline(tenant, timeline)).isInstanceOf(SocketTimeoutException.class);
      assertThat(silent.awaitConnections(4)).as("connections after the fence and the read's 3 tries").isEqualTo(4);
      assertThat(client.isRunning()).isFalse();
    }
  }

  private static FollowRequest follow(long generation) {
    return new FollowRequest(generation, 2, new Lsn(SEG), "127.0.0.1", 1, "arbor_replication", "x", "arbor_sk_c", List.of());
  }

  /** Accepts connections, reads nothing and answers nothing; counts them. */
  private static final class SilentServer implements AutoCloseable {
    private final ServerSocket socket = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
    private final List<Socket> accepted = new ArrayList<>();
    private final AtomicInteger connections = new AtomicInteger();
    private final Thread acceptor = Thread.ofVirtual().start(this::acceptAll);

    SilentServer() throws IOException {}

    int port() {
      return socket.getLocalPort();
    }

    private void acceptAll() {
      try {
        while (true) {
          Socket s = socket.accept();
          synchronized (accepted) {
            accepted.add(s);
          }
          connections.incrementAndGet();
        }
      } catch (IOException closed) {
        // the test ended
      }
    }

    /** The count once it reached {@code expected} or a second passed: more would show within that. */
    int awaitConnections(int expected) throws InterruptedException {
      long deadline = System.nanoTime() + Duration.ofSeconds(1).toNanos();
      while (connections.get() < expected && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      Thread.sleep(200); // a late extra connection would be counted
      return connections.get();
    }

    @Override
    public void close() throws IOException {
      socket.close();
      synchronized (accepted) {
        for (Socket s : accepted) {
          s.close();
        }
      }
      acceptor.interrupt();
    }
  }
}

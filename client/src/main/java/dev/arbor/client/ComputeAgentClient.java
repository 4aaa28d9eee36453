package dev.arbor.client;

import dev.arbor.api.compute.AgentStatus;
import java.io.IOException;
import java.time.Duration;

/** A compute agent's HTTP API: its status and ({@link #metrics()}) its Prometheus metrics, both reads. */
public final class ComputeAgentClient extends ServiceClient {
  /** Where the agent answers its status; also its liveness probe's path. */
  public static final String STATUS_PATH = "/status";

  public ComputeAgentClient(String baseUrl, Duration timeout, RetryPolicy retry) {
    super("compute agent", baseUrl, timeout, retry);
  }

  /** The agent on {@code host:port}, e.g. the {@code listen_host} and {@code http_port} of its spec. */
  public static ComputeAgentClient at(String host, int port, Duration timeout, RetryPolicy retry) {
    return new ComputeAgentClient("http://" + host + ":" + port, timeout, retry);
  }

  @Override
  protected String statusPath() {
    return STATUS_PATH;
  }

  /** {@code GET /status}: the phase, what the compute serves, and its positions. */
  public AgentStatus status() throws IOException {
    return idempotent("read the status", () -> http().get(baseUrl() + STATUS_PATH, AgentStatus.class));
  }
}

package dev.arbor.client;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.compute.AgentActivity;
import dev.arbor.api.compute.AgentStatus;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;

/**
 * A compute agent's HTTP API: its status, ({@link #metrics()}) its Prometheus metrics, and its activity (what keeps
 * the compute awake, and the proxy's reports of client connections).
 */
public final class ComputeAgentClient extends ServiceClient {
  /** Where the agent answers its status; also its liveness probe's path. */
  public static final String STATUS_PATH = "/status";
  /** 200 when the compute runs, else 503 {@code compute-not-running}: the compute pod's readiness probe. */
  public static final String READY_PATH = "/ready";
  /** {@code GET}: activity sampled now; {@code POST}: a client connection was just made. */
  public static final String ACTIVITY_PATH = "/activity";

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

  /**
   * {@code GET /ready}: true when the compute runs (200), false while it does not (503 {@code compute-not-running}).
   * What the compute pod's readiness probe asks, and the proxy while a client waits for a starting compute.
   */
  public boolean ready() throws IOException {
    try {
      idempotent("ask whether the compute is ready", () -> http().get(baseUrl() + READY_PATH, Map.class));
      return true;
    } catch (ApiProblem p) {
      if (p.status() == 503 && p.is(ProblemTypes.COMPUTE_NOT_RUNNING)) {
        return false;
      }
      throw p;
    }
  }

  /**
   * {@code GET /activity}: PostgreSQL sampled for this call (not the agent's cached sample): what keeps the compute
   * awake now and its last activity. A compute that is not Running answers 503 {@code compute-not-running}.
   */
  public AgentActivity activity() throws IOException {
    return idempotent("read the activity", () -> http().get(baseUrl() + ACTIVITY_PATH, AgentActivity.class));
  }

  /**
   * {@code POST /activity}: a client connection was just made (through the proxy), so the compute's last activity
   * becomes now. Repeating it changes nothing more.
   */
  public void touch() throws IOException {
    idempotent("report a client connection", () -> http().post(baseUrl() + ACTIVITY_PATH, null, Void.class));
  }
}

package dev.arbor.client;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.api.safekeeper.FenceResult;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.api.safekeeper.SafekeeperStatus;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Optional;

/**
 * One safekeeper's HTTP API: every route it serves. With a management listener, a safekeeper serves fence and
 * follow on its compute port only and deleting a timeline on its management port only; a call on the other port
 * is refused with a problem of type {@code served-on-compute-port} or {@code served-on-management-port}, so
 * the base URL decides which calls work.
 *
 * <p>Reads, follow (the same follow again changes nothing) and deletes are {@link #idempotent}; a fence is
 * {@link #once}: sent again after the first reached the safekeeper, it would be refused as stale (that generation
 * is accepted already), and the caller would take its own election for a lost one.
 */
public final class SafekeeperClient extends ServiceClient {
  public static final String STATUS_PATH = "/v1/status";
  private final RetryPolicy retry;

  /** @param retry {@link RetryPolicy#NONE} where the caller's own loop or quorum already tolerates a safekeeper down */
  public SafekeeperClient(String baseUrl, Duration timeout, RetryPolicy retry) {
    this(baseUrl, timeout, retry, TokenSource.NONE);
  }

  public SafekeeperClient(String baseUrl, Duration timeout, RetryPolicy retry, TokenSource tokens) {
    this(baseUrl, timeout, retry, tokens, ClientTls.SYSTEM);
  }

  /** @param tls whom an {@code https://} URL is trusted from (the storage engine's CA) */
  public SafekeeperClient(String baseUrl, Duration timeout, RetryPolicy retry, TokenSource tokens, ClientTls tls) {
    super("safekeeper", baseUrl, timeout, retry, tokens, tls);
    this.retry = retry;
  }

  /** The same safekeeper with another timeout per call, for a caller whose calls may take longer than the usual ones. */
  public SafekeeperClient withTimeout(Duration timeout) {
    return new SafekeeperClient(baseUrl(), timeout, retry, tokens(), tls());
  }

  /** The same safekeeper with another retry policy, for a caller that must outlast a restart of it. */
  public SafekeeperClient withRetry(RetryPolicy retry) {
    return new SafekeeperClient(baseUrl(), timeout(), retry, tokens(), tls());
  }

  @Override
  protected String statusPath() {
    return STATUS_PATH;
  }

  /** {@code GET /v1/status}. */
  public SafekeeperStatus status() throws IOException {
    return idempotent("read the status", () -> http().get(baseUrl() + STATUS_PATH, SafekeeperStatus.class));
  }

  /** What the safekeeper holds of the timeline; generation 0, TLI 0 at 0/0 when it knows nothing of it. */
  public TimelineWalStatus timeline(TenantId tenant, TimelineId timeline) throws IOException {
    return idempotent("read timeline " + timeline, () -> http().get(timelineUrl(tenant, timeline), TimelineWalStatus.class));
  }

  /** Accepts {@code request.generation()} unless it accepted a newer one (a {@code stale-generation} problem). */
  public FenceResult fence(TenantId tenant, TimelineId timeline, FenceRequest request) throws IOException {
    return once("fence timeline " + timeline, () -> http().post(timelineUrl(tenant, timeline, "fence"), request, FenceResult.class));
  }

  /** Follows the compute of {@code request.generation()}; a {@code fence-required} problem when it accepted no generation yet. */
  public TimelineWalStatus follow(TenantId tenant, TimelineId timeline, FollowRequest request) throws IOException {
    return idempotent("follow timeline " + timeline,
        () -> http().post(timelineUrl(tenant, timeline, "follow"), request, TimelineWalStatus.class));
  }

  /**
   * Streams a durable WAL file (a segment or a history file), empty when the safekeeper does not hold it
   * (flushed to {@code minFlush}, when given). {@code readTimeout} bounds each wait for bytes; only opening the
   * stream is retried. Close the stream to release the connection.
   */
  public Optional<InputStream> walFile(TenantId tenant, TimelineId timeline, String fileName, Lsn minFlush, Duration readTimeout)
      throws IOException {
    String url = timelineUrl(tenant, timeline, "wal", fileName) + (minFlush == null ? "" : "?min_flush_lsn=" + minFlush);
    return idempotent("fetch " + fileName, () -> http().download(url, readTimeout));
  }

  /** Deletes the safekeeper's WAL and state of the timeline; nothing to delete is no error. */
  public void deleteTimeline(TenantId tenant, TimelineId timeline) throws IOException {
    idempotent("delete timeline " + timeline, () -> {
      http().delete(timelineUrl(tenant, timeline));
      return null;
    });
  }
}

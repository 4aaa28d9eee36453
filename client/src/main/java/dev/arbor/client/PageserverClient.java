package dev.arbor.client;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.BasebackupRequest;
import dev.arbor.api.pageserver.CreateTenantRequest;
import dev.arbor.api.pageserver.CreateTimelineRequest;
import dev.arbor.api.pageserver.GenerationInfo;
import dev.arbor.api.pageserver.GenerationReservation;
import dev.arbor.api.pageserver.GenerationStartedRequest;
import dev.arbor.api.pageserver.ImageMade;
import dev.arbor.api.pageserver.PageserverStatus;
import dev.arbor.api.pageserver.ReserveGenerationRequest;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The pageserver's HTTP API, one method per route. Errors and retries are {@link ServiceClient}'s: a refusal is an
 * {@link dev.arbor.api.ApiProblem}, an outage an {@link IOException}. Reads, deletes, creates that carry the
 * caller's id, and a repeated "started" report are idempotent; a create without an id, a generation reservation
 * and an image are tried once (again only when the connection was refused).
 *
 * <p>With a management listener the pageserver serves creates, lists, deletes and images on one port and what
 * computes call on the other: give this client the URL of the port its caller's routes are on.
 */
public final class PageserverClient extends ServiceClient {
  /** How long a stream (a basebackup, a WAL file) may wait for its next bytes. */
  public static final Duration STREAM_READ_TIMEOUT = Duration.ofMinutes(2);

  public PageserverClient(String baseUrl, Duration timeout, RetryPolicy retry) {
    this(baseUrl, timeout, retry, TokenSource.NONE);
  }

  public PageserverClient(String baseUrl, Duration timeout, RetryPolicy retry, TokenSource tokens) {
    this(baseUrl, timeout, retry, tokens, ClientTls.SYSTEM);
  }

  /** @param tls whom an {@code https://} URL is trusted from (the storage engine's CA) */
  public PageserverClient(String baseUrl, Duration timeout, RetryPolicy retry, TokenSource tokens, ClientTls tls) {
    super("pageserver", baseUrl, timeout, retry, tokens, tls);
  }

  /** With {@link RetryPolicy#DEFAULT}. */
  public PageserverClient(String baseUrl, Duration timeout) {
    this(baseUrl, timeout, RetryPolicy.DEFAULT);
  }

  @Override
  protected String statusPath() {
    return "/v1/status";
  }

  public PageserverStatus status() throws IOException {
    return idempotent("read the status", () -> http().get(url("v1", "status"), PageserverStatus.class));
  }

  /** The OpenAPI document the pageserver serves, which describes every route of this client. */
  public JsonNode openApi() throws IOException {
    return idempotent("read the OpenAPI document", () -> http().get(url("v1", "openapi.json"), JsonNode.class));
  }

  /** Creates a tenant; answers the existing one when a tenant with the request's id and version exists. */
  public TenantInfo createTenant(CreateTenantRequest request) throws IOException {
    String what = "create tenant " + (request.tenantId() == null ? "(new id)" : request.tenantId());
    Call<TenantInfo> call = () -> http().post(url("v1", "tenant"), request, TenantInfo.class);
    return request.tenantId() == null ? once(what, call) : idempotent(what, call);
  }

  public List<TenantInfo> tenants() throws IOException {
    return Arrays.asList(idempotent("list tenants", () -> http().get(url("v1", "tenant"), TenantInfo[].class)));
  }

  public TenantInfo tenant(TenantId tenant) throws IOException {
    return idempotent("get tenant " + tenant, () -> http().get(url("v1", "tenant", tenant), TenantInfo.class));
  }

  /** Deletes a tenant with its timelines; one that is gone already is a 404 {@code tenant-not-found}. */
  public void deleteTenant(TenantId tenant) throws IOException {
    idempotent("delete tenant " + tenant, () -> {
      http().delete(url("v1", "tenant", tenant));
      return null;
    });
  }

  /** Creates a branch; with the request's id and the same ancestry again, answers the existing branch. */
  public TimelineInfo createTimeline(TenantId tenant, CreateTimelineRequest request) throws IOException {
    String what = "create timeline " + (request.newTimelineId() == null ? "(new id)" : request.newTimelineId());
    Call<TimelineInfo> call = () -> http().post(url("v1", "tenant", tenant, "timeline"), request, TimelineInfo.class);
    return request.newTimelineId() == null ? once(what, call) : idempotent(what, call);
  }

  public List<TimelineInfo> timelines(TenantId tenant) throws IOException {
    return Arrays.asList(idempotent("list the timelines of tenant " + tenant,
        () -> http().get(url("v1", "tenant", tenant, "timeline"), TimelineInfo[].class)));
  }

  public TimelineInfo timeline(TenantId tenant, TimelineId timeline) throws IOException {
    return idempotent("get timeline " + timeline, () -> http().get(timelineUrl(tenant, timeline), TimelineInfo.class));
  }

  /** Deletes a timeline; one that is gone already is a 404 {@code timeline-not-found}. */
  public void deleteTimeline(TenantId tenant, TimelineId timeline) throws IOException {
    idempotent("delete timeline " + timeline, () -> {
      http().delete(timelineUrl(tenant, timeline));
      return null;
    });
  }

  /**
   * Reserves a read-write start. Tried once: a repeat would be refused as a stale generation (409), which a
   * starting compute takes for another compute's start.
   */
  public GenerationReservation reserveGeneration(TenantId tenant, TimelineId timeline, long generation) throws IOException {
    return once("reserve generation " + generation, () -> http().post(timelineUrl(tenant, timeline, "generation"),
        new ReserveGenerationRequest(generation), GenerationReservation.class));
  }

  /** Reports that generation {@code generation} promoted; a repeat answers the same generation. */
  public GenerationInfo generationStarted(TenantId tenant, TimelineId timeline, long generation, GenerationStartedRequest request)
      throws IOException {
    return idempotent("report generation " + generation + " started", () -> http().post(
        timelineUrl(tenant, timeline, "generation", generation, "started"), request, GenerationInfo.class));
  }

  /** Makes an image of the timeline at the end of its durable WAL now; the answer comes when it is stored. */
  public ImageMade makeImage(TenantId tenant, TimelineId timeline) throws IOException {
    return once("make an image of timeline " + timeline, () -> http().post(timelineUrl(tenant, timeline, "image"), null,
        ImageMade.class));
  }

  /**
   * The basebackup tar, streamed: close it to release the connection. A body that ends early fails with an
   * {@link IOException}; a wait for bytes is bounded by {@link #STREAM_READ_TIMEOUT}.
   */
  public InputStream basebackup(TenantId tenant, TimelineId timeline, BasebackupRequest request) throws IOException {
    String url = withQuery(timelineUrl(tenant, timeline, "basebackup"), "lsn", request.lsn(), "pg_tli", request.pgTli(),
        "end_lsn", request.endLsn(), "recovery_from", request.recoveryFrom());
    return idempotent("stream the basebackup of timeline " + timeline, () -> http().stream(url, STREAM_READ_TIMEOUT));
  }

  /**
   * A WAL file of the timeline (a segment or a {@code .history} file), streamed; empty when the pageserver does
   * not have it (yet). {@code untilLsn} (null: none; always none for a {@code .history} file) cuts a segment
   * there: its bytes past it are zeros, so a recovery never reads WAL beyond an elected end.
   */
  public Optional<InputStream> walFile(TenantId tenant, TimelineId timeline, String fileName, Lsn untilLsn) throws IOException {
    String url = withQuery(timelineUrl(tenant, timeline, "wal", fileName), "until_lsn", untilLsn);
    return idempotent("stream WAL file " + fileName, () -> http().download(url, STREAM_READ_TIMEOUT));
  }
}

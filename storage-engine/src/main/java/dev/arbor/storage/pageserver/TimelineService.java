package dev.arbor.storage.pageserver;

import dev.arbor.api.pageserver.TimelineInfo;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.Lsn;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.client.SafekeeperSet;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import dev.arbor.storage.timeline.Catalog;
import dev.arbor.storage.timeline.Generation;
import dev.arbor.storage.timeline.TenantMeta;
import dev.arbor.storage.timeline.TimelineMeta;
import dev.arbor.api.pageserver.TimelineState;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Timelines: branch creation (metadata only, O(1)), lookup with the durable head, and deletion. Every
 * request is validated completely before anything is written, so a refused request changes nothing.
 */
public final class TimelineService {
  private static final Logger log = LoggerFactory.getLogger(TimelineService.class);

  private final Catalog catalog;
  private final SafekeeperSet safekeepers;

  public TimelineService(Catalog catalog, SafekeeperSet safekeepers) {
    this.catalog = catalog;
    this.safekeepers = safekeepers;
  }

  public TenantMeta requireTenant(String tenantIdText) throws IOException {
    if (!TenantId.isValid(tenantIdText)) {
      throw ApiProblem.invalid("tenant_id", "'" + tenantIdText + "' is not a tenant id: expected 32 lowercase hex digits");
    }
    return catalog.tenant(new TenantId(tenantIdText)).orElseThrow(() -> ApiProblem.notFound(ProblemTypes.TENANT_NOT_FOUND, "tenant_id",
        "no tenant " + tenantIdText + "; list tenants with GET /v1/tenant"));
  }

  public TimelineMeta requireTimeline(TenantMeta tenant, String timelineIdText, String field) throws IOException {
    if (!TimelineId.isValid(timelineIdText)) {
      throw ApiProblem.invalid(field, "'" + timelineIdText + "' is not a timeline id: expected 32 lowercase hex digits");
    }
    TimelineMeta meta = catalog.timeline(tenant.tenantId(), new TimelineId(timelineIdText)).orElseThrow(() ->
        ApiProblem.notFound(ProblemTypes.TIMELINE_NOT_FOUND, field, "tenant " + tenant.tenantId() + " has no timeline " + timelineIdText
            + "; list its timelines with GET /v1/tenant/" + tenant.tenantId() + "/timeline"));
    if (meta.state() != TimelineState.ACTIVE) {
      throw ApiProblem.conflict(ProblemTypes.TIMELINE_DELETING, field, "timeline " + timelineIdText + " is being deleted");
    }
    return meta;
  }

  /**
   * Creates a branch: {@code {ancestor_timeline_id, ancestor_lsn?, new_timeline_id?}}. The default LSN is the
   * ancestor's last durable LSN. Repeating a request with the same {@code new_timeline_id} and ancestry
   * returns the existing branch (so callers can retry safely).
   */
  public CreateResult createBranch(String tenantIdText, JsonNode body) throws Exception {
    TenantMeta tenant = requireTenant(tenantIdText);
    String ancestorText = text(body, "ancestor_timeline_id");
    if (ancestorText == null) {
      throw ApiProblem.invalid("ancestor_timeline_id", "ancestor_timeline_id is required: the timeline to branch from "
          + "(the tenant's root timeline is " + tenant.rootTimelineId() + ")");
    }
    Optional<Lsn> requestedLsn = Optional.empty();
    String lsnText = text(body, "ancestor_lsn");
    if (lsnText != null) {
      if (!Lsn.isValid(lsnText)) {
        throw ApiProblem.invalid("ancestor_lsn", "'" + lsnText + "' is not an LSN: expected X/Y in hex as PostgreSQL prints it "
            + "(e.g. 0/16B5A50), or omit ancestor_lsn to branch at the ancestor's head");
      }
      requestedLsn = Optional.of(Lsn.parse(lsnText));
    }
    String newIdText = text(body, "new_timeline_id");
    if (newIdText != null && !TimelineId.isValid(newIdText)) {
      throw ApiProblem.invalid("new_timeline_id", "'" + newIdText + "' is not a timeline id: expected 32 lowercase hex digits, or omit it");
    }

    try (var lock = catalog.lock(tenant.tenantId())) {
      TimelineMeta ancestor = requireTimeline(tenant, ancestorText, "ancestor_timeline_id");
      Lsn head = lastDurableLsn(ancestor);
      Lsn at = requestedLsn.orElse(head);
      if (at.isAfter(head)) {
        throw new ApiProblem(400, ProblemTypes.LSN_OUT_OF_RANGE, "LSN out of range", "ancestor_lsn " + at + " is beyond the head of timeline "
            + ancestor.timelineId() + " (last durable LSN " + head + "); pick an LSN at or below it", "ancestor_lsn");
      }
      if (at.isBefore(ancestor.createdLsn())) {
        throw new ApiProblem(400, ProblemTypes.LSN_OUT_OF_RANGE, "LSN out of range", "ancestor_lsn " + at + " is before timeline "
            + ancestor.timelineId() + " begins (" + ancestor.createdLsn() + ")"
            + (ancestor.isRoot() ? "" : "; branch from its ancestor " + ancestor.ancestorTimelineId() + " instead"), "ancestor_lsn");
      }
      if (newIdText != null) {
        Optional<TimelineMeta> existing = catalog.timeline(tenant.tenantId(), new TimelineId(newIdText));
        if (existing.isPresent()) {
          return existingBranch(existing.get(), ancestor, at);
        }
      }
      TimelineId id = newIdText != null ? new TimelineId(newIdText) : TimelineId.random();
      TimelineMeta branch = TimelineMeta.branch(tenant.tenantId(), id, ancestor, at, ancestor.tliAt(at));
      if (!catalog.createTimeline(branch)) {
        // Another pageserver created this id meanwhile: the same answer as if it had been there before.
        return existingBranch(catalog.timeline(tenant.tenantId(), id).orElseThrow(() -> ApiProblem.conflict(ProblemTypes.TIMELINE_EXISTS,
            "new_timeline_id", "timeline " + id + " was created and deleted meanwhile; retry")), ancestor, at);
      }
      // Written first, checked second, as a delete of the ancestor does the other way round: of a delete and a
      // branch creation racing on two pageservers, at least one sees the other and backs off.
      TimelineMeta ancestorNow = catalog.timeline(tenant.tenantId(), ancestor.timelineId()).orElse(null);
      if (ancestorNow == null || ancestorNow.state() != TimelineState.ACTIVE) {
        catalog.store().delete(ObjectKeys.timeline(tenant.tenantId(), id));
        throw ApiProblem.conflict(ProblemTypes.TIMELINE_DELETING, "ancestor_timeline_id", "timeline " + ancestor.timelineId()
            + " is being deleted; branch from another timeline");
      }
      log.info("event=branch_created tenant={} timeline={} ancestor={} ancestor_lsn={} ancestor_tli={}",
          tenant.tenantId(), id, ancestor.timelineId(), at, branch.ancestorTli());
      return new CreateResult(info(branch), true);
    }
  }

  public record CreateResult(TimelineInfo info, boolean created) {}

  /** A create request for a timeline id that exists: the same branch is a repeat (200), anything else a conflict. */
  private CreateResult existingBranch(TimelineMeta e, TimelineMeta ancestor, Lsn at) throws IOException {
    if (ancestor.timelineId().equals(e.ancestorTimelineId()) && at.equals(e.ancestorLsn())) {
      return new CreateResult(info(e), false);
    }
    String ancestry = e.isRoot() ? "as the tenant's root timeline" : "as a branch of " + e.ancestorTimelineId() + " at " + e.ancestorLsn();
    throw ApiProblem.conflict(ProblemTypes.TIMELINE_EXISTS, "new_timeline_id", "timeline " + e.timelineId() + " already exists "
        + ancestry + "; omit new_timeline_id to get a fresh id, or pick another");
  }

  public List<TimelineInfo> list(String tenantIdText) throws IOException {
    TenantMeta tenant = requireTenant(tenantIdText);
    return catalog.timelines(tenant.tenantId()).stream().map(this::infoQuietly).toList();
  }

  public TimelineInfo get(String tenantIdText, String timelineIdText) throws IOException {
    TenantMeta tenant = requireTenant(tenantIdText);
    return info(requireTimeline(tenant, timelineIdText, "timeline_id"));
  }

  /** Deletes a timeline; refused while it has children (deleting a parent would orphan their history). */
  public void delete(String tenantIdText, String timelineIdText) throws Exception {
    TenantMeta tenant = requireTenant(tenantIdText);
    try (var lock = catalog.lock(tenant.tenantId())) {
      TimelineMeta meta = requireTimeline(tenant, timelineIdText, "timeline_id");
      List<TimelineMeta> children = catalog.children(tenant.tenantId(), meta.timelineId());
      if (!children.isEmpty()) {
        throw ApiProblem.conflict(ProblemTypes.TIMELINE_HAS_CHILDREN, "timeline_id", "timeline " + meta.timelineId() + " has "
            + children.size() + " child branch(es) (" + children.stream().map(c -> c.timelineId().toString()).toList()
            + "); delete them first");
      }
      if (meta.timelineId().equals(tenant.rootTimelineId())) {
        throw ApiProblem.conflict(ProblemTypes.ROOT_TIMELINE, "timeline_id", "timeline " + meta.timelineId()
            + " is the tenant's root; delete the tenant instead");
      }
      catalog.updateTimeline(tenant.tenantId(), meta.timelineId(), current -> current.withState(TimelineState.DELETING));
      // A branch created meanwhile by another pageserver, which checks the ancestor after writing the branch.
      List<TimelineMeta> late = catalog.children(tenant.tenantId(), meta.timelineId());
      if (!late.isEmpty()) {
        catalog.updateTimeline(tenant.tenantId(), meta.timelineId(), current -> current.withState(TimelineState.ACTIVE));
        throw ApiProblem.conflict(ProblemTypes.TIMELINE_HAS_CHILDREN, "timeline_id", "timeline " + meta.timelineId() + " got child branch(es) "
            + late.stream().map(c -> c.timelineId().toString()).toList() + " while it was being deleted; delete them first");
      }
      safekeepers.deleteTimeline(tenant.tenantId(), meta.timelineId());
      // timeline.json goes last, so an interrupted delete is found again (state DELETING) and can be repeated.
      String prefix = ObjectKeys.timelinePrefix(tenant.tenantId(), meta.timelineId());
      for (String key : catalog.store().list(prefix)) {
        if (!key.endsWith("/timeline.json")) {
          catalog.store().delete(key);
        }
      }
      catalog.store().delete(ObjectKeys.timeline(tenant.tenantId(), meta.timelineId()));
      log.info("event=timeline_deleted tenant={} timeline={}", tenant.tenantId(), meta.timelineId());
    }
  }

  /**
   * The newest LSN durable on a majority of safekeepers on this timeline's history; the start of the
   * timeline when it never ran a compute.
   */
  public Lsn lastDurableLsn(TimelineMeta meta) {
    if (meta.latestStarted().isEmpty()) {
      return meta.createdLsn();
    }
    Optional<TimelineWalStatus> pos = safekeepers.durablePosition(meta.tenantId(), meta.timelineId());
    Lsn start = meta.latestStarted().get().startLsn();
    if (pos.isEmpty() || pos.get().tli() < meta.currentTli()) {
      // The current generation has not reached a majority yet; its start point is where durable WAL ends.
      return pos.map(p -> Lsn.min(p.flushLsn(), start)).orElse(meta.createdLsn());
    }
    return pos.get().flushLsn();
  }

  public TimelineInfo info(TimelineMeta meta) throws IOException {
    Lsn durable = null;
    String walStatus = "ok";
    try {
      durable = lastDurableLsn(meta);
    } catch (ApiProblem p) {
      walStatus = p.getMessage();
    }
    return new TimelineInfo(meta.tenantId(), meta.timelineId(), meta.ancestorTimelineId(), meta.ancestorLsn(),
        meta.pgVersion(), meta.state(), meta.createdLsn(), durable, latestImageLsn(meta).orElse(null), meta.currentTli(),
        (int) meta.generations().stream().filter(Generation::started).count(), walStatus, meta.createdAt());
  }

  private TimelineInfo infoQuietly(TimelineMeta meta) {
    try {
      return info(meta);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  public Optional<Lsn> latestImageLsn(TimelineMeta meta) throws IOException {
    List<String> keys = catalog.store().list(ObjectKeys.imagesPrefix(meta.tenantId(), meta.timelineId()));
    return keys.isEmpty() ? Optional.empty() : Optional.of(ObjectKeys.imageLsn(keys.get(keys.size() - 1)));
  }

  private static String text(JsonNode body, String field) {
    JsonNode n = body.get(field);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isTextual()) {
      throw ApiProblem.invalid(field, field + " must be a string");
    }
    return n.asText();
  }
}

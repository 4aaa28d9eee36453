package dev.arbor.storage.pageserver;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.pageserver.GenerationReservation;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.timeline.Catalog;
import dev.arbor.storage.timeline.Generation;
import dev.arbor.storage.timeline.TenantMeta;
import dev.arbor.storage.timeline.TimelineMeta;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records compute generations of a timeline. A start first <em>reserves</em> a generation, which allocates
 * the PostgreSQL TLI the compute will promote into (never used before on this timeline, so WAL keys and
 * history files cannot clash), then reports it <em>started</em> with its switch point and history file.
 * Only started generations stream WAL to safekeepers.
 */
public final class GenerationService {
  private static final Logger log = LoggerFactory.getLogger(GenerationService.class);

  private final Catalog catalog;
  private final TimelineService timelines;

  public GenerationService(Catalog catalog, TimelineService timelines) {
    this.catalog = catalog;
    this.timelines = timelines;
  }

  /** {@code {generation}}: must be above every generation recorded so far. */
  public GenerationReservation reserve(String tenantId, String timelineId, JsonNode body) throws Exception {
    TenantMeta tenant = timelines.requireTenant(tenantId);
    long generation = positiveLong(body, "generation");
    TimelineMeta found = timelines.requireTimeline(tenant, timelineId, "timeline_id");
    // Conditional on the version read: two pageservers serving this tenant can never hand out one TLI twice.
    TimelineMeta written = catalog.updateTimeline(tenant.tenantId(), found.timelineId(), meta -> {
      long highest = meta.generations().stream().mapToLong(Generation::generation).max().orElse(0);
      if (generation <= highest) {
        throw ApiProblem.conflict(ProblemTypes.STALE_GENERATION, "generation", "generation " + generation + " is not above the highest "
            + "recorded generation " + highest + " of timeline " + meta.timelineId() + "; start again with a higher one");
      }
      return meta.withGeneration(new Generation(generation, meta.maxTli() + 1, null, null, Instant.now()));
    }).orElseThrow(() -> ApiProblem.notFound(ProblemTypes.TIMELINE_NOT_FOUND, "timeline_id", "timeline " + timelineId + " was deleted"));
    int tli = written.generation(generation).orElseThrow().tli();
    log.info("event=generation_reserved tenant={} timeline={} generation={} pg_tli={}", tenant.tenantId(), written.timelineId(),
        generation, tli);
    Optional<Generation> started = written.latestStarted();
    return new GenerationReservation(generation, tli, tli - 1, started.map(Generation::tli).orElse(0),
        started.map(Generation::startLsn).orElse(null));
  }

  /**
   * {@code {parent_tli, start_lsn, history}}: the compute promoted into the reserved TLI at {@code start_lsn}
   * after replaying {@code parent_tli}; {@code history} is PostgreSQL's history file of the new TLI, stored
   * in the WAL archive at once so any later start can follow it.
   */
  public Generation started(String tenantId, String timelineId, long generation, JsonNode body) throws Exception {
    TenantMeta tenant = timelines.requireTenant(tenantId);
    int parentTli = (int) positiveLong(body, "parent_tli");
    JsonNode lsnNode = body.get("start_lsn");
    if (lsnNode == null || !lsnNode.isTextual() || !Lsn.isValid(lsnNode.asText())) {
      throw ApiProblem.invalid("start_lsn", "start_lsn is required: the LSN where the new TLI begins, as X/Y");
    }
    JsonNode history = body.get("history");
    if (history == null || !history.isTextual() || history.asText().isBlank()) {
      throw ApiProblem.invalid("history", "history is required: the content of the new TLI's .history file");
    }
    try (var lock = catalog.lock(tenant.tenantId())) {
      TimelineMeta meta = timelines.requireTimeline(tenant, timelineId, "timeline_id");
      Generation reserved = meta.generation(generation).orElseThrow(() -> ApiProblem.notFound(ProblemTypes.GENERATION_NOT_FOUND,
          "generation", "generation " + generation + " was not reserved on timeline " + meta.timelineId()));
      long highest = meta.generations().stream().mapToLong(Generation::generation).max().orElse(0);
      if (generation < highest) {
        throw ApiProblem.conflict(ProblemTypes.STALE_GENERATION, "generation", "generation " + generation
            + " was superseded by generation " + highest + "; this compute must stop");
      }
      if (reserved.started()) {
        return reserved; // a retry of the same report
      }
      catalog.store().put(ObjectKeys.wal(meta.tenantId(), meta.timelineId(), WalFileName.history(reserved.tli())),
          history.asText().getBytes(StandardCharsets.UTF_8));
      Generation started = new Generation(generation, reserved.tli(), parentTli, Lsn.parse(lsnNode.asText()), reserved.reservedAt());
      catalog.updateTimeline(tenant.tenantId(), meta.timelineId(), current -> {
        long newest = current.generations().stream().mapToLong(Generation::generation).max().orElse(0);
        if (generation < newest) {
          throw ApiProblem.conflict(ProblemTypes.STALE_GENERATION, "generation", "generation " + generation
              + " was superseded by generation " + newest + "; this compute must stop");
        }
        return current.withGeneration(started);
      });
      log.info("event=generation_started tenant={} timeline={} generation={} pg_tli={} parent_tli={} start_lsn={}",
          tenant.tenantId(), meta.timelineId(), generation, started.tli(), parentTli, started.startLsn());
      return started;
    }
  }

  private static long positiveLong(JsonNode body, String field) {
    JsonNode n = body.get(field);
    if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() <= 0) {
      throw ApiProblem.invalid(field, field + " is required and must be a positive integer");
    }
    return n.asLong();
  }
}

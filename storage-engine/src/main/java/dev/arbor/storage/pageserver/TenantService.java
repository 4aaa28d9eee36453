package dev.arbor.storage.pageserver;

import dev.arbor.api.pageserver.TenantInfo;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.postgres.ControlData;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalDump;
import dev.arbor.postgres.Initdb;
import dev.arbor.postgres.MissingPrerequisiteException;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.postgres.ServerUser;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.image.ImageWriter;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.client.SafekeeperSet;
import dev.arbor.storage.timeline.Catalog;
import dev.arbor.storage.timeline.TenantMeta;
import dev.arbor.storage.timeline.TimelineMeta;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.IntFunction;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tenants. Creating one bootstraps its root timeline: {@code initdb} with the tenant's PostgreSQL major
 * version, stored as the first image, and initdb's WAL stored as the root timeline's first segment (no
 * safekeeper ever saw it). {@code tenant.json} is written last, so a half-created tenant is invisible.
 */
public final class TenantService {
  private static final Logger log = LoggerFactory.getLogger(TenantService.class);

  private static TenantInfo info(TenantMeta m) {
    return new TenantInfo(m.tenantId(), m.pgVersion(), m.rootTimelineId(), m.createdAt());
  }

  public record CreateResult(TenantInfo info, boolean created) {}

  private final Catalog catalog;
  private final TimelineService timelines;
  private final SafekeeperSet safekeepers;
  private final IntFunction<PostgresInstallation> postgres;
  private final Path workDir;

  public TenantService(Catalog catalog, TimelineService timelines, SafekeeperSet safekeepers,
      IntFunction<PostgresInstallation> postgres, Path workDir) {
    this.catalog = catalog;
    this.timelines = timelines;
    this.safekeepers = safekeepers;
    this.postgres = postgres;
    this.workDir = workDir;
  }

  /** {@code {pg_version, tenant_id?}}; repeating a create with the same id and version returns the tenant. */
  public CreateResult create(JsonNode body) throws Exception {
    JsonNode v = body.get("pg_version");
    // isIntegralNumber: canConvertToInt alone lets 15.5 through as 15.
    if (v == null || !v.isIntegralNumber() || !v.canConvertToInt()) {
      throw ApiProblem.invalid("pg_version", "pg_version is required: the PostgreSQL major version of the tenant as an integer, e.g. 15");
    }
    int pgVersion = v.asInt();
    PostgresInstallation installation;
    try {
      installation = postgres.apply(pgVersion);
    } catch (MissingPrerequisiteException e) {
      throw ApiProblem.invalid("pg_version", "PostgreSQL " + pgVersion + " is not available on this pageserver: " + e.getMessage());
    }
    JsonNode idNode = body.get("tenant_id");
    TenantId tenant;
    if (idNode == null || idNode.isNull()) {
      tenant = TenantId.random();
    } else if (idNode.isTextual() && TenantId.isValid(idNode.asText())) {
      tenant = new TenantId(idNode.asText());
    } else {
      throw ApiProblem.invalid("tenant_id", "'" + idNode.asText() + "' is not a tenant id: expected 32 lowercase hex digits, or omit it");
    }

    try (var lock = catalog.lock(tenant)) {
      Optional<TenantMeta> existing = catalog.tenant(tenant);
      if (existing.isPresent()) {
        return existingTenant(existing.get(), pgVersion);
      }
      TimelineId root = TimelineId.random();
      Path scratch = ServerUser.current().createReachable(workDir.resolve("initdb-" + tenant));
      try {
        Path pgdata = scratch.resolve("pgdata");
        Initdb.with(installation).superuser("postgres").authLocal("trust").authHost("scram-sha-256").run(pgdata);
        ControlData control = ControlData.read(installation, pgdata);
        // The root's history begins right after initdb's shutdown checkpoint: a branch there keeps the
        // checkpoint record (a start needs it) and nothing else.
        Lsn initdbEnd = WalDump.nextRecordAfter(installation, pgdata.resolve("pg_wal"), control.latestCheckpointTli(),
            control.latestCheckpoint(), control.walSegmentSize());
        var image = new ImageWriter(catalog.store()).write(tenant, root, initdbEnd, control.latestCheckpointRedo(), pgVersion, pgdata,
            Set.of());
        try (Stream<Path> wal = Files.list(pgdata.resolve("pg_wal"))) {
          for (Path segment : wal.filter(p -> WalFileName.isSegment(p.getFileName().toString())).toList()) {
            catalog.store().putFile(ObjectKeys.wal(tenant, root, segment.getFileName().toString()), segment);
          }
        }
        if (!catalog.createTimeline(TimelineMeta.root(tenant, root, pgVersion, initdbEnd, control.latestCheckpointTli()))) {
          throw new IllegalStateException("root timeline " + root + " of the new tenant " + tenant + " exists already");
        }
        TenantMeta meta = new TenantMeta(TenantMeta.FORMAT_VERSION, tenant, pgVersion, root, Instant.now());
        if (!catalog.createTenant(meta)) {
          // Another pageserver created the tenant meanwhile, with a root of its own: that one is the tenant's.
          // Ours is referenced by nothing; its chunks may be shared with the winner's image, so they stay.
          catalog.deleteAll(ObjectKeys.timelinePrefix(tenant, root));
          TenantMeta winner = catalog.tenant(tenant).orElseThrow(() -> new IllegalStateException("tenant " + tenant
              + " was created and deleted while this pageserver created it; create it again"));
          log.info("event=tenant_create_lost_race tenant={} root_timeline={} removed_root={}", tenant, winner.rootTimelineId(), root);
          return existingTenant(winner, pgVersion);
        }
        log.info("event=tenant_created tenant={} root_timeline={} pg_version={} initdb_end_lsn={} image_bytes={}",
            tenant, root, pgVersion, initdbEnd, image.totalBytes());
        return new CreateResult(info(meta), true);
      } finally {
        deleteRecursively(scratch);
      }
    }
  }

  private static CreateResult existingTenant(TenantMeta existing, int pgVersion) {
    if (existing.pgVersion() != pgVersion) {
      throw ApiProblem.conflict(ProblemTypes.TENANT_EXISTS, "tenant_id", "tenant " + existing.tenantId() + " already exists with PostgreSQL "
          + existing.pgVersion());
    }
    return new CreateResult(info(existing), false);
  }

  public List<TenantInfo> list() throws IOException {
    return catalog.tenants().stream().map(TenantService::info).toList();
  }

  public TenantInfo get(String tenantId) throws IOException {
    return info(timelines.requireTenant(tenantId));
  }

  /** Deletes the tenant with all its timelines, WAL, images and chunks, and the safekeepers' copies. */
  public void delete(String tenantId) throws Exception {
    TenantMeta tenant = timelines.requireTenant(tenantId);
    try (var lock = catalog.lock(tenant.tenantId())) {
      List<TimelineMeta> all = catalog.timelines(tenant.tenantId());
      // tenant.json first: from here on the tenant is gone for every reader, and a repeated delete finds
      // nothing half-visible.
      catalog.store().delete(ObjectKeys.tenant(tenant.tenantId()));
      for (TimelineMeta t : all) {
        safekeepers.deleteTimeline(tenant.tenantId(), t.timelineId());
      }
      catalog.deleteAll(ObjectKeys.tenantPrefix(tenant.tenantId()));
      log.info("event=tenant_deleted tenant={} timelines={}", tenant.tenantId(), all.size());
    }
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}

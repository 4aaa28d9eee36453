package dev.arbor.storage.pageserver;

import static dev.arbor.api.pageserver.Basebackup.PREFETCHED_WAL_DIR;
import static dev.arbor.api.pageserver.Basebackup.RECOVERY_CONF;
import static dev.arbor.api.pageserver.Basebackup.RECOVERY_WAL;
import static dev.arbor.api.pageserver.Basebackup.STORAGE_AUTH_FILE;
import static dev.arbor.api.pageserver.Basebackup.STORAGE_CA_FILE;

import dev.arbor.api.pageserver.Basebackup.RecoveryWal;

import dev.arbor.api.Lsn;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.storage.image.ImageManifest;
import dev.arbor.storage.image.ImageMaterializer;
import dev.arbor.storage.image.ImageStore;
import dev.arbor.storage.image.TarWriter;
import dev.arbor.client.Json;
import dev.arbor.storage.timeline.Catalog;
import dev.arbor.storage.timeline.TenantMeta;
import dev.arbor.storage.timeline.TimelineMeta;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code basebackup(timeline, lsn?)}: a tar of a PGDATA that starts PostgreSQL at exactly the requested
 * point. It is the newest image at or below the point on the timeline or its ancestors (an ancestor only up
 * to the branch point), plus {@code recovery.signal} and {@code arbor-recovery.conf}: a restore_command that
 * fetches WAL from this pageserver for this timeline, and the TLI to follow. For a point in the past (or a
 * branch's first start) the restore_command asks for WAL cut at that LSN ({@code until_lsn}): replay ends
 * exactly there, so a commit whose record begins at the branch point — or is not complete by then — is not
 * on the branch. (PostgreSQL's own {@code recovery_target_lsn} is not used: when the point is the very end
 * of the parent's WAL, no record at or after it exists yet and recovery fails "before the target".)
 * The compute includes {@code arbor-recovery.conf} from postgresql.conf.
 */
public final class BasebackupService {
  private static final Logger log = LoggerFactory.getLogger(BasebackupService.class);

  /**
   * The image to stream and the configuration that goes with it; with {@code recoveryOnly}, the configuration alone
   * (the compute kept its PGDATA).
   */
  public record Plan(ImageManifest image, Map<String, byte[]> extraFiles, int targetTli, Lsn targetLsn, boolean recoveryOnly) {}

  private final Catalog catalog;
  private final TimelineService timelines;
  private final ImageStore images;
  private final ImageMaterializer materializer;
  private final WalService wal;
  private final String advertisedUrl;

  public BasebackupService(Catalog catalog, TimelineService timelines, WalService wal, String advertisedUrl) {
    this.catalog = catalog;
    this.timelines = timelines;
    this.wal = wal;
    this.images = new ImageStore(catalog.store());
    this.materializer = new ImageMaterializer(catalog.store());
    this.advertisedUrl = advertisedUrl;
  }

  /**
   * @param lsnText a point in the timeline's history to start at (read-only snapshots, explicit starts)
   * @param pgTliText for a start at the end of WAL: the TLI the starting compute chose as the newest history
   * @param endLsnText with {@code pgTliText}: the end of WAL the start's election chose on that TLI. Recovery
   *     replays exactly up to it (restore_command asks for WAL cut there), never past it: WAL that a minority
   *     of safekeepers holds beyond it (a fenced compute's) is not part of the new generation's history
   * @param recoveryFromText with {@code endLsnText}: the compute kept the PGDATA of its last clean stop, whose recovery
   *     begins at this LSN; the plan is then the recovery configuration alone, its prefetch list starting there
   */
  public Plan plan(String tenantId, String timelineId, Optional<String> lsnText, Optional<String> pgTliText,
      Optional<String> endLsnText, Optional<String> recoveryFromText) throws IOException {
    TenantMeta tenant = timelines.requireTenant(tenantId);
    TimelineMeta meta = timelines.requireTimeline(tenant, timelineId, "timeline_id");
    // Checked before it is known whether the start needs it: a malformed parameter is refused, not ignored.
    Optional<Integer> pgTli = Optional.empty();
    if (pgTliText.isPresent()) {
      int chosen;
      try {
        chosen = Integer.parseInt(pgTliText.get());
      } catch (NumberFormatException e) {
        throw ApiProblem.invalid("pg_tli", "pg_tli must be a PostgreSQL TLI number, or omitted");
      }
      boolean known = chosen == meta.baseTli() || meta.generationOfTli(chosen).filter(g -> g.started()).isPresent();
      if (!known) {
        throw ApiProblem.invalid("pg_tli", "TLI " + chosen + " is not a started generation of timeline " + meta.timelineId()
            + "; omit pg_tli to follow its newest history");
      }
      pgTli = Optional.of(chosen);
    }
    Optional<Lsn> endLsn = Optional.empty();
    if (endLsnText.isPresent()) {
      if (!Lsn.isValid(endLsnText.get())) {
        throw ApiProblem.invalid("end_lsn", "'" + endLsnText.get() + "' is not an LSN: expected X/Y in hex (e.g. 0/16B5A50)");
      }
      if (pgTli.isEmpty() || lsnText.isPresent()) {
        throw ApiProblem.invalid("end_lsn", "end_lsn is the elected end of WAL of a read-write start: give it with pg_tli, "
            + "and without lsn");
      }
      if (meta.latestStarted().isEmpty() && !meta.isRoot()) {
        throw ApiProblem.invalid("end_lsn", "no compute of timeline " + meta.timelineId() + " has streamed WAL yet, so its "
            + "first start replays its parent up to the branch point; omit end_lsn and pg_tli");
      }
      endLsn = Optional.of(Lsn.parse(endLsnText.get()));
    }
    Optional<Lsn> recoveryFrom = Optional.empty();
    if (recoveryFromText.isPresent()) {
      if (!Lsn.isValid(recoveryFromText.get())) {
        throw ApiProblem.invalid("recovery_from", "'" + recoveryFromText.get() + "' is not an LSN: expected X/Y in hex (e.g. 0/16B5A50)");
      }
      if (endLsn.isEmpty()) {
        throw ApiProblem.invalid("recovery_from", "recovery_from is where a kept PGDATA's recovery begins in a read-write start: "
            + "give it with pg_tli and end_lsn");
      }
      if (Lsn.parse(recoveryFromText.get()).isAfter(endLsn.get())) {
        throw ApiProblem.invalid("recovery_from", "recovery_from " + recoveryFromText.get() + " is after end_lsn " + endLsn.get()
            + ": a kept PGDATA beyond the elected end of WAL cannot be used; start from a basebackup (omit recovery_from)");
      }
      recoveryFrom = Optional.of(Lsn.parse(recoveryFromText.get()));
    }
    Lsn target = null;
    int tli;
    if (endLsn.isPresent()) {
      target = endLsn.get();
      tli = pgTli.orElseThrow();
    } else if (lsnText.isPresent()) {
      if (!Lsn.isValid(lsnText.get())) {
        throw ApiProblem.invalid("lsn", "'" + lsnText.get() + "' is not an LSN: expected X/Y in hex (e.g. 0/16B5A50), or omit lsn to start at the end of WAL");
      }
      target = Lsn.parse(lsnText.get());
      Lsn head = timelines.lastDurableLsn(meta);
      if (target.isAfter(head) || target.isBefore(meta.createdLsn())) {
        throw new ApiProblem(400, ProblemTypes.LSN_OUT_OF_RANGE, "LSN out of range", "lsn " + target + " is outside timeline "
            + meta.timelineId() + " (" + meta.createdLsn() + " to its last durable LSN " + head + ")", "lsn");
      }
      tli = meta.tliAt(target);
    } else if (meta.latestStarted().isEmpty() && !meta.isRoot()) {
      target = meta.ancestorLsn(); // a branch's first start: the parent's history up to the branch point
      tli = meta.ancestorTli();
    } else {
      tli = pgTli.orElse(meta.currentTli());
    }
    Optional<ImageManifest> found = newestImage(meta, target);
    if (found.isEmpty()) {
      throw new IllegalStateException("timeline " + meta.timelineId() + " and its ancestors have no image at or below "
          + (target == null ? "the end of WAL" : target));
    }
    ImageManifest image = found.get();

    String walUrl = advertisedUrl + "/v1/tenant/" + meta.tenantId() + "/timeline/" + meta.timelineId() + "/wal/%f"
        + (target == null ? "" : "?until_lsn=" + target);
    var conf = new StringBuilder("# written by the Arbor pageserver for this start; read once during recovery\n");
    conf.append("restore_command = '").append(restoreCommand(walUrl)).append("'\n");
    conf.append("recovery_target_timeline = '").append(tli).append("'\n");
    conf.append("recovery_target_action = 'promote'\n");
    Map<String, byte[]> extra = new LinkedHashMap<>();
    extra.put(RECOVERY_CONF, conf.toString().getBytes(StandardCharsets.UTF_8));
    extra.put("recovery.signal", new byte[0]);
    Lsn replayFrom = recoveryFrom.orElse(image.replayFrom());
    extra.put(RECOVERY_WAL, Json.write(new RecoveryWal(walUrl, recoveryFiles(meta, tli, replayFrom, target))));
    return new Plan(image, extra, tli, target, recoveryFrom.isPresent());
  }

  /**
   * The shell command PostgreSQL runs for every WAL file it wants ({@code %f}, to be put at {@code %p}).
   * Its exit status is the contract: 0 when the file is in place; 1 only when the pageserver says the file
   * does not exist (HTTP 404), which PostgreSQL takes as the end of the archive; 127 for anything else
   * (pageserver unreachable, a server error, a transfer cut short), which PostgreSQL takes as a shell
   * error and answers by stopping recovery. A failed fetch must never look like the end of WAL: recovery
   * would then end early and promote without the WAL after it, losing acknowledged commits.
   *
   * <p>A prefetched file is renamed into place (same file system, so all or nothing); while one is being
   * prefetched ({@code NAME.part} exists) the command waits for it, up to 10 s. Otherwise it downloads to
   * a temporary name, so a partial transfer never looks like a restored segment. It sends the header in
   * {@value dev.arbor.api.pageserver.Basebackup#STORAGE_AUTH_FILE} (relative: PostgreSQL runs it in PGDATA) when that file exists, and
   * trusts the CA bundle {@value dev.arbor.api.pageserver.Basebackup#STORAGE_CA_FILE} when that one exists. ({@code %%}
   * is a literal {@code %} in PostgreSQL's substitution.)
   */
  static String restoreCommand(String walUrl) {
    String prefetched = PREFETCHED_WAL_DIR + "/%f";
    return "i=0; while [ -f \"" + prefetched + ".part\" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; "
        + "if [ -f \"" + prefetched + "\" ]; then mv \"" + prefetched + "\" \"%p\" || exit 127; exit 0; fi; "
        + "code=$(curl -sS --retry 3 $([ -f " + STORAGE_CA_FILE + " ] && echo --cacert " + STORAGE_CA_FILE + ") $([ -f "
        + STORAGE_AUTH_FILE + " ] && echo -H @" + STORAGE_AUTH_FILE + ") -o \"%p.arbor-tmp\" "
        + "-w \"%%{http_code}\" \"" + walUrl + "\"); rc=$?; "
        + "if [ $rc -eq 0 ] && [ \"$code\" = 200 ]; then mv \"%p.arbor-tmp\" \"%p\" || exit 127; exit 0; fi; "
        + "rm -f \"%p.arbor-tmp\"; "
        + "if [ $rc -eq 0 ] && [ \"$code\" = 404 ]; then exit 1; fi; "
        + "echo \"arbor restore_command: %f could not be fetched (curl exit $rc, HTTP $code); stopping recovery rather than "
        + "ending it before the end of WAL\" >&2; exit 127";
  }

  /**
   * The segments from the image to the point (or to the durable end of WAL); none when the end is unknown
   * (safekeepers unreachable): fetching ahead only saves time, so it never fails a basebackup.
   */
  private List<String> recoveryFiles(TimelineMeta meta, int tli, Lsn imageLsn, Lsn target) throws IOException {
    Lsn end = target;
    if (end == null) {
      try {
        end = timelines.lastDurableLsn(meta);
      } catch (ApiProblem p) {
        log.info("event=recovery_wal_unlisted tenant={} timeline={} reason=\"{}\"", meta.tenantId(), meta.timelineId(), p.getMessage());
        return List.of();
      }
    }
    return wal.recoveryFiles(meta, tli, imageLsn, end);
  }

  /**
   * Whether {@code lsn} on {@code tli} is where initdb's WAL ends. No record ever follows it there: initdb's
   * TLI ends with its shutdown checkpoint, and every compute start promotes into a new TLI. So replaying to
   * the end of that TLI stops exactly at the point (the record there is that checkpoint, which changes no
   * data, and the image is the state it describes), and a recovery target must not be set: PostgreSQL only
   * reaches a target when it reads a record at or past it, and otherwise fails the start with "recovery
   * ended before configured recovery target was reached" — every branch of a fresh tenant would.
   */
  public void write(Plan plan, OutputStream out) throws IOException {
    if (plan.recoveryOnly()) {
      var tar = new TarWriter(out, plan.image().createdAt());
      for (Map.Entry<String, byte[]> extra : plan.extraFiles().entrySet()) {
        tar.file(extra.getKey(), ImageMaterializer.EXTRA_FILE_MODE, extra.getValue());
      }
      tar.finish();
      return;
    }
    materializer.writeTar(plan.image(), plan.extraFiles(), out);
  }

  /** The newest image at or below {@code lsn} (any, when null) on the timeline, else on its ancestry up to the branch point. */
  Optional<ImageManifest> newestImage(TimelineMeta meta, Lsn lsn) throws IOException {
    Lsn limit = lsn == null ? new Lsn(-1L) : lsn; // -1 is the highest unsigned LSN
    Optional<ImageManifest> own = images.newestAtOrBelow(meta.tenantId(), meta.timelineId(), limit);
    if (own.isPresent() || meta.isRoot()) {
      return own;
    }
    TimelineMeta ancestor = catalog.timeline(meta.tenantId(), meta.ancestorTimelineId()).orElseThrow(() ->
        new IllegalStateException("ancestor " + meta.ancestorTimelineId() + " of timeline " + meta.timelineId() + " is missing"));
    return newestImage(ancestor, Lsn.min(limit, meta.ancestorLsn()));
  }
}

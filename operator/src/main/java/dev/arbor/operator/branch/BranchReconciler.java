package dev.arbor.operator.branch;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.BranchStatus;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.operator.deletion.StorageCleanup;
import dev.arbor.operator.kube.Caches;
import dev.arbor.operator.kube.Indexes;
import dev.arbor.operator.kube.KubeEvents;
import dev.arbor.operator.kube.RelevantChanges;
import dev.arbor.operator.project.Projects;
import dev.arbor.operator.status.Conditions;
import dev.arbor.operator.status.Outcome;
import dev.arbor.operator.status.StatusUpdates;
import dev.arbor.operator.storage.Adoption;
import dev.arbor.operator.storage.Ids;
import dev.arbor.operator.storage.StorageEngine;
import dev.arbor.api.Lsn;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TimelineInfo;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.MaxReconciliationInterval;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.IndexerResourceCache;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;

/**
 * Branch → a timeline in the storage engine. The root Branch maps to the tenant's root timeline; any other
 * Branch waits until its parent is Ready and then becomes a branch of the parent's timeline at spec.parentLsn
 * (or the parent's head), with a timeline id derived from the Branch's UID; once made, it needs only the parent's
 * timeline. The finalizer deletes the timeline, and holds the deletion (Stalled, saying why, Ready kept) while the
 * Branch is protected or has child Branches or Endpoints.
 */
@ControllerConfiguration(name = "branch", maxReconciliationInterval = @MaxReconciliationInterval(interval = 1, timeUnit = TimeUnit.MINUTES))
@GradualRetry(maxAttempts = -1, initialInterval = 2000, intervalMultiplier = 2, maxInterval = 60000)
public class BranchReconciler implements Reconciler<Branch>, Cleaner<Branch> {
  private static final Logger log = Logger.getLogger(BranchReconciler.class);
  /** How often a Branch waiting on something no event announces (the parent's WAL growing) looks again. */
  private static final Duration RECHECK = Duration.ofSeconds(15);
  private static final String RELATIVES = "branch-relatives";

  private final StorageEngine storage;
  private final StatusUpdates statuses;
  private final KubeEvents events;
  private final HeadLsnRefresh headLsns = new HeadLsnRefresh();
  private final StorageCleanup cleanup;

  public BranchReconciler(StorageEngine storage, StatusUpdates statuses, KubeEvents events, StorageCleanup cleanup) {
    this.storage = storage;
    this.statuses = statuses;
    this.events = events;
    this.cleanup = cleanup;
  }

  @Override
  public List<EventSource<?, Branch>> prepareEventSources(EventSourceContext<Branch> context) {
    IndexerResourceCache<Branch> branches = context.getPrimaryCache();
    branches.addIndexers(Map.of(
        Indexes.BY_PROJECT, b -> b.getSpec() == null ? List.of() : Indexes.keyOf(b.getMetadata().getNamespace(), b.getSpec().getProjectRef()),
        Indexes.BY_PARENT, b -> b.getSpec() == null ? List.of() : Indexes.keyOf(b.getMetadata().getNamespace(), b.getSpec().getParent())));
    var projectsConfig = InformerEventSourceConfiguration.from(Project.class, Branch.class)
        .withSecondaryToPrimaryMapper(p -> branches.byIndex(Indexes.BY_PROJECT, Indexes.key(p.getMetadata().getNamespace(),
            p.getMetadata().getName())).stream().map(ResourceID::fromResource).collect(Collectors.toSet()))
        .withOnUpdateFilter(RelevantChanges::ofProject)
        .build();
    var projects = new InformerEventSource<>(projectsConfig, context);
    // Branches concern their relatives: a parent turning Ready lets its children branch off, and a child going
    // away may release its parent's held deletion. Their status writes otherwise (headLsn) concern nobody.
    var relatives = InformerEventSourceConfiguration.from(Branch.class, Branch.class)
        .withName(RELATIVES)
        .withSecondaryToPrimaryMapper(b -> relatives(b, branches, projects))
        .withOnUpdateFilter(RelevantChanges::ofBranchState)
        .build();
    // Endpoints hold the deletion of their Branch; only their coming and going matters, not their status.
    var endpoints = InformerEventSourceConfiguration.from(Endpoint.class, Branch.class)
        .withOnUpdateFilter((n, o) -> !Objects.equals(n.getSpec().getBranchRef(), o.getSpec().getBranchRef()))
        .withSecondaryToPrimaryMapper(e -> e.getSpec() == null || e.getSpec().getBranchRef() == null ? Set.of()
            : Set.of(new ResourceID(e.getSpec().getBranchRef(), e.getMetadata().getNamespace())))
        .build();
    return List.of(projects, new InformerEventSource<>(relatives, context),
        new InformerEventSource<>(endpoints, context));
  }

  /** The Branch's parent (spec.parent, or its Project's root) and its children. */
  private static Set<ResourceID> relatives(Branch b, IndexerResourceCache<Branch> branches, InformerEventSource<Project, Branch> projects) {
    Set<ResourceID> out = new HashSet<>();
    if (b.getSpec() == null || b.getSpec().getProjectRef() == null) {
      return out;
    }
    String ns = b.getMetadata().getNamespace();
    Optional<Project> project = projects.get(new ResourceID(b.getSpec().getProjectRef(), ns));
    String parent = project.map(p -> Branches.parentName(b, p)).orElse(b.getSpec().getParent());
    if (parent != null) {
      out.add(new ResourceID(parent, ns));
    }
    branches.byIndex(Indexes.BY_PARENT, Indexes.key(ns, b.getMetadata().getName())).forEach(o -> out.add(ResourceID.fromResource(o)));
    // The root's children are the Project's Branches without spec.parent. Without the Project in the cache the
    // root is not known by name, and every Branch without a parent is a candidate both ways.
    boolean mayBeRoot = b.getSpec().getParent() == null
        && project.map(p -> Projects.rootBranchName(p).equals(b.getMetadata().getName())).orElse(true);
    if (mayBeRoot || (project.isEmpty() && parent == null)) {
      branches.byIndex(Indexes.BY_PROJECT, Indexes.key(ns, b.getSpec().getProjectRef())).stream()
          .filter(o -> o.getSpec().getParent() == null).forEach(o -> out.add(ResourceID.fromResource(o)));
    }
    out.remove(ResourceID.fromResource(b));
    return out;
  }

  @Override
  public UpdateControl<Branch> reconcile(Branch branch, Context<Branch> context) {
    BranchStatus status = StatusUpdates.copy(branch.getStatus(), BranchStatus::new);
    String projectName = branch.getSpec().getProjectRef();
    Optional<Project> maybeProject = Caches.get(context, Project.class, projectName, branch.getMetadata().getNamespace());
    if (maybeProject.isEmpty()) {
      return statuses.finish(branch, status, Outcome.reconciling("WaitingForProject", "Project " + projectName
          + " does not exist in namespace " + branch.getMetadata().getNamespace() + "; create it, or fix spec.projectRef"));
    }
    Project project = maybeProject.get();
    if (project.getStatus() == null || project.getStatus().getTenantId() == null) {
      return statuses.finish(branch, status, Outcome.reconciling("WaitingForProject", "Project " + projectName
          + " has no tenant in the storage engine yet"));
    }
    TenantId tenant = new TenantId(project.getStatus().getTenantId());
    boolean root = Projects.isRootBranch(branch, project);
    if (!root && branch.getMetadata().getName().equals(Projects.rootBranchName(project)) && branch.getSpec().getParent() == null) {
      if (Projects.isAdoptableRoot(branch, project)) {
        // The ownerReference the Project adds changes no generation, so no event announces it: look again.
        return statuses.finish(branch, status, Outcome.reconciling("WaitingForAdoption", "Project " + projectName
            + " adopts this Branch as its root branch")).rescheduleAfter(RECHECK);
      }
      return statuses.finish(branch, status, Outcome.stalled("RootBranchNameTaken", branch.getMetadata().getName()
          + " is the name of Project " + projectName + "'s root branch, which the operator creates; give this Branch another name"));
    }
    if (branch.getSpec().getParentTimestamp() != null) {
      return statuses.finish(branch, status, Outcome.stalled("ParentTimestampNotSupported", "spec.parentTimestamp "
          + branch.getSpec().getParentTimestamp() + " cannot be used yet: the storage engine does not resolve a time to an LSN. "
          + "Create the Branch with spec.parentLsn instead (e.g. from the parent's status.headLsn)"));
    }

    // Before a timeline is made: an expired Branch (e.g. applied from Git after its expiresAt) gets none.
    Optional<Instant> expiry = root ? Optional.empty() : Branches.expiry(branch);
    if (expiry.isPresent() && !expiry.get().isAfter(Instant.now())) {
      log.infof("event=branch_expired branch=%s/%s expired_at=%s", branch.getMetadata().getNamespace(), branch.getMetadata().getName(),
          expiry.get());
      events.normal(branch, "Expired", "Branch expired at " + expiry.get() + "; deleting it");
      context.getClient().resource(branch).delete();
      return UpdateControl.noUpdate();
    }

    TimelineInfo timeline;
    if (root) {
      var info = storage.tenant(tenant);
      if (info.isEmpty()) {
        return statuses.finish(branch, status, Outcome.reconciling("WaitingForProject", "tenant " + tenant + " of Project "
            + projectName + " is not in the storage engine (yet)"));
      }
      Optional<TimelineInfo> t = storage.timeline(tenant, info.get().rootTimelineId());
      if (t.isEmpty()) {
        return statuses.finish(branch, status, Outcome.stalled("TimelineMissing", "the root timeline "
            + info.get().rootTimelineId() + " of tenant " + tenant + " is missing from the storage engine"));
      }
      timeline = t.get();
      status.setLsn(timeline.createdLsn().toString());
    } else {
      String parentName = Branches.parentName(branch, project);
      // From the informer whose event announces a parent turning Ready: the primary cache may not have seen it yet.
      Branch parent = Caches.get(context, Branch.class, RELATIVES, parentName, branch.getMetadata().getNamespace()).orElse(null);
      if (parent == null) {
        return statuses.finish(branch, status, Outcome.reconciling("WaitingForParent", "parent Branch " + parentName
            + " does not exist in namespace " + branch.getMetadata().getNamespace() + "; create it, or fix spec.parent"));
      }
      if (!projectName.equals(parent.getSpec().getProjectRef())) {
        return statuses.finish(branch, status, Outcome.stalled("ParentInOtherProject", "spec.parent " + parentName
            + " belongs to Project " + parent.getSpec().getProjectRef() + ", not " + projectName
            + "; a branch can only be made from a Branch of its own Project"));
      }
      // A new branch point needs the parent Ready for its generation; a Branch whose timeline exists needs only the
      // parent's timeline (for the ancestry check below): a parent held in deletion, or briefly not Ready, leaves it Ready.
      if (parent.getStatus() == null || parent.getStatus().getTimelineId() == null
          || (status.getTimelineId() == null && !Conditions.isReady(parent))) {
        return statuses.finish(branch, status, Outcome.reconciling("WaitingForParent", "parent Branch " + parentName
            + " is not Ready yet"));
      }
      TimelineId ancestor = new TimelineId(parent.getStatus().getTimelineId());
      String adoption = Ids.adoption(branch, Ids.TIMELINE_ID);
      Outcome refused = Adoption.refusal(branch, Ids.TIMELINE_ID, adoption, "timeline", status.getTimelineId(),
          TimelineId.isValid(adoption), context.getPrimaryCache().list(), b -> b.getStatus() == null ? null : b.getStatus().getTimelineId());
      if (refused != null) {
        return statuses.finish(branch, status, refused);
      }
      // The recorded timeline stays the Branch's; an id this Branch did not derive itself is only looked up, never created.
      TimelineId id = status.getTimelineId() != null ? new TimelineId(status.getTimelineId())
          : adoption != null ? new TimelineId(adoption) : Ids.timelineOf(branch);
      if (!id.equals(Ids.timelineOf(branch))) {
        // Adopted: it must exist already (the ensureBranch below then only finds it).
        Optional<TimelineInfo> found = storage.timeline(tenant, id);
        if (found.isEmpty()) {
          return statuses.finish(branch, status, Outcome.stalled("AdoptionTargetMissing", "annotation " + Ids.TIMELINE_ID + " names timeline "
              + id + ", which tenant " + tenant + " of Project " + projectName + " does not have in the storage engine; set it to the "
              + "status.timelineId of the Branch to restore, or remove it to branch anew"));
        }
        if (status.getTimelineId() == null) {
          log.infof("event=timeline_adopted branch=%s/%s tenant=%s timeline=%s ancestor=%s", branch.getMetadata().getNamespace(),
              branch.getMetadata().getName(), tenant, id, found.get().ancestorTimelineId());
          events.normal(branch, "TimelineAdopted", "Adopted timeline " + id + " (annotation " + Ids.TIMELINE_ID + ")");
        }
      }
      try {
        var result = storage.ensureBranch(tenant, id, ancestor, branch.getSpec().getParentLsn());
        timeline = result.info();
        if (result.created()) {
          log.infof("event=timeline_created branch=%s/%s tenant=%s timeline=%s ancestor=%s ancestor_lsn=%s",
              branch.getMetadata().getNamespace(), branch.getMetadata().getName(), tenant, id, ancestor, timeline.ancestorLsn());
          events.normal(branch, "TimelineCreated", "Created timeline " + id + " from " + parentName + " at " + timeline.ancestorLsn());
        }
      } catch (ApiProblem p) {
        return timelineRefused(branch, status, p, tenant, ancestor, parentName);
      }
      if (!ancestor.equals(timeline.ancestorTimelineId()) && adoption != null) {
        return statuses.finish(branch, status, Outcome.stalled("TimelineAncestryMismatch", "annotation " + Ids.TIMELINE_ID + " names timeline "
            + id + ", which branches from " + timeline.ancestorTimelineId() + ", not from parent Branch " + parentName + "'s timeline "
            + ancestor + "; restore the parent with its own " + Ids.TIMELINE_ID + " annotation first, or fix spec.parent or the annotation"));
      }
      if (!ancestor.equals(timeline.ancestorTimelineId())) {
        return statuses.finish(branch, status, Outcome.stalled("TimelineAncestryMismatch", "timeline " + id
            + " in the storage engine branches from " + timeline.ancestorTimelineId() + ", not from " + parentName + " (" + ancestor
            + "); the Branch's ancestry cannot change: delete and re-create the Branch"));
      }
      status.setLsn(timeline.ancestorLsn().toString());
    }
    status.setTimelineId(timeline.timelineId().toString());
    if (timeline.lastDurableLsn() != null && headLsns.due(branch, Instant.now())) {
      status.setHeadLsn(timeline.lastDurableLsn().toString());
    }

    if (expiry.isPresent()) {
      Duration left = Duration.between(Instant.now(), expiry.get());
      var control = statuses.finish(branch, status, Outcome.ready("Ready", "timeline " + timeline.timelineId() + " at "
          + status.getLsn() + "; expires at " + expiry.get()));
      return control.rescheduleAfter(left.compareTo(Duration.ofMinutes(1)) < 0 ? left : Duration.ofMinutes(1));
    }
    return statuses.finish(branch, status, Outcome.ready("Ready", "timeline " + timeline.timelineId()
        + (root ? " (the project's root timeline)" : " branched at " + status.getLsn())));
  }

  /**
   * The storage engine refused the timeline. An LSN beyond the parent's head heals by itself once the parent has
   * written that far, which no Kubernetes event announces: Reconciling, looked at again every {@link #RECHECK}.
   * Its message names only the requested LSN, so that a parent writing meanwhile does not change the status at
   * every look. Any other refusal needs a person.
   */
  private UpdateControl<Branch> timelineRefused(Branch branch, BranchStatus status, ApiProblem p, TenantId tenant, TimelineId ancestor,
      String parentName) {
    String lsn = branch.getSpec().getParentLsn();
    if (lsn != null && "ancestor_lsn".equals(p.field()) && p.is("lsn-out-of-range") && beyondHead(tenant, ancestor, lsn)) {
      return statuses.finish(branch, status, Outcome.reconciling("WaitingForParentLsn", "spec.parentLsn " + lsn
          + " is beyond the head of parent Branch " + parentName + "; the timeline is created once " + parentName
          + " has written up to it")).rescheduleAfter(RECHECK);
    }
    String field = "ancestor_lsn".equals(p.field()) ? "spec.parentLsn" : "ancestor_timeline_id".equals(p.field()) ? "spec.parent"
        : "the Branch";
    // Also looked at again: the head may have passed spec.parentLsn between the refusal and the look at it.
    return statuses.finish(branch, status, Outcome.stalled("TimelineRefused", "the storage engine refused " + field + ": "
        + p.getMessage())).rescheduleAfter(RECHECK);
  }

  private boolean beyondHead(TenantId tenant, TimelineId timeline, String lsn) {
    Lsn wanted;
    try {
      wanted = Lsn.parse(lsn);
    } catch (IllegalArgumentException e) {
      return false;
    }
    return storage.timeline(tenant, timeline).map(t -> t.lastDurableLsn() != null && wanted.isAfter(t.lastDurableLsn())).orElse(false);
  }

  @Override
  public ErrorStatusUpdateControl<Branch> updateErrorStatus(Branch branch, Context<Branch> context, Exception e) {
    BranchStatus status = StatusUpdates.copy(branch.getStatus(), BranchStatus::new);
    Outcome outcome = statuses.failure(branch, e);
    var control = statuses.finish(branch, status, outcome);
    return control.isPatchStatus() ? ErrorStatusUpdateControl.patchStatus(branch) : ErrorStatusUpdateControl.noStatusUpdate();
  }

  @Override
  public DeleteControl cleanup(Branch branch, Context<Branch> context) {
    BranchStatus status = StatusUpdates.copy(branch.getStatus(), BranchStatus::new);
    String name = branch.getMetadata().getNamespace() + "/" + branch.getMetadata().getName();
    if (Boolean.TRUE.equals(branch.getSpec().getProtected())) {
      return hold(branch, status, "Protected", "deletion is held: spec.protected is true; set it to false to let the deletion "
          + "proceed (kubectl patch branch " + branch.getMetadata().getName() + " --type=merge -p '{\"spec\":{\"protected\":false}}')");
    }
    Optional<Project> project = Caches.get(context, Project.class, branch.getSpec().getProjectRef(), branch.getMetadata().getNamespace());
    if (project.isPresent() && Projects.isRootBranch(branch, project.get())) {
      if (project.get().getMetadata().getDeletionTimestamp() != null) {
        log.infof("event=branch_released branch=%s reason=project_deleted", name);
        return DeleteControl.defaultDelete();
      }
      // The root owns no timeline: the tenant's root timeline is the Project's, and the Project makes the Branch again.
      log.infof("event=branch_released branch=%s reason=root_branch project=%s", name, project.get().getMetadata().getName());
      events.normal(branch, "RootBranchReleased", "Deleted the root branch object only: the root timeline "
          + (branch.getStatus() == null ? "" : branch.getStatus().getTimelineId() + " ") + "stays with the Project's tenant, and Project "
          + project.get().getMetadata().getName() + " creates this Branch again");
      return DeleteControl.defaultDelete();
    }
    // From the informer that announces a child's deletion, so that the last child's going releases the parent at once.
    @SuppressWarnings("unchecked")
    var relatives = (InformerEventSource<Branch, Branch>) context.eventSourceRetriever().getEventSourceFor(Branch.class, RELATIVES);
    List<String> children = relatives.list(branch.getMetadata().getNamespace())
        .filter(o -> !o.getMetadata().getName().equals(branch.getMetadata().getName())
            && branch.getSpec().getProjectRef().equals(o.getSpec().getProjectRef())
            && branch.getMetadata().getName().equals(project.map(p -> Branches.parentName(o, p)).orElse(o.getSpec().getParent())))
        .map(o -> o.getMetadata().getName()).sorted().toList();
    if (!children.isEmpty()) {
      return hold(branch, status, "HasChildren", "deletion is held: Branches " + children
          + " are branched from this one; delete them first");
    }
    List<String> endpoints = Caches.list(context, Endpoint.class, branch.getMetadata().getNamespace())
        .filter(e -> branch.getMetadata().getName().equals(e.getSpec().getBranchRef())).map(e -> e.getMetadata().getName()).sorted().toList();
    if (!endpoints.isEmpty()) {
      return hold(branch, status, "HasEndpoints", "deletion is held: Endpoints " + endpoints
          + " run on this Branch and would lose their storage; delete them first");
    }
    if (project.isEmpty() || project.get().getStatus() == null || project.get().getStatus().getTenantId() == null) {
      // Without its Project there is no tenant to delete from: the Project's own finalizer removed the tenant.
      log.infof("event=branch_released branch=%s reason=no_project", name);
      return DeleteControl.defaultDelete();
    }
    TenantId tenant = new TenantId(project.get().getStatus().getTenantId());
    // The recorded timeline, or the derived one (a crash may have come before the status); never an adoption target
    // that this Branch did not take over.
    TimelineId timeline = status.getTimelineId() != null ? new TimelineId(status.getTimelineId()) : Ids.timelineOf(branch);
    String what = "timeline " + timeline + " of tenant " + tenant;
    if (cleanup.keeps(branch, branch.getSpec().getDeletionPolicy(), what)) {
      return DeleteControl.defaultDelete();
    }
    try {
      storage.deleteTimeline(tenant, timeline);
    } catch (ApiProblem p) {
      if (p.status() == 409) {
        return hold(branch, status, "HasChildren", "deletion is held: the storage engine refused to delete timeline " + timeline
            + ": " + p.getMessage());
      }
      throw cleanup.failed(branch, status, what, p);
    } catch (RuntimeException e) {
      throw cleanup.failed(branch, status, what, e);
    }
    log.infof("event=timeline_deleted branch=%s tenant=%s timeline=%s", name, tenant, timeline);
    events.normal(branch, "TimelineDeleted", "Deleted timeline " + timeline);
    return DeleteControl.defaultDelete();
  }

  /** Keeps the Branch: Stalled says why, and a Ready it had stays (its timeline is there and served). */
  private DeleteControl hold(Branch branch, BranchStatus status, String reason, String message) {
    statuses.patchNow(branch, status, Outcome.held(reason, message));
    return DeleteControl.noFinalizerRemoval().rescheduleAfter(RECHECK.toMillis());
  }
}

package dev.arbor.operator.project;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.BranchSpec;
import dev.arbor.crds.v1alpha1.DeletionPolicy;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.crds.v1alpha1.ProjectStatus;
import dev.arbor.crds.v1alpha1.Role;
import dev.arbor.operator.config.OperatorConfig;
import dev.arbor.operator.config.PostgresVersions;
import dev.arbor.operator.deletion.StorageCleanup;
import dev.arbor.operator.kube.Caches;
import dev.arbor.operator.kube.KubeEvents;
import dev.arbor.operator.kube.RelevantChanges;
import dev.arbor.operator.kube.Labels;
import dev.arbor.operator.status.Conditions;
import dev.arbor.operator.status.Outcome;
import dev.arbor.operator.status.StatusUpdates;
import dev.arbor.operator.storage.Adoption;
import dev.arbor.operator.storage.Ids;
import dev.arbor.operator.storage.StorageEngine;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.TenantId;
import dev.arbor.api.pageserver.TenantInfo;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
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
import io.javaoperatorsdk.operator.processing.event.source.informer.Mappers;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.jboss.logging.Logger;

/**
 * Project → a tenant in the storage engine (id derived from the Project's UID, or adopted with the
 * {@code arbor.dev/tenant-id} annotation), the root Branch object {@code <project>-<defaultBranch>} owned by the
 * Project (created, or adopted when a person declared it), and the Secret with the generated passwords of the
 * Project's roles. The Project is Ready once its root Branch is.
 */
@ControllerConfiguration(name = "project", maxReconciliationInterval = @MaxReconciliationInterval(interval = 10, timeUnit = TimeUnit.MINUTES))
@GradualRetry(maxAttempts = -1, initialInterval = 2000, intervalMultiplier = 2, maxInterval = 60000)
public class ProjectReconciler implements Reconciler<Project>, Cleaner<Project> {
  private static final Logger log = Logger.getLogger(ProjectReconciler.class);
  private static final SecureRandom RANDOM = new SecureRandom();
  /** Lets the Project make new role passwords once, after a person has accepted that the old ones are lost. */
  public static final String REGENERATE_ROLE_PASSWORDS = "arbor.dev/regenerate-role-passwords";
  private static final String ANNOTATIONS = "project-annotations";

  private final StorageEngine storage;
  private final StatusUpdates statuses;
  private final KubeEvents events;
  private final OperatorConfig config;
  private final PostgresVersions versions;
  private final StorageCleanup cleanup;

  public ProjectReconciler(StorageEngine storage, StatusUpdates statuses, KubeEvents events, OperatorConfig config,
      PostgresVersions versions, StorageCleanup cleanup) {
    this.storage = storage;
    this.statuses = statuses;
    this.events = events;
    this.config = config;
    this.versions = versions;
    this.cleanup = cleanup;
  }

  @Override
  public List<EventSource<?, Project>> prepareEventSources(EventSourceContext<Project> context) {
    IndexerResourceCache<Project> projects = context.getPrimaryCache();
    // A Branch event concerns the Project it names (root Branch Ready, a branch gone while the Project is deleted),
    // and the Project whose root branch has its name (a same-name Branch of another Project going away).
    var branches = InformerEventSourceConfiguration.from(Branch.class, Project.class)
        .withSecondaryToPrimaryMapper(b -> Stream.concat(
                b.getSpec() == null || b.getSpec().getProjectRef() == null ? Stream.<ResourceID>empty()
                    : Stream.of(new ResourceID(b.getSpec().getProjectRef(), b.getMetadata().getNamespace())),
                rootedAt(projects, b.getMetadata().getNamespace(), b.getMetadata().getName()))
            .collect(Collectors.toSet()))
        .withOnUpdateFilter(RelevantChanges::ofBranchForProject)
        .build();
    // Endpoints on the root branch hold the Project's deletion; only their coming and going matters.
    var endpoints = InformerEventSourceConfiguration.from(Endpoint.class, Project.class)
        .withOnUpdateFilter((n, o) -> !Objects.equals(branchRef(n), branchRef(o)))
        .withSecondaryToPrimaryMapper(e -> branchRef(e) == null ? Set.of()
            : rootedAt(projects, e.getMetadata().getNamespace(), branchRef(e)).collect(Collectors.toSet()))
        .build();
    // The role-passwords Secret: a deleted one is RolePasswordsLost at once, not at the next resync.
    var rolePasswords = InformerEventSourceConfiguration.from(Secret.class, Project.class)
        .withLabelSelector("app.kubernetes.io/name=arbor-project," + Labels.MANAGED_BY + "=" + Labels.OPERATOR)
        .withSecondaryToPrimaryMapper(Mappers.fromOwnerReferences(Project.class))
        .build();
    // A person's annotation (regenerate-role-passwords, tenant-id, skip-storage-cleanup) changes no generation, so the
    // Project's own event source drops it; this informer passes exactly those changes.
    var annotations = InformerEventSourceConfiguration.from(Project.class, Project.class)
        .withName(ANNOTATIONS)
        .withOnAddFilter(p -> false)
        .withOnDeleteFilter((p, unknown) -> false)
        .withOnUpdateFilter((n, o) -> !Objects.equals(n.getMetadata().getAnnotations(), o.getMetadata().getAnnotations()))
        .withSecondaryToPrimaryMapper(p -> Set.of(ResourceID.fromResource(p)))
        .build();
    return List.of(new InformerEventSource<>(branches, context), new InformerEventSource<>(endpoints, context),
        new InformerEventSource<>(rolePasswords, context), new InformerEventSource<>(annotations, context));
  }

  private static String branchRef(Endpoint e) {
    return e.getSpec() == null ? null : e.getSpec().getBranchRef();
  }

  /** The Projects of the namespace whose root branch is named {@code branch}. */
  private static Stream<ResourceID> rootedAt(IndexerResourceCache<Project> projects, String namespace, String branch) {
    return projects.list(namespace).filter(p -> Projects.rootBranchName(p).equals(branch)).map(ResourceID::fromResource);
  }

  @Override
  public UpdateControl<Project> reconcile(Project project, Context<Project> context) {
    ProjectStatus status = StatusUpdates.copy(project.getStatus(), ProjectStatus::new);
    Integer requested = project.getSpec() == null ? null : project.getSpec().getPostgresVersion();
    Integer recorded = status.getPostgresVersion();
    if (requested != null && recorded != null && !requested.equals(recorded)) {
      return statuses.finish(project, status, Outcome.stalled("PostgresVersionChanged", "spec.postgresVersion is " + requested
          + " but the tenant was created with PostgreSQL " + recorded + " and cannot change; set spec.postgresVersion back to "
          + recorded + " (or remove it), or create a new Project"));
    }
    int version = recorded != null ? recorded : requested != null ? requested : config.postgres().defaultVersion();
    // Before anything exists: a tenant of a version no compute here can run would be created for nothing. (The
    // default is always available: the operator does not start otherwise.) A recorded version is the tenant's.
    if (recorded == null && !versions.isAvailable(version)) {
      return statuses.finish(project, status, Outcome.stalled("PostgresVersionUnavailable", "spec.postgresVersion " + version
          + " is not available in this installation: its compute image carries PostgreSQL " + versions.all()
          + "; set spec.postgresVersion to " + versions.either() + " or leave it out"));
    }
    String adoption = Ids.adoption(project, Ids.TENANT_ID);
    Outcome refused = Adoption.refusal(project, Ids.TENANT_ID, adoption, "tenant", status.getTenantId(), TenantId.isValid(adoption),
        context.getPrimaryCache().list(), p -> p.getStatus() == null ? null : p.getStatus().getTenantId());
    if (refused != null) {
      return statuses.finish(project, status, refused);
    }
    // The recorded tenant stays the Project's (an annotation removed later changes nothing); an id this Project did
    // not derive itself is only ever looked up, never created.
    TenantId tenant = status.getTenantId() != null ? new TenantId(status.getTenantId())
        : adoption != null ? new TenantId(adoption) : Ids.tenantOf(project);
    try {
      TenantInfo info;
      if (!tenant.equals(Ids.tenantOf(project))) {
        Optional<TenantInfo> found = storage.tenant(tenant);
        if (found.isEmpty()) {
          return statuses.finish(project, status, Outcome.stalled("AdoptionTargetMissing", "annotation " + Ids.TENANT_ID + " names tenant "
              + tenant + ", which the storage engine does not have; set it to the status.tenantId of the Project to restore, or remove "
              + "it to start with a new, empty tenant"));
        }
        info = found.get();
        if (status.getTenantId() == null) {
          log.infof("event=tenant_adopted project=%s/%s tenant=%s pg_version=%d root_timeline=%s", project.getMetadata().getNamespace(),
              project.getMetadata().getName(), tenant, info.pgVersion(), info.rootTimelineId());
          events.normal(project, "TenantAdopted", "Adopted tenant " + tenant + " (annotation " + Ids.TENANT_ID + ") with root timeline "
              + info.rootTimelineId());
        }
      } else {
        var result = storage.ensureTenant(tenant, version);
        info = result.info();
        if (result.created()) {
          log.infof("event=tenant_created project=%s/%s tenant=%s pg_version=%d root_timeline=%s", project.getMetadata().getNamespace(),
              project.getMetadata().getName(), tenant, version, info.rootTimelineId());
          events.normal(project, "TenantCreated", "Created tenant " + tenant + " (PostgreSQL " + version + ") in the storage engine");
        }
      }
      if (info.pgVersion() != version) {
        return statuses.finish(project, status, Outcome.stalled("PostgresVersionMismatch", "tenant " + tenant + " holds PostgreSQL "
            + info.pgVersion() + " data but the Project asks for " + version + "; set spec.postgresVersion to "
            + info.pgVersion()));
      }
    } catch (ApiProblem p) {
      String field = "pg_version".equals(p.field()) ? "spec.postgresVersion (" + version + (requested == null ? ", the operator's default" : "")
          + ")" : "the Project";
      return statuses.finish(project, status, Outcome.stalled("TenantRefused", "the storage engine refused to create the tenant for "
          + field + ": " + p.getMessage()));
    }
    status.setTenantId(tenant.toString());
    status.setPostgresVersion(version);

    Outcome lost = ensureRolePasswords(project, withLatestAnnotations(project, context), status, context.getClient());
    if (lost != null) {
      return statuses.finish(project, status, lost);
    }

    String rootName = Projects.rootBranchName(project);
    // By name, not through the projectRef mapping: a same-name Branch of another Project is in the way just as well.
    Branch root = Caches.get(context, Branch.class, rootName, project.getMetadata().getNamespace()).orElse(null);
    if (root == null) {
      root = createRootBranch(project, context.getClient());
      if (root == null) {
        return statuses.finish(project, status, Outcome.reconciling("CreatingRootBranch", "creating root Branch " + rootName));
      }
    }
    if (!Projects.isRootBranch(root, project)) {
      if (!Projects.isAdoptableRoot(root, project) || root.getMetadata().getDeletionTimestamp() != null) {
        return statuses.finish(project, status, Outcome.stalled("RootBranchNameTaken", Projects.whyNotRoot(root, project)));
      }
      root = adoptRootBranch(project, root, context.getClient());
    }
    boolean held = root.getMetadata().getDeletionTimestamp() != null && Boolean.TRUE.equals(root.getSpec().getProtected());
    if (root.getMetadata().getDeletionTimestamp() != null && !held) {
      // Its finalizer lets it go without touching the storage engine; its deletion event brings the Project back here.
      return statuses.finish(project, status, Outcome.reconciling("RecreatingRootBranch", "root Branch " + rootName
          + " is being deleted; the Project creates it again once it is gone (it maps to tenant " + tenant + "'s root timeline again)"));
    }
    // A held root's generation rose with its deletion: what the Project needs of it then is its timeline.
    if (held ? root.getStatus() == null || root.getStatus().getTimelineId() == null : !Conditions.isReady(root)) {
      return statuses.finish(project, status, Outcome.reconciling("WaitingForRootBranch", "tenant " + tenant
          + " exists; waiting for root Branch " + rootName + " to be Ready"));
    }
    // A protected root held in deletion stays what it was (its finalizer keeps it): the Project serves on.
    return statuses.finish(project, status, Outcome.ready("Ready", "tenant " + tenant + " (PostgreSQL " + version
        + ") with root Branch " + rootName + (held ? " (its deletion is held: spec.protected is true)" : "")));
  }

  @Override
  public ErrorStatusUpdateControl<Project> updateErrorStatus(Project project, Context<Project> context, Exception e) {
    ProjectStatus status = StatusUpdates.copy(project.getStatus(), ProjectStatus::new);
    Outcome outcome = statuses.failure(project, e);
    var control = statuses.finish(project, status, outcome);
    return control.isPatchStatus() ? ErrorStatusUpdateControl.patchStatus(project) : ErrorStatusUpdateControl.noStatusUpdate();
  }

  @Override
  public DeleteControl cleanup(Project project, Context<Project> context) {
    ProjectStatus status = StatusUpdates.copy(project.getStatus(), ProjectStatus::new);
    String ns = project.getMetadata().getNamespace();
    String rootName = Projects.rootBranchName(project);
    Branch root = Caches.get(context, Branch.class, rootName, ns)
        .or(() -> Optional.ofNullable(context.getClient().resources(Branch.class).inNamespace(ns).withName(rootName).get()))
        .filter(b -> Projects.isRootBranch(b, project)).orElse(null);
    if (root != null && Boolean.TRUE.equals(root.getSpec().getProtected())) {
      return hold(project, status, "RootBranchProtected", "deletion is held: root Branch " + rootName + " has spec.protected: true, "
          + "and deleting the Project would delete its tenant with every timeline; set it to false to let the deletion proceed "
          + "(kubectl patch branch " + rootName + " --type=merge -p '{\"spec\":{\"protected\":false}}')");
    }
    List<String> others = context.getSecondaryResources(Branch.class).stream()
        .filter(b -> project.getMetadata().getName().equals(b.getSpec().getProjectRef()))
        .map(b -> b.getMetadata().getName()).filter(n -> !n.equals(rootName)).sorted().toList();
    List<String> endpoints = Caches.list(context, Endpoint.class, ns).filter(e -> rootName.equals(branchRef(e)))
        .map(e -> e.getMetadata().getName()).sorted().toList();
    if (!others.isEmpty() || !endpoints.isEmpty()) {
      String what = (others.isEmpty() ? "" : "Branches " + others + " belong to this Project")
          + (others.isEmpty() || endpoints.isEmpty() ? "" : " and ")
          + (endpoints.isEmpty() ? "" : "Endpoints " + endpoints + " run on its root branch " + rootName);
      return hold(project, status, "HasBranches", "deletion is held: " + what
          + "; delete them first (the root branch goes with the Project)");
    }
    // The recorded tenant, or the derived one (a crash may have come before the status); never an adoption target
    // that this Project did not take over.
    TenantId tenant = status.getTenantId() != null ? new TenantId(status.getTenantId()) : Ids.tenantOf(project);
    String what = "tenant " + tenant + " with all its timelines";
    DeletionPolicy policy = project.getSpec() == null ? null : project.getSpec().getDeletionPolicy();
    if (!cleanup.keeps(withLatestAnnotations(project, context), policy, what)) {
      try {
        storage.deleteTenant(tenant);
      } catch (RuntimeException e) {
        throw cleanup.failed(project, status, what, e);
      }
      log.infof("event=tenant_deleted project=%s/%s tenant=%s", ns, project.getMetadata().getName(), tenant);
      events.normal(project, "TenantDeleted", "Deleted tenant " + tenant + " with all its timelines");
    }
    // The root Branch's own finalizer sees its Project going and lets it go without touching the storage engine.
    if (root != null) {
      context.getClient().resource(root).delete();
    }
    return DeleteControl.defaultDelete();
  }

  /**
   * The Project as the annotations informer has it: a reconcile that its event started must see the new annotation,
   * which the primary cache may not show yet.
   */
  private static Project withLatestAnnotations(Project project, Context<Project> context) {
    return Caches.get(context, Project.class, ANNOTATIONS, project.getMetadata().getName(), project.getMetadata().getNamespace())
        .filter(p -> p.getMetadata().getUid().equals(project.getMetadata().getUid())).orElse(project);
  }

  /** Keeps the Project: Stalled says why, and a Ready it had stays (its tenant is there and served). */
  private DeleteControl hold(Project project, ProjectStatus status, String reason, String message) {
    statuses.patchNow(project, status, Outcome.held(reason, message));
    return DeleteControl.noFinalizerRemoval().rescheduleAfter(TimeUnit.SECONDS.toMillis(30));
  }

  private static OwnerReference controlledBy(Project project) {
    return new OwnerReferenceBuilder().withApiVersion(project.getApiVersion()).withKind(project.getKind())
        .withName(project.getMetadata().getName()).withUid(project.getMetadata().getUid()).withController(true)
        .withBlockOwnerDeletion(true).build();
  }

  private Branch createRootBranch(Project project, KubernetesClient client) {
    var spec = new BranchSpec();
    spec.setProjectRef(project.getMetadata().getName());
    var branch = new Branch();
    branch.getMetadata().setName(Projects.rootBranchName(project));
    branch.getMetadata().setNamespace(project.getMetadata().getNamespace());
    branch.getMetadata().setLabels(Map.of(Labels.PROJECT, project.getMetadata().getName(), Labels.MANAGED_BY, Labels.OPERATOR));
    branch.getMetadata().setOwnerReferences(List.of(controlledBy(project)));
    branch.setSpec(spec);
    try {
      Branch created = client.resource(branch).create();
      log.infof("event=root_branch_created project=%s/%s branch=%s", project.getMetadata().getNamespace(), project.getMetadata().getName(),
          branch.getMetadata().getName());
      events.normal(project, "RootBranchCreated", "Created root Branch " + branch.getMetadata().getName());
      return created;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) {
        // Created by an earlier attempt, or someone else's Branch of that name, that the cache has not shown yet.
        return client.resources(Branch.class).inNamespace(project.getMetadata().getNamespace()).withName(branch.getMetadata().getName())
            .get();
      }
      throw e;
    }
  }

  /** A root Branch a person declared before the Project existed becomes the Project's: it gets the controller ownerRef. */
  private Branch adoptRootBranch(Project project, Branch root, KubernetesClient client) {
    Branch adopted = client.resources(Branch.class).inNamespace(root.getMetadata().getNamespace()).withName(root.getMetadata().getName())
        .edit(b -> {
          List<OwnerReference> refs = new ArrayList<>(b.getMetadata().getOwnerReferences() == null ? List.of()
              : b.getMetadata().getOwnerReferences());
          refs.add(controlledBy(project));
          b.getMetadata().setOwnerReferences(refs);
          return b;
        });
    log.infof("event=root_branch_adopted project=%s/%s branch=%s", project.getMetadata().getNamespace(), project.getMetadata().getName(),
        root.getMetadata().getName());
    events.normal(project, "RootBranchAdopted", "Adopted Branch " + root.getMetadata().getName() + " as the root branch");
    return adopted;
  }

  /**
   * One generated password per declared role, kept in a Secret owned by the Project. Existing passwords are
   * never changed: every compute of the project (on any branch) sets the same one, so a branch made from the
   * root keeps working with the credentials its applications already have. A Secret that is gone after it was
   * made is not silently made again (running computes and applications still use the old passwords): that is
   * {@code Stalled RolePasswordsLost} until it is restored, or a person annotates the Project to accept new ones.
   */
  private Outcome ensureRolePasswords(Project project, Project annotated, ProjectStatus status, KubernetesClient client) {
    String ns = project.getMetadata().getNamespace();
    String name = Projects.rolePasswordsSecret(project.getMetadata().getName());
    Secret existing = client.secrets().inNamespace(ns).withName(name).get();
    boolean regenerate = existing == null && status.getRolePasswordsSecret() != null;
    var annotations = annotated.getMetadata().getAnnotations();
    if (regenerate && (annotations == null || !"true".equals(annotations.get(REGENERATE_ROLE_PASSWORDS)))) {
      return Outcome.stalled("RolePasswordsLost", "the Secret " + name + " with the passwords of this Project's roles is gone, and "
          + "running computes and applications still use those passwords; restore it (e.g. from a backup), or accept new passwords: "
          + "kubectl annotate project " + project.getMetadata().getName() + " " + REGENERATE_ROLE_PASSWORDS + "=true");
    }
    Map<String, String> data = existing == null || existing.getData() == null ? Map.of() : existing.getData();
    Map<String, String> added = new HashMap<>();
    List<Role> roles = project.getSpec() == null || project.getSpec().getRoles() == null ? List.of() : project.getSpec().getRoles();
    for (Role r : roles) {
      if (!data.containsKey(r.getName())) {
        added.put(r.getName(), Base64.getEncoder().encodeToString(generatePassword().getBytes(StandardCharsets.UTF_8)));
      }
    }
    status.setRolePasswordsSecret(name);
    if (existing != null && added.isEmpty()) {
      return null;
    }
    if (existing == null) {
      Secret secret = new SecretBuilder().withNewMetadata().withName(name).withNamespace(ns)
          .withLabels(Labels.project(project.getMetadata().getName())).withOwnerReferences(controlledBy(project))
          .endMetadata().withType("Opaque").withData(added).build();
      client.resource(secret).create();
    } else {
      // Only the new keys: labels and annotations others put on the Secret stay. The resourceVersion makes a concurrent
      // writer fail this patch (and the reconcile retry) instead of one of two passwords for a role being lost.
      String patch = Serialization.asJson(Map.of("metadata", Map.of("resourceVersion", existing.getMetadata().getResourceVersion()),
          "data", added));
      client.secrets().inNamespace(ns).withName(name).patch(PatchContext.of(PatchType.JSON_MERGE), patch);
    }
    if (regenerate) {
      log.infof("event=role_passwords_regenerated project=%s/%s secret=%s roles=%d", ns, project.getMetadata().getName(), name, added.size());
      events.warning(project, "RolePasswordsRegenerated", "Made new passwords for " + added.keySet().stream().sorted().toList()
          + " in Secret " + name + " (annotation " + REGENERATE_ROLE_PASSWORDS + "); the annotation is removed");
      Project patched = client.resources(Project.class).inNamespace(ns).withName(project.getMetadata().getName()).patch(
          PatchContext.of(PatchType.JSON_MERGE), "{\"metadata\":{\"annotations\":{\"" + REGENERATE_ROLE_PASSWORDS + "\":null}}}");
      // The status patch that ends this reconcile carries the resourceVersion: the one after this patch, not before.
      project.getMetadata().setResourceVersion(patched.getMetadata().getResourceVersion());
    } else {
      log.infof("event=role_passwords_generated project=%s/%s secret=%s roles=%d", ns, project.getMetadata().getName(), name,
          data.size() + added.size());
    }
    return null;
  }

  private static String generatePassword() {
    byte[] bytes = new byte[24];
    RANDOM.nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }
}

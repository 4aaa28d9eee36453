package dev.arbor.operator.project;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.BranchSpec;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.crds.v1alpha1.ProjectStatus;
import dev.arbor.crds.v1alpha1.Role;
import dev.arbor.operator.config.OperatorConfig;
import dev.arbor.operator.config.PostgresVersions;
import dev.arbor.operator.kube.KubeEvents;
import dev.arbor.operator.kube.RelevantChanges;
import dev.arbor.operator.kube.Labels;
import dev.arbor.operator.status.Conditions;
import dev.arbor.operator.status.Outcome;
import dev.arbor.operator.status.StatusUpdates;
import dev.arbor.operator.storage.Ids;
import dev.arbor.operator.storage.StorageEngine;
import dev.arbor.storage.http.ApiProblem;
import dev.arbor.storage.id.TenantId;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
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
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.retry.GradualRetry;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.jboss.logging.Logger;

/**
 * Project → a tenant in the storage engine (id derived from the Project's UID), the root Branch object
 * {@code <project>-<defaultBranch>} owned by the Project, and the Secret with the generated passwords of the
 * Project's roles. The Project is Ready once its root Branch is.
 */
@ControllerConfiguration(name = "project", maxReconciliationInterval = @MaxReconciliationInterval(interval = 10, timeUnit = TimeUnit.MINUTES))
@GradualRetry(maxAttempts = -1, initialInterval = 2000, intervalMultiplier = 2, maxInterval = 60000)
public class ProjectReconciler implements Reconciler<Project>, Cleaner<Project> {
  private static final Logger log = Logger.getLogger(ProjectReconciler.class);
  private static final SecureRandom RANDOM = new SecureRandom();

  private final StorageEngine storage;
  private final StatusUpdates statuses;
  private final KubeEvents events;
  private final OperatorConfig config;
  private final PostgresVersions versions;

  public ProjectReconciler(StorageEngine storage, StatusUpdates statuses, KubeEvents events, OperatorConfig config,
      PostgresVersions versions) {
    this.storage = storage;
    this.statuses = statuses;
    this.events = events;
    this.config = config;
    this.versions = versions;
  }

  @Override
  public List<EventSource<?, Project>> prepareEventSources(EventSourceContext<Project> context) {
    // A Branch event concerns the Project it names (root Branch Ready, a branch gone while the Project is deleted).
    var branches = InformerEventSourceConfiguration.from(Branch.class, Project.class)
        .withSecondaryToPrimaryMapper(b -> b.getSpec() == null || b.getSpec().getProjectRef() == null ? Set.of()
            : Set.of(new ResourceID(b.getSpec().getProjectRef(), b.getMetadata().getNamespace())))
        .withOnUpdateFilter(RelevantChanges::ofBranchForProject)
        .build();
    return List.of(new InformerEventSource<>(branches, context));
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
    TenantId tenant = Ids.tenantOf(project);
    try {
      var result = storage.ensureTenant(tenant, version);
      if (result.created()) {
        log.infof("event=tenant_created project=%s/%s tenant=%s pg_version=%d root_timeline=%s", project.getMetadata().getNamespace(),
            project.getMetadata().getName(), tenant, version, result.info().rootTimelineId());
        events.normal(project, "TenantCreated", "Created tenant " + tenant + " (PostgreSQL " + version + ") in the storage engine");
      }
      if (result.info().pgVersion() != version) {
        return statuses.finish(project, status, Outcome.stalled("PostgresVersionMismatch", "tenant " + tenant + " holds PostgreSQL "
            + result.info().pgVersion() + " data but the Project asks for " + version + "; set spec.postgresVersion to "
            + result.info().pgVersion()));
      }
    } catch (ApiProblem p) {
      String field = "pg_version".equals(p.field()) ? "spec.postgresVersion (" + version + (requested == null ? ", the operator's default" : "")
          + ")" : "the Project";
      return statuses.finish(project, status, Outcome.stalled("TenantRefused", "the storage engine refused to create the tenant for "
          + field + ": " + p.getMessage()));
    }
    status.setTenantId(tenant.toString());
    status.setPostgresVersion(version);

    ensureRolePasswords(project, context.getClient());

    String rootName = Projects.rootBranchName(project);
    Branch root = context.getSecondaryResources(Branch.class).stream()
        .filter(b -> b.getMetadata().getName().equals(rootName)).findFirst().orElse(null);
    if (root == null) {
      root = createRootBranch(project, context.getClient());
      if (root == null) {
        return statuses.finish(project, status, Outcome.reconciling("CreatingRootBranch", "creating root Branch " + rootName));
      }
    }
    if (!Projects.isRootBranch(root, project)) {
      return statuses.finish(project, status, Outcome.stalled("RootBranchNameTaken", "a Branch named " + rootName
          + " exists but was not created for this Project; delete or rename it so that the root branch can be created"));
    }
    if (!Conditions.isReady(root)) {
      return statuses.finish(project, status, Outcome.reconciling("WaitingForRootBranch", "tenant " + tenant
          + " exists; waiting for root Branch " + rootName + " to be Ready"));
    }
    return statuses.finish(project, status, Outcome.ready("Ready", "tenant " + tenant + " (PostgreSQL " + version
        + ") with root Branch " + rootName));
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
    String rootName = Projects.rootBranchName(project);
    List<String> others = context.getSecondaryResources(Branch.class).stream()
        .map(b -> b.getMetadata().getName()).filter(n -> !n.equals(rootName)).sorted().toList();
    if (!others.isEmpty()) {
      ProjectStatus status = StatusUpdates.copy(project.getStatus(), ProjectStatus::new);
      statuses.patchNow(project, status, Outcome.stalled("HasBranches", "deletion is held: Branches " + others
          + " belong to this Project; delete them first (the root branch goes with the Project)"));
      return DeleteControl.noFinalizerRemoval().rescheduleAfter(TimeUnit.SECONDS.toMillis(30));
    }
    TenantId tenant = Ids.tenantOf(project);
    storage.deleteTenant(tenant);
    log.infof("event=tenant_deleted project=%s/%s tenant=%s", project.getMetadata().getNamespace(), project.getMetadata().getName(), tenant);
    events.normal(project, "TenantDeleted", "Deleted tenant " + tenant + " with all its timelines");
    // The root Branch's own finalizer sees its Project going and lets it go without touching the storage engine.
    context.getClient().resources(Branch.class).inNamespace(project.getMetadata().getNamespace()).withName(rootName).delete();
    return DeleteControl.defaultDelete();
  }

  private Branch createRootBranch(Project project, KubernetesClient client) {
    var spec = new BranchSpec();
    spec.setProjectRef(project.getMetadata().getName());
    var branch = new Branch();
    branch.getMetadata().setName(Projects.rootBranchName(project));
    branch.getMetadata().setNamespace(project.getMetadata().getNamespace());
    branch.getMetadata().setLabels(Map.of(Labels.PROJECT, project.getMetadata().getName(), Labels.MANAGED_BY, Labels.OPERATOR));
    branch.getMetadata().setOwnerReferences(List.of(new OwnerReferenceBuilder().withApiVersion(project.getApiVersion())
        .withKind(project.getKind()).withName(project.getMetadata().getName()).withUid(project.getMetadata().getUid())
        .withController(true).withBlockOwnerDeletion(true).build()));
    branch.setSpec(spec);
    try {
      Branch created = client.resource(branch).create();
      log.infof("event=root_branch_created project=%s/%s branch=%s", project.getMetadata().getNamespace(), project.getMetadata().getName(),
          branch.getMetadata().getName());
      events.normal(project, "RootBranchCreated", "Created root Branch " + branch.getMetadata().getName());
      return created;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 409) {
        return null; // created by an earlier attempt whose informer event has not arrived yet
      }
      throw e;
    }
  }

  /**
   * One generated password per declared role, kept in a Secret owned by the Project. Existing passwords are
   * never changed: every compute of the project (on any branch) sets the same one, so a branch made from the
   * root keeps working with the credentials its applications already have.
   */
  private void ensureRolePasswords(Project project, KubernetesClient client) {
    String ns = project.getMetadata().getNamespace();
    String name = Projects.rolePasswordsSecret(project.getMetadata().getName());
    Secret existing = client.secrets().inNamespace(ns).withName(name).get();
    Map<String, String> data = new HashMap<>(existing == null || existing.getData() == null ? Map.of() : existing.getData());
    List<Role> roles = project.getSpec() == null || project.getSpec().getRoles() == null ? List.of() : project.getSpec().getRoles();
    boolean added = false;
    for (Role r : roles) {
      if (!data.containsKey(r.getName())) {
        data.put(r.getName(), Base64.getEncoder().encodeToString(generatePassword().getBytes(StandardCharsets.UTF_8)));
        added = true;
      }
    }
    if (existing != null && !added) {
      return;
    }
    Secret secret = new SecretBuilder().withNewMetadata().withName(name).withNamespace(ns)
        .withLabels(Labels.project(project.getMetadata().getName()))
        .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion(project.getApiVersion()).withKind(project.getKind())
            .withName(project.getMetadata().getName()).withUid(project.getMetadata().getUid()).withController(true)
            .withBlockOwnerDeletion(true).build())
        .endMetadata().withType("Opaque").withData(data).build();
    if (existing == null) {
      client.resource(secret).create();
    } else {
      secret.getMetadata().setResourceVersion(existing.getMetadata().getResourceVersion());
      client.resource(secret).update(); // optimistic: a concurrent writer makes this fail and the reconcile retry
    }
    log.infof("event=role_passwords_generated project=%s/%s secret=%s roles=%d", ns, project.getMetadata().getName(), name, data.size());
  }

  private static String generatePassword() {
    byte[] bytes = new byte[24];
    RANDOM.nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }
}

package dev.arbor.operator.endpoint;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Database;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import dev.arbor.crds.v1alpha1.EndpointStatus;
import dev.arbor.crds.v1alpha1.EndpointWake;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.crds.v1alpha1.Role;
import dev.arbor.crds.v1alpha1.RoleOption;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.operator.auth.CertificateIssuer;
import dev.arbor.operator.auth.TokenIssuer;
import dev.arbor.operator.auth.TokenSecrets;
import dev.arbor.operator.config.OperatorConfig;
import dev.arbor.operator.kube.Caches;
import dev.arbor.operator.kube.Indexes;
import dev.arbor.operator.kube.KubeEvents;
import dev.arbor.operator.kube.Labels;
import dev.arbor.operator.kube.RelevantChanges;
import dev.arbor.operator.project.Projects;
import dev.arbor.operator.status.Outcome;
import dev.arbor.operator.status.StatusUpdates;
import dev.arbor.operator.storage.StorageEngine;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.DurationText;
import dev.arbor.api.compute.InvalidSpecException.FieldError;
import dev.arbor.client.ComputeSpecJson;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
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
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;

/**
 * Endpoint → the compute of a Branch: a StatefulSet running the compute agent with a compute spec rendered
 * from the Branch, its Project and the Endpoint, a Service with the EndpointSlice that sends it to the Endpoint's
 * proxy port on the arbor-proxy pods, and a connection Secret. At most one ReadWrite
 * Endpoint per Branch runs: the one that already does, else the oldest; any other is refused with a Stalled
 * condition and gets no compute.
 */
// Not generation-aware: a wake request is an annotation, which does not change the generation; EndpointUpdates
// lets it through with spec changes and deletion, and keeps out the operator's own status writes.
@ControllerConfiguration(name = "endpoint", maxReconciliationInterval = @MaxReconciliationInterval(interval = 5, timeUnit = TimeUnit.MINUTES),
    generationAwareEventProcessing = false, informer = @Informer(onUpdateFilter = EndpointUpdates.class))
@GradualRetry(maxAttempts = -1, initialInterval = 2000, intervalMultiplier = 2, maxInterval = 60000)
public class EndpointReconciler implements Reconciler<Endpoint> {
  private static final Logger log = Logger.getLogger(EndpointReconciler.class);
  private static final String FIELD_MANAGER = "arbor-operator";
  /** The names of the two Secret informers: Projects' role passwords, and the Endpoints' connection Secrets. */
  private static final String ROLE_PASSWORDS = "role-passwords";
  private static final String CONNECTION_SECRETS = "connection-secrets";
  /** Role options the compute agent applies; the others are refused rather than silently ignored. */

  private final OperatorConfig config;
  private final StorageEngine storage;
  private final StatusUpdates statuses;
  private final KubeEvents events;
  private final ComputeRollouts rollouts;
  private final ProxyPorts proxyPorts;
  private final PgdataVolume pgdataVolume;
  private final TokenIssuer tokens;
  private final CertificateIssuer certificates;
  private final Wakes wakes = new Wakes();
  private volatile IndexerResourceCache<Endpoint> allEndpoints;
  private volatile ProxyPods proxyPods;

  public EndpointReconciler(OperatorConfig config, StorageEngine storage, StatusUpdates statuses, KubeEvents events,
      PgdataVolume pgdataVolume, TokenIssuer tokens, CertificateIssuer certificates) {
    this.config = config;
    this.tokens = tokens;
    this.certificates = certificates;
    this.pgdataVolume = pgdataVolume;
    this.storage = storage;
    this.statuses = statuses;
    this.events = events;
    this.rollouts = new ComputeRollouts(config.compute().maxConfigRolloutsPerMinute(), Clock.systemUTC());
    this.proxyPorts = ProxyPorts.parse(config.proxy().portRange());
  }

  @Override
  public List<EventSource<?, Endpoint>> prepareEventSources(EventSourceContext<Endpoint> context) {
    IndexerResourceCache<Endpoint> endpoints = context.getPrimaryCache();
    allEndpoints = endpoints;
    endpoints.addIndexer(Indexes.BY_BRANCH, e -> e.getSpec() == null ? List.of()
        : Indexes.keyOf(e.getMetadata().getNamespace(), e.getSpec().getBranchRef()));
    var branchesConfig = InformerEventSourceConfiguration.from(Branch.class, Endpoint.class)
        .withSecondaryToPrimaryMapper(b -> onBranch(endpoints, b.getMetadata().getNamespace(), b.getMetadata().getName()))
        .withOnUpdateFilter(RelevantChanges::ofBranchState)
        .build();
    var branches = new InformerEventSource<>(branchesConfig, context);
    branches.addIndexer(Indexes.BY_PROJECT, b -> b.getSpec() == null ? List.of()
        : Indexes.keyOf(b.getMetadata().getNamespace(), b.getSpec().getProjectRef()));
    // Roles, databases and the tenant come from the Project; an Endpoint names a Branch, so a Project concerns
    // the Endpoints of its Branches.
    var projects = InformerEventSourceConfiguration.from(Project.class, Endpoint.class)
        .withSecondaryToPrimaryMapper(p -> branches.byIndex(Indexes.BY_PROJECT, Indexes.key(p.getMetadata().getNamespace(),
                p.getMetadata().getName())).stream()
            .flatMap(b -> onBranch(endpoints, b.getMetadata().getNamespace(), b.getMetadata().getName()).stream())
            .collect(Collectors.toSet()))
        .withOnUpdateFilter(RelevantChanges::ofProject)
        .build();
    var rolePasswords = InformerEventSourceConfiguration.from(Secret.class, Endpoint.class)
        .withName(ROLE_PASSWORDS)
        .withLabelSelector("app.kubernetes.io/name=arbor-project," + Labels.MANAGED_BY + "=" + Labels.OPERATOR)
        .withSecondaryToPrimaryMapper(s -> allIn(endpoints, s))
        .build();
    var statefulSets = InformerEventSourceConfiguration.from(StatefulSet.class, Endpoint.class)
        .withLabelSelector("app.kubernetes.io/name=arbor-compute," + Labels.MANAGED_BY + "=" + Labels.OPERATOR)
        .withSecondaryToPrimaryMapper(Mappers.fromOwnerReferences(Endpoint.class))
        .build();
    // A ReadWrite Endpoint that goes away lets the next one of its Branch run. Only the ReadWrite Endpoints of the
    // Branch hold an election, and only what it reads passes.
    var siblings = InformerEventSourceConfiguration.from(Endpoint.class, Endpoint.class)
        .withName("endpoint-siblings")
        .withSecondaryToPrimaryMapper(e -> e.getSpec() == null ? Set.of()
            : onBranch(endpoints, e.getMetadata().getNamespace(), e.getSpec().getBranchRef()).stream()
                .filter(o -> !o.getName().equals(e.getMetadata().getName()))
                .filter(o -> endpoints.get(o).map(ComputeSpecRendering::readWrite).orElse(false)).collect(Collectors.toSet()))
        .withOnUpdateFilter(RelevantChanges::ofSiblingEndpoint)
        .build();
    // The PGDATA claims (PgdataVolume): made when missing, deleted when no longer wanted.
    var claims = InformerEventSourceConfiguration.from(PersistentVolumeClaim.class, Endpoint.class)
        .withLabelSelector("app.kubernetes.io/name=arbor-compute," + Labels.MANAGED_BY + "=" + Labels.OPERATOR)
        .withSecondaryToPrimaryMapper(Mappers.fromOwnerReferences(Endpoint.class))
        .build();
    // A compute's pods: a crash-looping one makes the Endpoint Failed.
    var pods = InformerEventSourceConfiguration.from(Pod.class, Endpoint.class)
        .withLabelSelector("app.kubernetes.io/name=arbor-compute," + Labels.MANAGED_BY + "=" + Labels.OPERATOR)
        .withSecondaryToPrimaryMapper(p -> p.getMetadata().getLabels().containsKey(Labels.ENDPOINT)
            ? Set.of(new ResourceID(p.getMetadata().getLabels().get(Labels.ENDPOINT), p.getMetadata().getNamespace())) : Set.of())
        .build();
    // The Service's EndpointSlice, so that a reconcile writes it only when it differs, and repairs it when changed.
    var slices = InformerEventSourceConfiguration.from(EndpointSlice.class, Endpoint.class)
        .withLabelSelector(ComputeResources.SLICE_MANAGED_BY_LABEL + "=" + Labels.OPERATOR)
        .withSecondaryToPrimaryMapper(Mappers.fromOwnerReferences(Endpoint.class))
        .build();
    // The Service and connection Secret the operator made (label-selected; the owner is the Endpoint), so that a deleted
    // or edited one is applied again at once, not at the next periodic reconcile. The reconcile's own apply of an
    // unchanged object writes nothing, so it raises no event.
    String computeLabels = "app.kubernetes.io/name=arbor-compute," + Labels.MANAGED_BY + "=" + Labels.OPERATOR;
    var services = InformerEventSourceConfiguration.from(Service.class, Endpoint.class)
        .withLabelSelector(computeLabels)
        .withSecondaryToPrimaryMapper(Mappers.fromOwnerReferences(Endpoint.class))
        .build();
    var connectionSecrets = InformerEventSourceConfiguration.from(Secret.class, Endpoint.class)
        .withName(CONNECTION_SECRETS)
        .withLabelSelector(computeLabels)
        .withSecondaryToPrimaryMapper(Mappers.fromOwnerReferences(Endpoint.class))
        .build();
    // kubectl's rule: a kubeconfig without a namespace means "default".
    String proxyNamespace = config.proxy().namespace().or(() -> Optional.ofNullable(context.getClient().getNamespace()))
        .orElse("default");
    proxyPods = new ProxyPods(context.getClient(), proxyNamespace, config.proxy().selector(), endpoints);
    log.infof("event=proxy_routing namespace=%s selector=%s port_range=%s", proxyNamespace, config.proxy().selector(),
        proxyPorts.range());
    return List.of(branches, new InformerEventSource<>(projects, context),
        new InformerEventSource<>(rolePasswords, context), new InformerEventSource<>(statefulSets, context),
        new InformerEventSource<>(siblings, context), new InformerEventSource<>(pods, context),
        new InformerEventSource<>(slices, context), new InformerEventSource<>(services, context),
        new InformerEventSource<>(connectionSecrets, context), new InformerEventSource<>(claims, context), proxyPods);
  }

  private static Set<ResourceID> onBranch(IndexerResourceCache<Endpoint> endpoints, String namespace, String branch) {
    return endpoints.byIndex(Indexes.BY_BRANCH, Indexes.key(namespace, branch)).stream().map(ResourceID::fromResource)
        .collect(Collectors.toSet());
  }

  private static Set<ResourceID> allIn(IndexerResourceCache<Endpoint> endpoints, HasMetadata o) {
    return endpoints.list(o.getMetadata().getNamespace()).map(ResourceID::fromResource).collect(Collectors.toSet());
  }

  @Override
  public UpdateControl<Endpoint> reconcile(Endpoint endpoint, Context<Endpoint> context) {
    EndpointStatus status = StatusUpdates.copy(endpoint.getStatus(), EndpointStatus::new);
    String ns = endpoint.getMetadata().getNamespace();
    String branchName = endpoint.getSpec().getBranchRef();
    Branch branch = Caches.get(context, Branch.class, branchName, ns).orElse(null);
    if (branch == null) {
      return statuses.finish(endpoint, status, Outcome.reconciling("WaitingForBranch", "Branch " + branchName
          + " does not exist in namespace " + ns + "; create it, or fix spec.branchRef"));
    }
    // The timeline is what a compute needs, not the Branch's Ready: a Branch held in deletion, or one that saw a
    // transient storage error, still has its timeline, and its Endpoints keep taking their own changes.
    if (branch.getStatus() == null || branch.getStatus().getTimelineId() == null) {
      return statuses.finish(endpoint, status, Outcome.reconciling("WaitingForBranch", "Branch " + branchName
          + " has no timeline yet"));
    }
    if (status.getTimelineId() != null && !branch.getStatus().getTimelineId().equals(status.getTimelineId())) {
      // The name now stands for another Branch (deleted and created again): serving it would hand the
      // Endpoint's clients an empty or different database behind the same Service and Secret. The data is the
      // identity, not the object: a root Branch created again by its Project (or a Branch that adopted its
      // timeline by id) has the same timeline and is served on.
      stopCompute(endpoint, context.getClient());
      status.setPhase(EndpointPhase.Failed);
      return statuses.finish(endpoint, status, Outcome.stalled("BranchReplaced", "Branch " + branchName + " was deleted and "
          + "created again; the data this Endpoint served is in timeline " + status.getTimelineId() + ", not in the new Branch's. "
          + "The compute is stopped; delete and re-create the Endpoint to serve the new Branch"));
    }
    String projectName = branch.getSpec().getProjectRef();
    Project project = Caches.get(context, Project.class, projectName, ns).orElse(null);
    if (project == null || project.getStatus() == null || project.getStatus().getTenantId() == null
        || project.getStatus().getPostgresVersion() == null) {
      return statuses.finish(endpoint, status, Outcome.reconciling("WaitingForProject", "Project " + projectName + " has no tenant yet"));
    }

    boolean readWrite = ComputeSpecRendering.readWrite(endpoint);
    if (readWrite) {
      Endpoint writer = writer(endpoint, branch, context);
      if (!writer.getMetadata().getName().equals(endpoint.getMetadata().getName())) {
        removeCompute(endpoint, context.getClient());
        status.setPhase(null);
        String state = Boolean.TRUE.equals(writer.getSpec().getSuspended()) ? "is suspended (spec.suspended: true)" : "holds the compute";
        return statuses.finish(endpoint, status, Outcome.stalled("ReadWriteEndpointExists", "Endpoint "
            + writer.getMetadata().getName() + " is already the read-write endpoint of Branch " + branchName + " and " + state
            + " (a branch has one writer); set spec.mode: ReadOnly with spec.lsn for a snapshot, or delete one of the two"));
      }
    } else if (endpoint.getSpec().getLsn() == null) {
      return statuses.finish(endpoint, status, Outcome.stalled("ReplicaNotSupported", "spec.mode ReadOnly without spec.lsn (a replica "
          + "that follows the branch) is not supported by the compute agent yet; set spec.lsn for a snapshot at that LSN"));
    }

    List<Role> roles = ComputeSpecRendering.roles(project);
    List<Database> databases = ComputeSpecRendering.databases(project);
    int postgresVersion = project.getStatus().getPostgresVersion();
    for (int i = 0; i < roles.size(); i++) {
      if (postgresVersion < ComputeAgentSpec.CREATEROLE_CONFINED_SINCE && roles.get(i).getOptions().contains(RoleOption.CREATEROLE)) {
        return statuses.finish(endpoint, status, Outcome.stalled("UnsafeRoleOption", "Project " + projectName + " spec.roles["
            + i + "].options has CREATEROLE on PostgreSQL " + postgresVersion + ": " + ComputeAgentSpec.CREATEROLE_BEFORE_16));
      }
    }
    Secret passwords = Caches.get(context, Secret.class, ROLE_PASSWORDS, Projects.rolePasswordsSecret(projectName), ns).orElse(null);
    Map<String, String> roleKeys = new LinkedHashMap<>();
    for (Role r : roles) {
      if (passwords == null || passwords.getData() == null || !passwords.getData().containsKey(r.getName())) {
        return statuses.finish(endpoint, status, Outcome.reconciling("WaitingForRolePasswords", "Project " + projectName
            + " has not generated a password for role " + r.getName() + " yet"));
      }
      roleKeys.put(r.getName(), r.getName());
    }
    Optional<String[]> app = applicationUser(roles, databases);
    if (app.isEmpty()) {
      return statuses.finish(endpoint, status, Outcome.stalled("NoApplicationRole", "Project " + projectName
          + " declares no role that can log in, so there is nobody to put in the connection Secret; add one to spec.roles "
          + "(e.g. {name: app, options: [LOGIN]}) and, optionally, a database it owns to spec.databases"));
    }
    String user = app.get()[0];
    String database = app.get()[1];
    String password = new String(Base64.getDecoder().decode(passwords.getData().get(user)), StandardCharsets.UTF_8);

    ComputeAgentSpec spec = ComputeSpecRendering.render(endpoint, branch, project, new ComputeSpecRendering.Placement(
        storage.pageserverUrl(), storage.safekeepers(), config.compute().port(), config.compute().httpPort(), config.compute().dataPath(),
        ComputeResources.STORAGE_TOKEN_FILE, config.storageEngine().insecureHttp(),
        certificates.enabled() ? ComputeResources.TLS_DIR + "/ca.crt" : null,
        certificates.enabled() ? ComputeResources.specTls(endpoint, config) : null));
    List<FieldError> problems = spec.problems();
    if (!problems.isEmpty()) {
      return statuses.finish(endpoint, status, Outcome.stalled("InvalidComputeSpec", problems.stream()
          .map(p -> describe(p, projectName) + " " + p.message()).collect(Collectors.joining("; "))));
    }

    KubernetesClient client = context.getClient();
    StatefulSet existing = Caches.get(context, StatefulSet.class, endpoint.getMetadata().getName(), ns).orElse(null);
    boolean onClaim = pgdataVolume.enabled() && readWrite;
    PersistentVolumeClaim claim = Caches.get(context, PersistentVolumeClaim.class, PgdataVolume.claimName(endpoint), ns)
        .orElse(null);
    List<String> taken = takenNames(endpoint, existing, onClaim, claim, client);
    if (!taken.isEmpty()) {
      status.setPhase(null);
      return statuses.finish(endpoint, status, Outcome.stalled("NameTaken", String.join(" and ", taken) + " already "
          + (taken.size() == 1 ? "exists" : "exist") + " and " + (taken.size() == 1 ? "does" : "do") + " not belong to this Endpoint; "
          + "the operator leaves " + (taken.size() == 1 ? "it" : "them") + " untouched. Rename the Endpoint, or remove "
          + (taken.size() == 1 ? "that object" : "those objects") + " if nothing needs " + (taken.size() == 1 ? "it" : "them")));
    }

    OptionalInt proxyPort = proxyPort(endpoint, status, client, context);
    if (proxyPort.isEmpty()) {
      return statuses.finish(endpoint, status, Outcome.stalled("ProxyPortsExhausted", "every port of arbor.proxy.port-range "
          + proxyPorts.range() + " (" + proxyPorts.size() + " ports) is held by another Endpoint, so this one gets no proxy "
          + "port and no Service; widen the operator's arbor.proxy.port-range, or delete Endpoints that are no longer used"));
    }
    status.setProxyPort(proxyPort.getAsInt());

    boolean manuallySuspended = Boolean.TRUE.equals(endpoint.getSpec().getSuspended());
    Duration suspendTimeout = IdleSuspend.timeout(endpoint, project);
    Duration lookAgainIn = idleSuspendOrWake(endpoint, context, existing, manuallySuspended, suspendTimeout, status);
    boolean running = !manuallySuspended && status.getSuspendedAt() == null;
    var annotations = ComputeRollouts.inputs(endpointRevision(spec, endpoint, roleKeys), passwordsHash(passwords, roleKeys));
    var inputs = new ComputeResources.Inputs(endpoint, branchName, projectName, ComputeSpecJson.toJson(spec), roleKeys,
        Projects.rolePasswordsSecret(projectName), user, password, database, running, annotations, certificates.enabled());
    status.setBranchUid(branch.getMetadata().getUid());
    status.setTimelineId(branch.getStatus().getTimelineId());
    Duration tokenRenewal = ensureStorageToken(endpoint, spec, inputs, context);
    if (certificates.enabled()) {
      Duration certificateRenewal = ensureCertificate(endpoint, inputs, context);
      tokenRenewal = certificateRenewal.compareTo(tokenRenewal) < 0 ? certificateRenewal : tokenRenewal;
      apply(client, ComputeResources.replicationService(inputs, config));
    }
    StatefulSet desired = ComputeResources.statefulSet(inputs, config, onClaim);
    ComputeRollouts.stampRevision(desired);
    boolean pending = ComputeRollouts.operatorOnlyChange(existing, desired) && !rollouts.tryStart();
    apply(client, ComputeResources.connectionSecret(inputs, config));
    apply(client, ComputeResources.service(inputs, config, proxyPort.getAsInt()));
    applySlice(client, context, ComputeResources.endpointSlice(inputs, proxyPort.getAsInt(), proxyPods.addresses()));
    if (onClaim && claim == null) {
      createClaim(client, pgdataVolume.claim(endpoint, Labels.compute(endpoint.getMetadata().getName(), branchName, projectName)));
    }
    StatefulSet sts;
    if (pending) {
      sts = existing; // nothing of the Endpoint's own changed; the operator's change waits its turn
    } else {
      if (ComputeRollouts.operatorOnlyChange(existing, desired)) {
        log.infof("event=compute_config_rollout endpoint=%s/%s", ns, endpoint.getMetadata().getName());
      }
      sts = apply(client, desired);
    }
    if (!onClaim && claim != null && controlledBy(claim, endpoint) && !mountsClaim(sts, claim)) {
      deleteClaim(client, claim);
    }

    status.setHost(ComputeResources.host(endpoint, config));
    status.setPort(config.compute().port());
    status.setConnectionSecret(ComputeResources.connectionSecretName(endpoint));
    String what = (readWrite ? "read-write" : "read-only at " + endpoint.getSpec().getLsn()) + " compute of Branch " + branchName;
    if (manuallySuspended) {
      status.setPhase(EndpointPhase.Suspended);
      return renewingToken(statuses.finish(endpoint, status, Outcome.ready("Suspended", what + " is suspended (spec.suspended: true); "
          + "client connections do not wake it")), tokenRenewal);
    }
    if (!running) {
      status.setPhase(EndpointPhase.Suspended);
      return renewingToken(statuses.finish(endpoint, status, Outcome.ready("Suspended", what + " was suspended after "
          + DurationText.format(suspendTimeout) + " without activity; a client connection wakes it")), tokenRenewal);
    }
    Optional<String> failing = context.getSecondaryResources(Pod.class).stream().map(ComputeStatus::crashLoop)
        .flatMap(Optional::stream).findFirst();
    if (failing.isPresent()) {
      status.setPhase(EndpointPhase.Failed);
      return renewingToken(statuses.finish(endpoint, status, Outcome.stalled("ComputeFailing", failing.get())), tokenRenewal);
    }
    boolean rolledOut = ComputeStatus.rolledOut(sts);
    boolean waking = status.getPhase() == EndpointPhase.Waking;
    status.setPhase(rolledOut ? EndpointPhase.Running : waking ? EndpointPhase.Waking : EndpointPhase.Starting);
    if (pending) {
      return renewingToken(statuses.finish(endpoint, status, Outcome.reconciling("ConfigRolloutPending", "the operator's configuration or "
          + "version changed the " + what + "; its restart waits its turn (at most arbor.compute.max-config-rollouts-per-minute "
          + "such restarts a minute)")).rescheduleAfter(rollouts.untilNextSlot().plusSeconds(1)), tokenRenewal);
    }
    if (rolledOut) {
      var control = statuses.finish(endpoint, status, Outcome.ready("Running", what + " is running; connect with Secret "
          + status.getConnectionSecret() + noProxyNote()));
      // Its activity is looked at on this schedule; nothing else would trigger a reconcile when it goes idle.
      return renewingToken(suspendTimeout.isZero() ? control
          : control.rescheduleAfter(lookAgainIn != null ? lookAgainIn : IdleSuspend.pollInterval(suspendTimeout)), tokenRenewal);
    }
    if (waking) {
      return renewingToken(statuses.finish(endpoint, status, Outcome.ready("Waking", what + " was woken by a client connection; "
          + "waiting for StatefulSet " + endpoint.getMetadata().getName() + " to become ready")), tokenRenewal);
    }
    if (ComputeStatus.readyReplicas(sts) >= 1) {
      return renewingToken(statuses.finish(endpoint, status, Outcome.reconciling("RollingOut", "the StatefulSet " + endpoint.getMetadata().getName()
          + " is rolling out the current template of the " + what + "; the previous pod serves until the new one is ready")), tokenRenewal);
    }
    return renewingToken(statuses.finish(endpoint, status, Outcome.reconciling("Starting", "waiting for the " + what + " (StatefulSet "
        + endpoint.getMetadata().getName() + ") to become ready")), tokenRenewal);
  }

  /**
   * The Endpoint's storage-token Secret: a {@code compute} token of its tenant and timeline only, minted again at half
   * its life (or when the grant or the signing key changed). Applied before the StatefulSet, whose pod mounts it; a new
   * token changes the Secret only, never the pod template, so the kubelet swaps the file under a running compute.
   * Returns when to mint it again.
   */
  private Duration ensureStorageToken(Endpoint endpoint, ComputeAgentSpec spec, ComputeResources.Inputs inputs,
      Context<Endpoint> context) {
    String ns = endpoint.getMetadata().getNamespace();
    String name = ComputeResources.storageTokenSecretName(endpoint);
    StorageGrant grant = TokenIssuer.computeGrant(ns, endpoint.getMetadata().getName(), spec.tenantId(), spec.timelineId());
    // The cache can lag behind the apply of a moment ago (a reconcile raised by another event); read the Secret then,
    // rather than mint a second token for nothing.
    Secret current = Caches.get(context, Secret.class, CONNECTION_SECRETS, name, ns)
        .or(() -> Optional.ofNullable(context.getClient().secrets().inNamespace(ns).withName(name).get()))
        .filter(s -> controlledBy(s, endpoint)).orElse(null);
    Instant now = Instant.now();
    Optional<Instant> renewAt = tokens.renewAt(current, grant);
    if (renewAt.isEmpty() || !now.isBefore(renewAt.get())) {
      String reason = current == null ? "missing" : renewAt.isPresent() ? "half_life" : "grant_or_key_changed";
      Secret fresh = tokens.computeTokenSecret(name, ns, Labels.compute(endpoint.getMetadata().getName(), inputs.branch(),
          inputs.project()), ComputeResources.owner(endpoint), grant);
      apply(context.getClient(), fresh);
      renewAt = tokens.renewAt(fresh, grant);
      log.infof("event=compute_token_minted endpoint=%s/%s secret=%s timeline=%s expires_at=%s reason=%s", ns,
          endpoint.getMetadata().getName(), name, spec.timelineId(), fresh.getMetadata().getAnnotations().get(TokenSecrets.EXPIRES_AT),
          reason);
    }
    Duration left = Duration.between(now, renewAt.orElseThrow());
    return left.compareTo(Duration.ofSeconds(1)) < 0 ? Duration.ofSeconds(1) : left;
  }

  /**
   * The Endpoint's certificate Secret: PostgreSQL's certificate for the name the safekeepers connect to (its replication
   * Service), issued again at two thirds of its life or when the CA changed. Applied before the StatefulSet, whose pod
   * mounts it; like the token, a new certificate changes the Secret only. Returns when to issue it again.
   */
  private Duration ensureCertificate(Endpoint endpoint, ComputeResources.Inputs inputs, Context<Endpoint> context) {
    String ns = endpoint.getMetadata().getNamespace();
    String name = ComputeResources.tlsSecretName(endpoint);
    Secret current = Caches.get(context, Secret.class, CONNECTION_SECRETS, name, ns)
        .or(() -> Optional.ofNullable(context.getClient().secrets().inNamespace(ns).withName(name).get()))
        .filter(s -> controlledBy(s, endpoint)).orElse(null);
    Secret serving = certificates.endpointSecret(current, name, ns, List.of(ComputeResources.replicationHost(endpoint, config)),
        Labels.compute(endpoint.getMetadata().getName(), inputs.branch(), inputs.project()), ComputeResources.owner(endpoint))
        .map(fresh -> apply(context.getClient(), fresh)).orElse(current);
    Duration left = Duration.between(Instant.now(), certificates.renewAt(serving));
    return left.compareTo(Duration.ofSeconds(1)) < 0 ? Duration.ofSeconds(1) : left;
  }

  /** Makes sure the next reconcile comes by the time the compute's token is due for minting again. */
  private static UpdateControl<Endpoint> renewingToken(UpdateControl<Endpoint> control, Duration renewIn) {
    long millis = renewIn.toMillis();
    Optional<Long> scheduled = control.getScheduleDelay();
    return scheduled.isPresent() && scheduled.get() <= millis ? control : control.rescheduleAfter(millis);
  }

  /**
   * The one ReadWrite Endpoint of the Branch that may run (see {@link WriterElection}). Read from the siblings
   * informer: its events are what wake a waiting Endpoint when the writer goes, so its cache has already seen that.
   */
  private Endpoint writer(Endpoint endpoint, Branch branch, Context<Endpoint> context) {
    @SuppressWarnings("unchecked")
    var siblings = (InformerEventSource<Endpoint, Endpoint>) context.eventSourceRetriever().getEventSourceFor(Endpoint.class,
        "endpoint-siblings");
    return WriterElection.writer(endpoint, siblings.list(endpoint.getMetadata().getNamespace()).toList(),
        branch.getStatus().getTimelineId(), e -> Caches.get(context, StatefulSet.class, e.getMetadata().getName(),
            e.getMetadata().getNamespace()).filter(s -> controlledBy(s, e)).isPresent());
  }

  /**
   * Suspends a running compute that has been idle for the suspend timeout, or wakes one the operator suspended when
   * a wake request came after the suspend, by recording it in the status ({@code suspendedAt}; phase Waking); the
   * StatefulSet then follows from {@code suspendedAt}, as from {@code spec.suspended}. A manual suspend clears an idle
   * one: setting {@code spec.suspended} back to false starts the compute. Returns when to look at a running compute's
   * activity again, or null when it was not looked at.
   */
  private Duration idleSuspendOrWake(Endpoint endpoint, Context<Endpoint> context, StatefulSet existing, boolean manuallySuspended,
      Duration timeout, EndpointStatus status) {
    String name = endpoint.getMetadata().getNamespace() + "/" + endpoint.getMetadata().getName();
    if (manuallySuspended) {
      status.setSuspendedAt(null);
      return null;
    }
    if (status.getSuspendedAt() != null) {
      Wakes.Decision decision = wakes.decide(endpoint, status.getSuspendedAt());
      if (decision == Wakes.Decision.WAKE) {
        log.infof("event=compute_woken endpoint=%s suspended_at=%s wake_requested_at=%s", name, status.getSuspendedAt(),
            EndpointWake.requestedAt(endpoint).orElseThrow());
      }
      if (decision != Wakes.Decision.STAY_SUSPENDED) {
        status.setSuspendedAt(null);
        status.setPhase(EndpointPhase.Waking);
      }
      return null;
    }
    wakes.settled(endpoint);
    if (timeout.isZero() || status.getPhase() != EndpointPhase.Running || !ComputeStatus.rolledOut(existing)) {
      return null;
    }
    Optional<ComputeActivity> agent = ComputeActivity.of(context.getSecondaryResources(Pod.class), name);
    if (agent.isEmpty()) {
      return IdleSuspend.pollInterval(timeout);
    }
    Optional<Instant> last = agent.get().lastActivity();
    if (last.isEmpty()) {
      return IdleSuspend.pollInterval(timeout);
    }
    status.setLastActive(IdleSuspend.lastActiveToRecord(status.getLastActive(), last.get(), timeout));
    IdleSuspend.Verdict verdict = IdleSuspend.judge(last.get(), Instant.now(), timeout);
    if (verdict.idle()) {
      last = agent.get().recheck();
      if (last.isEmpty()) {
        return IdleSuspend.pollInterval(timeout);
      }
      status.setLastActive(last.get().truncatedTo(ChronoUnit.SECONDS).toString());
      verdict = IdleSuspend.judge(last.get(), Instant.now(), timeout);
    }
    if (!verdict.idle()) {
      return verdict.lookAgainIn();
    }
    Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    log.infof("event=compute_idle_suspended endpoint=%s last_activity=%s suspend_timeout=%s", name, last.get(),
        DurationText.format(timeout));
    status.setSuspendedAt(now.toString());
    return null;
  }

  /**
   * The Endpoint's proxy port (see {@link ProxyPorts}). Taken are the ports the Endpoints' statuses record and those of
   * the operator's EndpointSlices (a status that lost its port still has its slice); a status that lost it takes it
   * back from its slice, or from the Service the operator made, whose target port it is.
   */
  private OptionalInt proxyPort(Endpoint endpoint, EndpointStatus status, KubernetesClient client, Context<Endpoint> context) {
    @SuppressWarnings("unchecked")
    var slices = (InformerEventSource<EndpointSlice, Endpoint>) context.eventSourceRetriever().getEventSourceFor(EndpointSlice.class);
    List<ProxyPorts.Claim> claims = new ArrayList<>();
    allEndpoints.list().forEach(e -> claims.add(new ProxyPorts.Claim(e.getMetadata().getUid(),
        e.getStatus() == null ? null : e.getStatus().getProxyPort())));
    slices.list(s -> true).forEach(s -> s.getMetadata().getOwnerReferences().stream().filter(r -> Boolean.TRUE.equals(r.getController()))
        .findFirst().ifPresent(r -> claims.add(new ProxyPorts.Claim(r.getUid(), slicePort(s)))));
    Integer adoptable = null;
    if (status.getProxyPort() == null) {
      adoptable = slices.get(new ResourceID(ComputeResources.serviceName(endpoint), endpoint.getMetadata().getNamespace()))
          .filter(s -> controlledBy(s, endpoint)).map(EndpointReconciler::slicePort).orElse(null);
      Service service = adoptable != null ? null : client.services().inNamespace(endpoint.getMetadata().getNamespace())
          .withName(ComputeResources.serviceName(endpoint)).get();
      if (service != null && controlledBy(service, endpoint)) {
        adoptable = service.getSpec().getPorts().stream().map(p -> p.getTargetPort())
            .filter(t -> t != null && t.getIntVal() != null).map(t -> t.getIntVal()).findFirst().orElse(null);
      }
    }
    OptionalInt port = proxyPorts.assign(endpoint.getMetadata().getUid(), status.getProxyPort(), adoptable, claims);
    if (port.isPresent() && !Integer.valueOf(port.getAsInt()).equals(status.getProxyPort())) {
      log.infof("event=proxy_port_assigned endpoint=%s/%s port=%d previous=%s adopted=%s", endpoint.getMetadata().getNamespace(),
          endpoint.getMetadata().getName(), port.getAsInt(), status.getProxyPort(), Integer.valueOf(port.getAsInt()).equals(adoptable));
    }
    return port;
  }

  private static Integer slicePort(EndpointSlice slice) {
    return slice.getPorts() == null ? null : slice.getPorts().stream().map(p -> p.getPort()).filter(Objects::nonNull).findFirst()
        .orElse(null);
  }

  /** Writes the EndpointSlice unless the cache shows it as desired already (most reconciles change nothing). */
  private static void applySlice(KubernetesClient client, Context<Endpoint> context, EndpointSlice desired) {
    Optional<EndpointSlice> cached = Caches.get(context, EndpointSlice.class, desired.getMetadata().getName(),
        desired.getMetadata().getNamespace());
    // The API server leaves out an empty endpoints list.
    boolean same = cached.isPresent() && Objects.equals(Objects.requireNonNullElse(cached.get().getEndpoints(), List.of()),
        Objects.requireNonNullElse(desired.getEndpoints(), List.of()))
        && Objects.equals(cached.get().getPorts(), desired.getPorts())
        && cached.get().getMetadata().getLabels().entrySet().containsAll(desired.getMetadata().getLabels().entrySet())
        && cached.get().getMetadata().getOwnerReferences().equals(desired.getMetadata().getOwnerReferences());
    if (!same) {
      apply(client, desired);
    }
  }

  /** Said in a running Endpoint's Ready message while no proxy pod is ready: the compute runs, but nobody reaches it. */
  private String noProxyNote() {
    ProxyPods proxies = proxyPods;
    return proxies.addresses().ready() > 0 ? "" : " (no arbor-proxy pod is ready in namespace " + proxies.namespace()
        + ", so clients cannot connect through the Service yet)";
  }

  /**
   * The compute's objects whose names exist already without being this Endpoint's: a forced apply would take
   * them over (and garbage collection would delete them with the Endpoint), so nothing is applied then.
   */
  private static List<String> takenNames(Endpoint endpoint, StatefulSet cached, boolean onClaim, PersistentVolumeClaim cachedClaim,
      KubernetesClient client) {
    String ns = endpoint.getMetadata().getNamespace();
    String name = endpoint.getMetadata().getName();
    // The StatefulSet and claim informers see only the operator's labels; a foreign one is found by a GET.
    StatefulSet sts = cached != null ? cached : client.apps().statefulSets().inNamespace(ns).withName(name).get();
    Service service = client.services().inNamespace(ns).withName(ComputeResources.serviceName(endpoint)).get();
    Secret secret = client.secrets().inNamespace(ns).withName(ComputeResources.connectionSecretName(endpoint)).get();
    Secret tokenSecret = client.secrets().inNamespace(ns).withName(ComputeResources.storageTokenSecretName(endpoint)).get();
    Secret tlsSecret = client.secrets().inNamespace(ns).withName(ComputeResources.tlsSecretName(endpoint)).get();
    Service replication = client.services().inNamespace(ns).withName(ComputeResources.replicationServiceName(endpoint)).get();
    // The claim's name matters only while the Endpoint wants one.
    PersistentVolumeClaim claim = !onClaim ? null : cachedClaim != null ? cachedClaim
        : client.persistentVolumeClaims().inNamespace(ns).withName(PgdataVolume.claimName(endpoint)).get();
    List<String> taken = new ArrayList<>();
    for (HasMetadata o : new HasMetadata[] {sts, service, secret, tokenSecret, tlsSecret, replication, claim}) {
      if (o != null && !controlledBy(o, endpoint)) {
        taken.add(o.getKind() + " " + o.getMetadata().getName());
      }
    }
    return taken;
  }

  /**
   * Creates the Endpoint's PGDATA claim. Created, not applied: its spec is immutable but for a larger size, so a claim
   * that exists keeps the class and size it was made with. A create that races the cache finds it there (409).
   */
  private static void createClaim(KubernetesClient client, PersistentVolumeClaim desired) {
    try {
      client.resource(desired).create();
      log.infof("event=pgdata_claim_created claim=%s/%s storage_class=%s size=%s", desired.getMetadata().getNamespace(),
          desired.getMetadata().getName(), desired.getSpec().getStorageClassName(),
          desired.getSpec().getResources().getRequests().get("storage"));
    } catch (KubernetesClientException e) {
      if (e.getCode() != 409) {
        throw e;
      }
    }
  }

  /**
   * Deletes a claim the Endpoint no longer wants (the setting was turned off). Only once the applied template no
   * longer names it; a pod that still mounts it keeps it until that pod is gone (Kubernetes' pvc-protection).
   */
  private static void deleteClaim(KubernetesClient client, PersistentVolumeClaim claim) {
    if (claim.getMetadata().getDeletionTimestamp() != null) {
      return;
    }
    client.persistentVolumeClaims().inNamespace(claim.getMetadata().getNamespace()).withName(claim.getMetadata().getName()).delete();
    log.infof("event=pgdata_claim_deleted claim=%s/%s reason=not_wanted", claim.getMetadata().getNamespace(),
        claim.getMetadata().getName());
  }

  private static boolean mountsClaim(StatefulSet sts, PersistentVolumeClaim claim) {
    return sts != null && sts.getSpec().getTemplate().getSpec().getVolumes().stream()
        .anyMatch(v -> v.getPersistentVolumeClaim() != null && claim.getMetadata().getName().equals(v.getPersistentVolumeClaim().getClaimName()));
  }

  private static boolean controlledBy(HasMetadata o, Endpoint owner) {
    return o.getMetadata().getOwnerReferences().stream()
        .anyMatch(r -> Boolean.TRUE.equals(r.getController()) && owner.getMetadata().getUid().equals(r.getUid()));
  }

  /** The Endpoint's own part of the compute: its spec as rendered, without what the operator's configuration adds. */
  private static String endpointRevision(ComputeAgentSpec spec, Endpoint endpoint, Map<String, String> roleKeys) {
    var own = new ComputeAgentSpec(spec.formatVersion(), spec.tenantId(), spec.timelineId(), spec.mode(), spec.lsn(), null, null,
        spec.postgresVersion(), null, null, null, null, spec.parameters(), spec.roles(), spec.databases(), spec.suspendTimeout(),
        null, null, null, null);
    return ComputeRollouts.hash(ComputeSpecJson.toJson(own) + "\n" + Serialization.asJson(endpoint.getSpec().getResources()) + "\n" + roleKeys);
  }

  /** A hash of the passwords the compute sets, so that a changed one changes the pod template. */
  private static String passwordsHash(Secret passwords, Map<String, String> roleKeys) {
    StringBuilder text = new StringBuilder();
    roleKeys.forEach((role, key) -> text.append(role).append('=').append(passwords.getData().get(key)).append('\n'));
    return ComputeRollouts.hash(text.toString());
  }

  @Override
  public ErrorStatusUpdateControl<Endpoint> updateErrorStatus(Endpoint endpoint, Context<Endpoint> context, Exception e) {
    EndpointStatus status = StatusUpdates.copy(endpoint.getStatus(), EndpointStatus::new);
    var control = statuses.finish(endpoint, status, statuses.failure(endpoint, e));
    return control.isPatchStatus() ? ErrorStatusUpdateControl.patchStatus(endpoint) : ErrorStatusUpdateControl.noStatusUpdate();
  }

  /**
   * The user and database of the connection Secret: the owner of the first database that has one, else the
   * first role that can log in (database postgres).
   */
  static Optional<String[]> applicationUser(List<Role> roles, List<Database> databases) {
    for (Database d : databases) {
      if (d.getOwner() != null && roles.stream().anyMatch(r -> r.getName().equals(d.getOwner()) && ComputeSpecRendering.canLogin(r))) {
        return Optional.of(new String[] {d.getOwner(), d.getName()});
      }
    }
    return roles.stream().filter(ComputeSpecRendering::canLogin).findFirst().map(r -> new String[] {r.getName(), "postgres"});
  }

  /** Maps a compute spec field back to the manifest field a person edits. */
  private static String describe(FieldError p, String project) {
    String f = p.field();
    if (f.startsWith("parameters.")) {
      return "spec.postgresParameters." + f.substring("parameters.".length());
    }
    if (f.startsWith("roles") || f.startsWith("databases")) {
      return "Project " + project + " spec." + f;
    }
    if (f.equals("suspend_timeout")) {
      return "spec.suspendTimeout";
    }
    return "operator configuration (compute spec field " + f + ")";
  }

  /** A second ReadWrite Endpoint must not run a compute, even one it ran before it lost the race. */
  private void removeCompute(Endpoint endpoint, KubernetesClient client) {
    String ns = endpoint.getMetadata().getNamespace();
    var sts = client.apps().statefulSets().inNamespace(ns).withName(endpoint.getMetadata().getName());
    StatefulSet existing = sts.get();
    if (existing != null && existing.getMetadata().getOwnerReferences().stream()
        .anyMatch(o -> endpoint.getMetadata().getUid().equals(o.getUid()))) {
      sts.delete();
      log.infof("event=compute_removed endpoint=%s/%s reason=read_write_conflict", ns, endpoint.getMetadata().getName());
      events.warning(endpoint, "ComputeRemoved", "Removed StatefulSet " + endpoint.getMetadata().getName()
          + ": the Branch has another read-write Endpoint");
    }
  }

  /** Scales the Endpoint's own StatefulSet to zero, leaving its template (and so the timeline it names) as it is. */
  private void stopCompute(Endpoint endpoint, KubernetesClient client) {
    String ns = endpoint.getMetadata().getNamespace();
    var sts = client.apps().statefulSets().inNamespace(ns).withName(endpoint.getMetadata().getName());
    StatefulSet existing = sts.get();
    if (existing != null && controlledBy(existing, endpoint) && !Integer.valueOf(0).equals(existing.getSpec().getReplicas())) {
      sts.patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"replicas\":0}}");
      log.infof("event=compute_stopped endpoint=%s/%s reason=branch_replaced", ns, endpoint.getMetadata().getName());
    }
  }

  private static <T extends HasMetadata> T apply(KubernetesClient client, T desired) {
    return client.resource(desired).fieldManager(FIELD_MANAGER).forceConflicts().serverSideApply();
  }
}

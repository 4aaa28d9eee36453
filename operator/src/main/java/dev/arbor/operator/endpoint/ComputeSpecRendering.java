package dev.arbor.operator.endpoint;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Database;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointMode;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.crds.v1alpha1.Role;
import dev.arbor.crds.v1alpha1.RoleOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The compute spec of an Endpoint, rendered from the Endpoint, its Branch (the timeline), the Branch's Project
 * (tenant, PostgreSQL version, roles, databases) and what the operator's configuration places around every
 * compute. Nothing else is read: the same inputs give the same spec. Passwords are never in it; each role's
 * comes from an environment variable fed by the Project's password Secret.
 */
final class ComputeSpecRendering {
  private ComputeSpecRendering() {}

  /**
   * What the operator adds to every spec: where the storage engine is, the pod's ports, the mount of its
   * scratch volume (the compute's work_dir is {@code compute} below it), the file its storage token is mounted at, and
   * with TLS the CA bundle the storage engine is trusted from and PostgreSQL's certificate (null without TLS).
   */
  record Placement(String pageserverUrl, Map<String, String> safekeepers, int port, int httpPort, String dataPath,
      String storageTokenFile, boolean insecureHttp, String storageCaFile, ComputeAgentSpec.Tls tls) {
    /** Without TLS. */
    Placement(String pageserverUrl, Map<String, String> safekeepers, int port, int httpPort, String dataPath, String storageTokenFile,
        boolean insecureHttp) {
      this(pageserverUrl, safekeepers, port, httpPort, dataPath, storageTokenFile, insecureHttp, null, null);
    }
  }

  /** Assumes what the reconciler checked first: the Branch has a timeline, the Project a tenant and version. */
  static ComputeAgentSpec render(Endpoint endpoint, Branch branch, Project project, Placement placement) {
    boolean readWrite = readWrite(endpoint);
    List<ComputeAgentSpec.Role> specRoles = roles(project).stream().map(r -> {
      Set<RoleOption> o = r.getOptions() == null ? Set.of() : Set.copyOf(r.getOptions());
      return new ComputeAgentSpec.Role(r.getName(), null, ComputeResources.passwordEnv(r.getName()),
          canLogin(r), o.contains(RoleOption.CREATEDB), o.contains(RoleOption.CREATEROLE));
    }).toList();
    List<ComputeAgentSpec.Database> specDatabases = databases(project).stream()
        .map(d -> new ComputeAgentSpec.Database(d.getName(), d.getOwner())).toList();
    Duration suspend = IdleSuspend.configured(endpoint, project).orElse(null);
    return new ComputeAgentSpec(ComputeAgentSpec.FORMAT_VERSION,
        new TenantId(project.getStatus().getTenantId()),
        new TimelineId(branch.getStatus().getTimelineId()),
        readWrite ? ComputeAgentSpec.Mode.READ_WRITE : ComputeAgentSpec.Mode.READ_ONLY,
        readWrite ? null : Lsn.parse(endpoint.getSpec().getLsn()),
        placement.pageserverUrl(),
        readWrite ? placement.safekeepers() : Map.of(),
        project.getStatus().getPostgresVersion(),
        ComputeResources.POD_IP,
        placement.port(),
        placement.httpPort(),
        Path.of(placement.dataPath(), "compute"),
        endpoint.getSpec().getPostgresParameters(),
        specRoles,
        specDatabases,
        suspend,
        placement.storageTokenFile(),
        placement.storageCaFile(),
        placement.insecureHttp() ? Boolean.TRUE : null,
        placement.tls());
  }

  static boolean readWrite(Endpoint endpoint) {
    return endpoint.getSpec().getMode() != EndpointMode.ReadOnly;
  }

  static List<Role> roles(Project project) {
    return project.getSpec() == null || project.getSpec().getRoles() == null ? List.of() : project.getSpec().getRoles();
  }

  static List<Database> databases(Project project) {
    return project.getSpec() == null || project.getSpec().getDatabases() == null ? List.of() : project.getSpec().getDatabases();
  }

  /** As in CREATE ROLE: a role logs in only with LOGIN. */
  static boolean canLogin(Role r) {
    return r.getOptions() != null && r.getOptions().contains(RoleOption.LOGIN);
  }
}

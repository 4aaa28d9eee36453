package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.List;

// Roles and databases are list maps keyed by name: a duplicate name is refused, and two server-side-apply
// managers (a platform team's roles, an application team's database) can each own their entries.
@SchemaCustomizer(value = ListMapsByName.class, input = "roles,databases")
@ValidationRule(value = "!has(self.databases) || self.databases.all(d, has(self.roles) && self.roles.exists(r, r.name == d.owner))",
    fieldPath = ".databases", reason = "FieldValueInvalid",
    message = "spec.databases[].owner must be one of spec.roles[].name: add the role to spec.roles or change the owner")
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ProjectSpec {

  // The major version decides the on-disk format of every timeline of the project; changing it would need
  // pg_upgrade, which Arbor does not do. No schema default: the version an installation runs is the operator's
  // (its compute image), so the operator resolves an absent value and records it in status.postgresVersion.
  @JsonPropertyDescription("PostgreSQL major version of every compute of the project. The schema accepts 15 to 17, but only the majors the installation's compute image carries can run (the operator's arbor.postgres.available-versions; another is Stalled with reason PostgresVersionUnavailable). Default: the operator's configured version (status.postgresVersion shows the one in use). Cannot be changed after creation.")
  @Min(15)
  @Max(17)
  @ValidationRule(value = "self == oldSelf", message = "spec.postgresVersion is immutable: create a new Project to use another PostgreSQL major version")
  private Integer postgresVersion;

  @JsonPropertyDescription("How far back branches are to be created from and read at (parentTimestamp, parentLsn, read-only endpoints at an LSN), e.g. 7d or 36h. Recorded but not acted on yet (issue 18): the storage engine keeps all history.")
  @Pattern(Formats.DURATION)
  @Default("7d")
  private String historyRetention;

  @JsonPropertyDescription("Name of the root branch; the operator creates the Branch object <project>-<defaultBranch> for it.")
  @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
  @Default("main")
  @ValidationRule(value = "self == oldSelf", message = "spec.defaultBranch is immutable: the root Branch already exists under its name")
  private String defaultBranch;

  @JsonPropertyDescription("What deleting the Project does to its tenant in the storage engine: Delete (the tenant and all its timelines are deleted) or Retain (they are kept; adopt them again with the arbor.dev/tenant-id annotation).")
  @Default("Delete")
  private DeletionPolicy deletionPolicy;

  @JsonPropertyDescription("Defaults for the Endpoints of the project's Branches, used where an Endpoint leaves the field out.")
  private EndpointDefaults endpointDefaults;

  @JsonPropertyDescription("PostgreSQL roles every compute of the project has, created if missing. Names are unique (a list map keyed by name).")
  @Size(max = 100)
  private List<Role> roles = new ArrayList<>();

  @JsonPropertyDescription("Databases every compute of the project has, created if missing. Names are unique (a list map keyed by name); each owner is one of roles.")
  @Size(max = 100)
  private List<Database> databases = new ArrayList<>();

  public Integer getPostgresVersion() { return postgresVersion; }
  public void setPostgresVersion(Integer postgresVersion) { this.postgresVersion = postgresVersion; }
  public String getHistoryRetention() { return historyRetention; }
  public void setHistoryRetention(String historyRetention) { this.historyRetention = historyRetention; }
  public String getDefaultBranch() { return defaultBranch; }
  public void setDefaultBranch(String defaultBranch) { this.defaultBranch = defaultBranch; }
  public DeletionPolicy getDeletionPolicy() { return deletionPolicy; }
  public void setDeletionPolicy(DeletionPolicy deletionPolicy) { this.deletionPolicy = deletionPolicy; }
  public EndpointDefaults getEndpointDefaults() { return endpointDefaults; }
  public void setEndpointDefaults(EndpointDefaults endpointDefaults) { this.endpointDefaults = endpointDefaults; }
  public List<Role> getRoles() { return roles; }
  public void setRoles(List<Role> roles) { this.roles = roles; }
  public List<Database> getDatabases() { return databases; }
  public void setDatabases(List<Database> databases) { this.databases = databases; }
}

package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class ProjectSpec {

  // The major version decides the on-disk format of every timeline of the project; changing it would need
  // pg_upgrade, which Arbor does not do. No schema default: the version an installation runs is the operator's
  // (its compute image), so the operator resolves an absent value and records it in status.postgresVersion.
  @JsonPropertyDescription("PostgreSQL major version of every compute of the project: 15, 16 or 17. Default: the operator's configured version (status.postgresVersion shows the one in use). Cannot be changed after creation.")
  @Min(15)
  @Max(17)
  @ValidationRule(value = "self == oldSelf", message = "spec.postgresVersion is immutable: create a new Project to use another PostgreSQL major version")
  private Integer postgresVersion;

  @JsonPropertyDescription("How far back branches can be created from and read at (parentTimestamp, parentLsn, read-only endpoints at an LSN), e.g. 7d or 36h.")
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

  @JsonPropertyDescription("PostgreSQL roles every compute of the project has, created if missing.")
  private List<Role> roles = new ArrayList<>();

  @JsonPropertyDescription("Databases every compute of the project has, created if missing.")
  private List<Database> databases = new ArrayList<>();

  public Integer getPostgresVersion() { return postgresVersion; }
  public void setPostgresVersion(Integer postgresVersion) { this.postgresVersion = postgresVersion; }
  public String getHistoryRetention() { return historyRetention; }
  public void setHistoryRetention(String historyRetention) { this.historyRetention = historyRetention; }
  public String getDefaultBranch() { return defaultBranch; }
  public void setDefaultBranch(String defaultBranch) { this.defaultBranch = defaultBranch; }
  public DeletionPolicy getDeletionPolicy() { return deletionPolicy; }
  public void setDeletionPolicy(DeletionPolicy deletionPolicy) { this.deletionPolicy = deletionPolicy; }
  public List<Role> getRoles() { return roles; }
  public void setRoles(List<Role> roles) { this.roles = roles; }
  public List<Database> getDatabases() { return databases; }
  public void setDatabases(List<Database> databases) { this.databases = databases; }
}

package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class ProjectStatus extends ArborStatus {

  @JsonPropertyDescription("Id of the tenant in the storage engine (32 hex digits), set once the tenant exists.")
  private String tenantId;

  @JsonPropertyDescription("PostgreSQL major version the tenant was created with: spec.postgresVersion, or the operator's default when the spec leaves it out. Fixed once set.")
  private Integer postgresVersion;

  @JsonPropertyDescription("Name of the Secret with the generated role passwords, set once the operator created it. From then on a missing Secret is Stalled RolePasswordsLost instead of silently new passwords.")
  private String rolePasswordsSecret;

  public String getRolePasswordsSecret() { return rolePasswordsSecret; }
  public void setRolePasswordsSecret(String rolePasswordsSecret) { this.rolePasswordsSecret = rolePasswordsSecret; }
  public String getTenantId() { return tenantId; }
  public Integer getPostgresVersion() { return postgresVersion; }
  public void setPostgresVersion(Integer postgresVersion) { this.postgresVersion = postgresVersion; }
  public void setTenantId(String tenantId) { this.tenantId = tenantId; }
}

package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class ProjectStatus extends ArborStatus {

  @JsonPropertyDescription("Id of the tenant in the storage engine (32 hex digits), set once the tenant exists.")
  private String tenantId;

  public String getTenantId() { return tenantId; }
  public void setTenantId(String tenantId) { this.tenantId = tenantId; }
}

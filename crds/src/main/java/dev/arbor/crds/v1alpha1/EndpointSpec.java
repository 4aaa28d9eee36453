package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import java.util.LinkedHashMap;
import java.util.Map;

// A read-write compute always writes at the head of its Branch; an LSN only makes sense for a read-only
// snapshot. mode has a default, so after defaulting it is always present when this rule runs.
@ValidationRule(value = "!has(self.lsn) || self.mode == 'ReadOnly'",
    fieldPath = ".lsn",
    message = "spec.lsn is only allowed with spec.mode ReadOnly: set mode: ReadOnly for a snapshot at that LSN, or remove lsn")
@JsonInclude(JsonInclude.Include.NON_NULL)
public class EndpointSpec {

  @JsonPropertyDescription("Name of the Branch (same namespace) this Endpoint serves. Immutable.")
  @Required
  @Pattern("^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
  @ValidationRule(value = "self == oldSelf",
      message = "spec.branchRef is immutable: an Endpoint serves the Branch it was created for; delete and re-create the Endpoint to serve another")
  private String branchRef;

  @JsonPropertyDescription("ReadWrite (the one writer of the Branch) or ReadOnly with lsn (a static snapshot; a replica that follows the Branch is not supported yet). Immutable.")
  @Default("ReadWrite")
  @ValidationRule(value = "self == oldSelf",
      message = "spec.mode is immutable: delete and re-create the Endpoint to change between ReadWrite and ReadOnly")
  private EndpointMode mode;

  @JsonPropertyDescription("For mode ReadOnly only: serve the Branch as it was at this LSN (time travel), e.g. 0/16B5A50.")
  @Pattern(Formats.LSN)
  private String lsn;

  @JsonPropertyDescription("CPU and memory requests and limits of the compute container.")
  private ResourceRequirements resources;

  @JsonPropertyDescription("PostgreSQL settings for this compute (postgresql.conf names and values), e.g. work_mem: 64MB. Only the parameters of the compute agent's allowlist (docs/compute-agent.md, Parameters: performance, planner, memory, locale, timeouts, autovacuum, logging without statement text); any other makes the Endpoint Stalled with reason InvalidComputeSpec.")
  private Map<String, String> postgresParameters = new LinkedHashMap<>();

  @JsonPropertyDescription("Idle time after which the operator suspends the compute (scales it to zero; phase Suspended), e.g. 30s, 5m or 1h; 0 or 0s: never. Idle means the compute agent saw no client activity for that long; each activity restarts the clock. A client connection wakes an Endpoint suspended this way (through the proxy's arbor.dev/wake-requested-at annotation). Absent: the Project's spec.endpointDefaults.suspendTimeout, and never when that is absent too.")
  @Pattern(Formats.DURATION_OR_ZERO)
  private String suspendTimeout;

  @JsonPropertyDescription("When true the compute is stopped (its StatefulSet scaled to zero) and the Endpoint reports Ready with reason Suspended; client connections do not wake it. Set back to false to start it again.")
  @Default("false")
  private Boolean suspended;

  public Boolean getSuspended() { return suspended; }
  public void setSuspended(Boolean suspended) { this.suspended = suspended; }
  public String getBranchRef() { return branchRef; }
  public void setBranchRef(String branchRef) { this.branchRef = branchRef; }
  public EndpointMode getMode() { return mode; }
  public void setMode(EndpointMode mode) { this.mode = mode; }
  public String getLsn() { return lsn; }
  public void setLsn(String lsn) { this.lsn = lsn; }
  public ResourceRequirements getResources() { return resources; }
  public void setResources(ResourceRequirements resources) { this.resources = resources; }
  public Map<String, String> getPostgresParameters() { return postgresParameters; }
  public void setPostgresParameters(Map<String, String> postgresParameters) { this.postgresParameters = postgresParameters; }
  public String getSuspendTimeout() { return suspendTimeout; }
  public void setSuspendTimeout(String suspendTimeout) { this.suspendTimeout = suspendTimeout; }
}

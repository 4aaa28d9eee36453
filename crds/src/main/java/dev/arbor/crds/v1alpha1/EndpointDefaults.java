package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;

/** What a Project gives the Endpoints of its Branches when they leave a field out. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class EndpointDefaults {

  @JsonPropertyDescription("Suspend timeout of every Endpoint of the project that sets no spec.suspendTimeout, e.g. 5m; 0 or 0s, or absent: never suspend.")
  @Pattern(Formats.DURATION_OR_ZERO)
  private String suspendTimeout;

  public String getSuspendTimeout() { return suspendTimeout; }
  public void setSuspendTimeout(String suspendTimeout) { this.suspendTimeout = suspendTimeout; }
}

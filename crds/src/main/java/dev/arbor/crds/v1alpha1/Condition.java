package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crd.generator.annotation.SchemaFrom;
import io.fabric8.generator.annotation.Pattern;
import java.util.Objects;

/**
 * A condition in the shape of Kubernetes' {@code metav1.Condition}, so that {@code kubectl wait
 * --for=condition=Ready} and kstatus (Flux) read Arbor objects without custom code. Argo CD does not: it
 * reads no conditions of a kind it does not know, and Arbor ships no health check for it yet (issue 17).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Condition {

  /** The object serves what its spec asks for. A suspended Endpoint is Ready with reason {@code Suspended}. */
  public static final String READY = "Ready";
  /** The operator is working towards the spec (kstatus). */
  public static final String RECONCILING = "Reconciling";
  /** The operator cannot make progress without a change by a person; the message says which (kstatus). */
  public static final String STALLED = "Stalled";

  @JsonPropertyDescription("Type of the condition: Ready, Reconciling or Stalled.")
  private String type;

  @JsonPropertyDescription("Status of the condition: True, False or Unknown.")
  @SchemaFrom(type = Values.class)
  private String status;

  @JsonPropertyDescription("Machine-readable reason for the last transition, in CamelCase (e.g. ParentNotReady, Suspended).")
  private String reason;

  @JsonPropertyDescription("What happened and, when the condition asks for it, what a person can do about it.")
  private String message;

  @JsonPropertyDescription("When the status of the condition last changed (RFC 3339).")
  @Pattern(Formats.RFC3339_TIME)
  private String lastTransitionTime;

  @JsonPropertyDescription("The metadata.generation the condition was computed from.")
  private Long observedGeneration;

  /** The values of {@code status} as in {@code metav1.Condition}: the schema's enum (the field stays a string). */
  public enum Values { True, False, Unknown }

  public Condition() {}

  public Condition(String type, String status, String reason, String message, String lastTransitionTime, Long observedGeneration) {
    this.type = type;
    this.status = status;
    this.reason = reason;
    this.message = message;
    this.lastTransitionTime = lastTransitionTime;
    this.observedGeneration = observedGeneration;
  }

  public String getType() { return type; }
  public void setType(String type) { this.type = type; }
  public String getStatus() { return status; }
  public void setStatus(String status) { this.status = status; }
  public String getReason() { return reason; }
  public void setReason(String reason) { this.reason = reason; }
  public String getMessage() { return message; }
  public void setMessage(String message) { this.message = message; }
  public String getLastTransitionTime() { return lastTransitionTime; }
  public void setLastTransitionTime(String lastTransitionTime) { this.lastTransitionTime = lastTransitionTime; }
  public Long getObservedGeneration() { return observedGeneration; }
  public void setObservedGeneration(Long observedGeneration) { this.observedGeneration = observedGeneration; }

  @Override
  public boolean equals(Object o) {
    return o instanceof Condition c && Objects.equals(type, c.type) && Objects.equals(status, c.status)
        && Objects.equals(reason, c.reason) && Objects.equals(message, c.message)
        && Objects.equals(lastTransitionTime, c.lastTransitionTime) && Objects.equals(observedGeneration, c.observedGeneration);
  }

  @Override
  public int hashCode() {
    return Objects.hash(type, status, reason, message, lastTransitionTime, observedGeneration);
  }

  @Override
  public String toString() {
    return type + "=" + status + " (" + reason + ": " + message + ")";
  }
}

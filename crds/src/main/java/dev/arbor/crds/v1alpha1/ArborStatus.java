package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;

/** What every Arbor status carries: the generation it reflects and kstatus-style conditions. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public abstract class ArborStatus {

  @JsonPropertyDescription("The metadata.generation the operator last reconciled; the status is current when it equals metadata.generation.")
  private Long observedGeneration;

  @JsonPropertyDescription("Ready, Reconciling and Stalled conditions (kstatus), each with a reason and a message a person can act on.")
  private List<Condition> conditions = new ArrayList<>();

  public Long getObservedGeneration() { return observedGeneration; }
  public void setObservedGeneration(Long observedGeneration) { this.observedGeneration = observedGeneration; }
  public List<Condition> getConditions() { return conditions; }
  public void setConditions(List<Condition> conditions) { this.conditions = conditions; }
}

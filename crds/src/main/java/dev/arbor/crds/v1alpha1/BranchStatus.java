package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class BranchStatus extends ArborStatus {

  @JsonPropertyDescription("Id of the timeline in the storage engine (32 hex digits), set once the timeline exists.")
  private String timelineId;

  @JsonPropertyDescription("The resolved branch point: the LSN of the parent this Branch starts from (from parentLsn, or the parent's head at creation).")
  private String lsn;

  @JsonPropertyDescription("The last LSN written on this Branch as the storage engine last reported it.")
  private String headLsn;

  @JsonPropertyDescription("Logical size of the Branch's databases in bytes. Not set yet: the storage engine does not report sizes.")
  private Long logicalSizeBytes;

  public String getTimelineId() { return timelineId; }
  public void setTimelineId(String timelineId) { this.timelineId = timelineId; }
  public String getLsn() { return lsn; }
  public void setLsn(String lsn) { this.lsn = lsn; }
  public String getHeadLsn() { return headLsn; }
  public void setHeadLsn(String headLsn) { this.headLsn = headLsn; }
  public Long getLogicalSizeBytes() { return logicalSizeBytes; }
  public void setLogicalSizeBytes(Long logicalSizeBytes) { this.logicalSizeBytes = logicalSizeBytes; }
}

package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonFormat;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;

// The ancestry of a Branch (project, parent, branch point) is fixed once its timeline exists: the storage
// engine cannot re-parent a timeline. The rules sit on the spec rather than on each field because a field rule
// with oldSelf runs only when the field is present in both versions, so adding or removing an optional
// ancestry field would slip through; comparing has() on the spec closes that gap.
@ValidationRule(value = "self.projectRef == oldSelf.projectRef",
    fieldPath = ".projectRef", reason = "FieldValueInvalid",
    message = "spec.projectRef is immutable: a Branch cannot move to another Project; create a new Branch instead")
@ValidationRule(value = "has(self.parent) == has(oldSelf.parent) && (!has(self.parent) || self.parent == oldSelf.parent)",
    fieldPath = ".parent", reason = "FieldValueInvalid",
    message = "spec.parent is immutable: a Branch cannot be re-parented; create a new Branch from the other parent instead")
@ValidationRule(value = "has(self.parentLsn) == has(oldSelf.parentLsn) && (!has(self.parentLsn) || self.parentLsn == oldSelf.parentLsn)",
    fieldPath = ".parentLsn", reason = "FieldValueInvalid",
    message = "spec.parentLsn is immutable: the branch point is fixed at creation; create a new Branch at the other LSN instead")
@ValidationRule(value = "has(self.parentTimestamp) == has(oldSelf.parentTimestamp) && (!has(self.parentTimestamp) || self.parentTimestamp == oldSelf.parentTimestamp)",
    fieldPath = ".parentTimestamp", reason = "FieldValueInvalid",
    message = "spec.parentTimestamp is immutable: the branch point is fixed at creation; create a new Branch at the other time instead")
@ValidationRule(value = "!(has(self.parentLsn) && has(self.parentTimestamp))",
    fieldPath = ".parentTimestamp",
    message = "spec.parentLsn and spec.parentTimestamp are mutually exclusive: set at most one of them as the branch point")
@ValidationRule(value = "!(has(self.expiresAt) && has(self.ttl))",
    fieldPath = ".ttl",
    message = "spec.expiresAt and spec.ttl are mutually exclusive: set an absolute expiry or a time to live, not both")
@JsonInclude(JsonInclude.Include.NON_NULL)
public class BranchSpec {

  @JsonPropertyDescription("Name of the Project (in the same namespace) this Branch belongs to. Immutable.")
  @Required
  @Pattern("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
  private String projectRef;

  @JsonPropertyDescription("Name of the parent Branch (same namespace, same Project). Default: the Project's root branch. Immutable.")
  @Pattern("^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
  private String parent;

  @JsonPropertyDescription("Branch point as a PostgreSQL LSN of the parent, e.g. 0/16B5A50. Default: the parent's head at creation. Excludes parentTimestamp. Immutable.")
  @Pattern(Formats.LSN)
  private String parentLsn;

  @JsonPropertyDescription("Branch point as a time (RFC 3339, e.g. 2026-11-29T10:00:00Z). Not supported yet: the storage engine does not resolve a time to an LSN (Arbor issue 18), so the operator refuses such a Branch (Stalled, reason ParentTimestampNotSupported) and creates no timeline; use parentLsn. Excludes parentLsn. Immutable.")
  @JsonFormat(shape = JsonFormat.Shape.STRING)
  private java.time.OffsetDateTime parentTimestamp;

  @JsonPropertyDescription("When the operator deletes this ephemeral Branch (RFC 3339). Excludes ttl.")
  private java.time.OffsetDateTime expiresAt;

  @JsonPropertyDescription("How long after creation the operator deletes this ephemeral Branch, e.g. 12h or 7d. Excludes expiresAt.")
  @Pattern(Formats.DURATION)
  private String ttl;

  @JsonPropertyDescription("When true, deleting this Branch is held (with a Stalled condition) until it is set back to false.")
  @Default("false")
  @JsonProperty("protected")
  private Boolean protectedBranch;

  @JsonPropertyDescription("What deleting the Branch does to its timeline in the storage engine: Delete (the timeline is deleted) or Retain (it is kept; adopt it again with the arbor.dev/timeline-id annotation). The root Branch has no timeline of its own: the Project's deletionPolicy decides for the tenant.")
  @Default("Delete")
  private DeletionPolicy deletionPolicy;

  public String getProjectRef() { return projectRef; }
  public void setProjectRef(String projectRef) { this.projectRef = projectRef; }
  public String getParent() { return parent; }
  public void setParent(String parent) { this.parent = parent; }
  public String getParentLsn() { return parentLsn; }
  public void setParentLsn(String parentLsn) { this.parentLsn = parentLsn; }
  public java.time.OffsetDateTime getParentTimestamp() { return parentTimestamp; }
  public void setParentTimestamp(java.time.OffsetDateTime parentTimestamp) { this.parentTimestamp = parentTimestamp; }
  public java.time.OffsetDateTime getExpiresAt() { return expiresAt; }
  public void setExpiresAt(java.time.OffsetDateTime expiresAt) { this.expiresAt = expiresAt; }
  public String getTtl() { return ttl; }
  public void setTtl(String ttl) { this.ttl = ttl; }
  public DeletionPolicy getDeletionPolicy() { return deletionPolicy; }
  public void setDeletionPolicy(DeletionPolicy deletionPolicy) { this.deletionPolicy = deletionPolicy; }
  public Boolean getProtected() { return protectedBranch; }
  public void setProtected(Boolean protectedBranch) { this.protectedBranch = protectedBranch; }
}

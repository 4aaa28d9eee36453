package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class EndpointStatus extends ArborStatus {

  @JsonPropertyDescription("Starting (the StatefulSet rollout of the current template has not finished), Running, Suspended (scaled to zero: by spec.suspended, or by the operator after spec.suspendTimeout without activity; Ready stays True), Waking (a client connection asked an idle-suspended Endpoint to start; Running once its compute is ready), or Failed (the compute crash-loops, or its Branch was replaced).")
  private EndpointPhase phase;

  @JsonPropertyDescription("The compute's last client activity as its agent last reported it (RFC 3339), read while an Endpoint with a suspend timeout runs.")
  private String lastActive;

  @JsonPropertyDescription("When the operator suspended the compute for idleness (RFC 3339); absent when it runs or was suspended by spec.suspended. A wake request (annotation arbor.dev/wake-requested-at) later than this starts it again.")
  private String suspendedAt;

  @JsonPropertyDescription("DNS name of the Service clients connect to.")
  private String host;

  @JsonPropertyDescription("Port of the Service clients connect to.")
  private Integer port;

  @JsonPropertyDescription("The port every arbor-proxy replica listens on for this Endpoint (allocated by the operator, unique in the cluster, kept for the Endpoint's life); the Endpoint's Service sends port 5432 there.")
  private Integer proxyPort;

  @JsonPropertyDescription("Name of the Secret with host, port, dbname, user, password, uri and jdbc-uri for this Endpoint.")
  private String connectionSecret;

  @JsonPropertyDescription("UID of the Branch object this Endpoint last served (a root Branch that its Project created again has a new UID and the same timeline).")
  private String branchUid;

  @JsonPropertyDescription("Id of the timeline this Endpoint serves, recorded when its compute was first made. A Branch of the same name on another timeline (deleted and created again) is not served: the Endpoint is Stalled with reason BranchReplaced.")
  private String timelineId;

  public EndpointPhase getPhase() { return phase; }
  public void setPhase(EndpointPhase phase) { this.phase = phase; }
  public String getHost() { return host; }
  public void setHost(String host) { this.host = host; }
  public Integer getPort() { return port; }
  public void setPort(Integer port) { this.port = port; }
  public Integer getProxyPort() { return proxyPort; }
  public void setProxyPort(Integer proxyPort) { this.proxyPort = proxyPort; }
  public String getConnectionSecret() { return connectionSecret; }
  public void setConnectionSecret(String connectionSecret) { this.connectionSecret = connectionSecret; }
  public String getBranchUid() { return branchUid; }
  public void setBranchUid(String branchUid) { this.branchUid = branchUid; }
  public String getTimelineId() { return timelineId; }
  public String getLastActive() { return lastActive; }
  public void setLastActive(String lastActive) { this.lastActive = lastActive; }
  public String getSuspendedAt() { return suspendedAt; }
  public void setSuspendedAt(String suspendedAt) { this.suspendedAt = suspendedAt; }
  public void setTimelineId(String timelineId) { this.timelineId = timelineId; }
}

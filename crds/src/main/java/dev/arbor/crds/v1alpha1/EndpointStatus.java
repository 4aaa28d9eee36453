package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class EndpointStatus extends ArborStatus {

  @JsonPropertyDescription("Starting, Running, Suspended or Failed.")
  private EndpointPhase phase;

  @JsonPropertyDescription("DNS name of the Service clients connect to.")
  private String host;

  @JsonPropertyDescription("Port of the Service clients connect to.")
  private Integer port;

  @JsonPropertyDescription("Name of the Secret with host, port, dbname, user, password, uri and jdbc-uri for this Endpoint.")
  private String connectionSecret;

  public EndpointPhase getPhase() { return phase; }
  public void setPhase(EndpointPhase phase) { this.phase = phase; }
  public String getHost() { return host; }
  public void setHost(String host) { this.host = host; }
  public Integer getPort() { return port; }
  public void setPort(Integer port) { this.port = port; }
  public String getConnectionSecret() { return connectionSecret; }
  public void setConnectionSecret(String connectionSecret) { this.connectionSecret = connectionSecret; }
}

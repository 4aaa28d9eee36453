package dev.arbor.operator.endpoint;

import dev.arbor.api.compute.AgentActivity;
import dev.arbor.api.compute.AgentStatus;
import dev.arbor.client.ComputeAgentClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.ServiceClient;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Pod;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * A running compute's last client activity, read from its agent ({@code GET /status}, {@code last_activity}) at the
 * pod's IP and the port its container names {@code http}. A compute whose activity cannot be read is never
 * suspended: the caller looks again later.
 */
final class ComputeActivity {
  private static final Logger log = Logger.getLogger(ComputeActivity.class);
  private static final Duration TIMEOUT = Duration.ofSeconds(3);

  private final ComputeAgentClient agent;
  private final String endpoint;

  private ComputeActivity(ComputeAgentClient agent, String endpoint) {
    this.agent = agent;
    this.endpoint = endpoint;
  }

  /** The agent of the Endpoint's pod that has an IP and is not being deleted; empty before there is one. */
  static Optional<ComputeActivity> of(Collection<Pod> pods, String endpoint) {
    return pods.stream()
        .filter(p -> p.getMetadata().getDeletionTimestamp() == null && p.getStatus() != null && p.getStatus().getPodIP() != null)
        .flatMap(p -> httpPort(p).map(port -> ComputeAgentClient.at(p.getStatus().getPodIP(), port, TIMEOUT, RetryPolicy.NONE)).stream())
        .findFirst().map(agent -> new ComputeActivity(agent, endpoint));
  }

  private static Optional<Integer> httpPort(Pod pod) {
    return pod.getSpec().getContainers().stream().filter(c -> ComputeResources.CONTAINER.equals(c.getName()))
        .map(Container::getPorts).flatMap(Collection::stream)
        .filter(p -> "http".equals(p.getName())).map(ContainerPort::getContainerPort).findFirst();
  }

  /** The last activity the agent reports; empty (and one log line) when it cannot be read or is not known yet. */
  Optional<Instant> lastActivity() {
    try {
      AgentStatus status = agent.status();
      return Optional.ofNullable(status.lastActivity());
    } catch (IOException | RuntimeException e) { // unreachable, refused, or an answer that is not a status
      log.infof("event=compute_activity_unreadable endpoint=%s agent=%s error=\"%s\"", endpoint, agent.baseUrl(),
          ServiceClient.describe(e));
      return Optional.empty();
    }
  }

  /**
   * The last activity once more, just before a suspend, from a sample the agent takes for this request
   * ({@code GET /activity}); empty when it cannot be read.
   */
  Optional<Instant> recheck() {
    try {
      AgentActivity activity = agent.activity();
      if (!activity.keptAwakeBy().isEmpty()) {
        log.infof("event=compute_still_active endpoint=%s kept_awake_by=\"%s\"", endpoint, String.join("; ", activity.keptAwakeBy()));
      }
      return Optional.ofNullable(activity.lastActivity());
    } catch (IOException | RuntimeException e) {
      log.infof("event=compute_activity_unreadable endpoint=%s agent=%s error=\"%s\"", endpoint, agent.baseUrl(),
          ServiceClient.describe(e));
      return Optional.empty();
    }
  }
}

package dev.arbor.proxy.kube;

import dev.arbor.client.ComputeAgentClient;
import dev.arbor.client.RetryPolicy;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asks a starting compute's agent {@code GET /ready} on its pod IP while a client waits for it, so that a wake does
 * not also wait for the kubelet's readiness probe (every second) and for the pod informer to deliver the pod's Ready.
 *
 * <p>One poll per pod (by UID), every {@link #INTERVAL}, each ask bounded by {@link #TIMEOUT} and not retried (a
 * refused or late answer is "not yet"). A poll runs only while someone asks {@link #answered} (the proxy does while
 * a connection is held, every few ms): it stops at the first 200, when no one asked for {@link #WANTED}, and when the
 * pod is Ready, being deleted or gone. A 200 counts for {@link #ANSWER_VALID}; by then the pod's own Ready has
 * arrived, or the next waiter asks the agent again. One line per pod that answered before it was Ready, when its
 * Ready arrives ({@code event=compute_ready_early}, with the ms saved).
 */
final class ReadyPolls implements ResourceEventHandler<Pod>, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ReadyPolls.class);
  static final Duration INTERVAL = Duration.ofMillis(100);
  static final Duration TIMEOUT = Duration.ofMillis(500);
  static final Duration WANTED = Duration.ofMillis(500);
  static final Duration ANSWER_VALID = Duration.ofSeconds(5);

  /** The informers' pod at NAMESPACE/NAME, or null. */
  private final Function<String, Pod> pods;
  private final ConcurrentHashMap<String, Poll> byUid = new ConcurrentHashMap<>();
  private volatile boolean closed;

  ReadyPolls(Function<String, Pod> pods) {
    this.pods = pods;
  }

  /**
   * Whether the agent of {@code pod} (not Ready, with an IP, not being deleted) answered {@code GET /ready} 200
   * lately; when it did not, the caller waits for the compute, so the pod's poll runs (or starts).
   */
  boolean answered(String endpoint, Pod pod, URI agent) {
    Poll poll = byUid.computeIfAbsent(pod.getMetadata().getUid(), uid -> new Poll(endpoint, pod, agent));
    long now = System.nanoTime();
    long answeredAt = poll.answeredAt;
    if (answeredAt != 0 && now - answeredAt < ANSWER_VALID.toNanos()) {
      return true;
    }
    poll.wantedAt = now;
    if (!closed && poll.running.compareAndSet(false, true)) {
      Thread.ofVirtual().name("ready-poll-" + poll.pod).start(poll::run);
    }
    return false;
  }

  @Override
  public void onAdd(Pod pod) {
  }

  @Override
  public void onUpdate(Pod old, Pod pod) {
    boolean ready = KubeComputes.ready(pod);
    if (ready || pod.getMetadata().getDeletionTimestamp() != null) {
      finish(pod, ready);
    }
  }

  @Override
  public void onDelete(Pod pod, boolean deletedFinalStateUnknown) {
    finish(pod, false);
  }

  /** The pod no longer starts: its poll ends, and the line says what asking early gained. */
  private void finish(Pod pod, boolean ready) {
    Poll poll = byUid.remove(pod.getMetadata().getUid());
    if (poll == null || poll.firstAnsweredAt == 0) {
      return;
    }
    long answeredAfter = (poll.firstAnsweredAt - poll.startedAt) / 1_000_000;
    if (ready) {
      log.info("event=compute_ready_early endpoint={} pod={} answered_after_ms={} saved_ms={}", poll.endpoint, poll.pod,
          answeredAfter, (System.nanoTime() - poll.firstAnsweredAt) / 1_000_000);
    } else {
      log.info("event=compute_ready_early endpoint={} pod={} answered_after_ms={} pod_ready=never", poll.endpoint, poll.pod,
          answeredAfter);
    }
  }

  @Override
  public void close() {
    closed = true;
  }

  /** One pod's agent, asked while someone waits. */
  private final class Poll {
    final String endpoint;
    /** NAMESPACE/NAME. */
    final String pod;
    final String uid;
    final ComputeAgentClient agent;
    final long startedAt = System.nanoTime();
    final AtomicBoolean running = new AtomicBoolean();
    volatile long wantedAt;
    volatile long answeredAt;
    volatile long firstAnsweredAt;

    Poll(String endpoint, Pod pod, URI agent) {
      this.endpoint = endpoint;
      this.pod = KubeComputes.key(pod.getMetadata().getNamespace(), pod.getMetadata().getName());
      this.uid = pod.getMetadata().getUid();
      this.agent = new ComputeAgentClient(agent.toString(), TIMEOUT, RetryPolicy.NONE);
    }

    void run() {
      try {
        while (!closed && System.nanoTime() - wantedAt < WANTED.toNanos() && starting()) {
          if (ready()) {
            answeredAt = System.nanoTime();
            if (firstAnsweredAt == 0) {
              firstAnsweredAt = answeredAt;
            }
            return;
          }
          Thread.sleep(INTERVAL);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        running.set(false);
      }
    }

    /** The informers still have this pod, not Ready and not being deleted. */
    private boolean starting() {
      Pod current = pods.apply(pod);
      return current != null && uid.equals(current.getMetadata().getUid()) && current.getMetadata().getDeletionTimestamp() == null
          && !KubeComputes.ready(current);
    }

    private boolean ready() {
      try {
        return agent.ready();
      } catch (IOException | RuntimeException notYet) {
        return false;
      }
    }
  }
}

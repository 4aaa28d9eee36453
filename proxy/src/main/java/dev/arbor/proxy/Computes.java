package dev.arbor.proxy;

/**
 * What the proxy knows about computes, and how it wakes one: the operator's view of Endpoints in Kubernetes,
 * the CLI's local endpoints in local mode. Implementations are called from many connection threads at once.
 */
public interface Computes {

  /** The current state of the Endpoint's compute; cheap (the proxy calls it while it waits for a wake). */
  ComputeState state(String endpoint);

  /**
   * Asks for the Endpoint's suspended compute to be started. The proxy calls it once per wake however many
   * clients wait (single flight), then follows {@link #state} until the compute runs. It may return as soon as
   * the start is requested, or when the compute runs.
   *
   * @throws WakeRefusedException when the compute cannot be woken; its message goes to every waiting client
   */
  void wake(String endpoint) throws WakeRefusedException;

  /**
   * A client connection through the proxy reached {@code compute} (it authenticated). The compute's idle clock
   * restarts: a connection that comes and goes between two of the compute's own samples still counts. Called at
   * most about once a second per Endpoint, off the connection's thread.
   */
  void connected(String endpoint, ComputeState.Running compute);

  /** Why a wake cannot happen, in words for the client (e.g. the Endpoint was suspended by hand meanwhile). */
  final class WakeRefusedException extends Exception {
    public WakeRefusedException(String message) {
      super(message);
    }
  }
}

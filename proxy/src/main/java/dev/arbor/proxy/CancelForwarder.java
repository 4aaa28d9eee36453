package dev.arbor.proxy;

/**
 * Where a CancelRequest goes when its key is not one this proxy issued. With several proxy replicas behind one
 * Service, a client's CancelRequest (a new TCP connection) can reach a replica other than the one that holds its
 * connection; that replica hands it here, and the forwarder sends it to the other replicas' cancel ports
 * ({@link PeerCancelPort}), which never forward again. Local mode has one proxy and no forwarder.
 */
@FunctionalInterface
public interface CancelForwarder {
  /** Sends the CancelRequest with this key on to the peers; {@code client} is for the log. Must not throw. */
  void forward(int pid, int secret, String client);
}

package dev.arbor.proxy;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forwards a CancelRequest to every peer replica: the addresses {@code peers} (a DNS name, e.g. a headless
 * Service's) resolves to at the moment of the cancel, minus this replica's own address, each on {@code port}
 * (their {@link PeerCancelPort}). Resolving on each cancel follows replicas as they come and go.
 */
public final class PeerCancelForwarder implements CancelForwarder {
  private static final Logger log = LoggerFactory.getLogger(PeerCancelForwarder.class);
  private static final int CONNECT_TIMEOUT_MILLIS = 2_000;

  private final String peers;
  private final int port;
  private final String self;

  /**
   * @param peers the DNS name (or address) of the replicas
   * @param port the peers' cancel port
   * @param self this replica's own IP address, left out of the peers; null when it is not known
   */
  public PeerCancelForwarder(String peers, int port, String self) {
    this.peers = peers;
    this.port = port;
    this.self = self;
  }

  /** The peers' cancel addresses now. */
  List<InetSocketAddress> resolve() throws UnknownHostException {
    return Arrays.stream(InetAddress.getAllByName(peers))
        .filter(a -> self == null || !a.getHostAddress().equals(self))
        .map(a -> new InetSocketAddress(a, port))
        .toList();
  }

  @Override
  public void forward(int pid, int secret, String client) {
    List<InetSocketAddress> targets;
    try {
      targets = resolve();
    } catch (UnknownHostException e) {
      log.warn("event=cancel_not_forwarded client={} peers={} error=\"cannot resolve: {}\"", client, peers, e.getMessage());
      return;
    }
    byte[] packet = Wire.cancelRequest(pid, secret);
    List<String> failed = new ArrayList<>();
    try (var executor = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<?>> sent = targets.stream().<Future<?>>map(t -> executor.submit(() -> {
        send(t, packet);
        return null;
      })).toList();
      for (int i = 0; i < sent.size(); i++) {
        try {
          sent.get(i).get();
        } catch (Exception e) {
          failed.add(targets.get(i) + " (" + (e.getCause() == null ? e : e.getCause()).getMessage() + ")");
        }
      }
    }
    log.info("event=cancel_forwarded_to_peers client={} peers={} sent={} failed=\"{}\"", client, targets.size(),
        targets.size() - failed.size(), String.join(", ", failed));
  }

  private static void send(InetSocketAddress target, byte[] packet) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(target, CONNECT_TIMEOUT_MILLIS);
      OutputStream out = s.getOutputStream();
      out.write(packet);
      out.flush();
    }
  }
}

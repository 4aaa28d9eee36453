package dev.arbor.proxy;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The port on which a proxy replica takes CancelRequests that its peers forward ({@link CancelForwarder}). A
 * connection here carries one 16-byte CancelRequest and nothing else; a key this replica issued is sent on to its
 * compute, any other key is dropped (never forwarded again, so a cancel crosses at most one hop).
 */
public final class PeerCancelPort implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(PeerCancelPort.class);
  private static final int READ_TIMEOUT_MILLIS = 5_000;

  private final ProxyServer proxy;
  private final ServerSocket server;

  private PeerCancelPort(ProxyServer proxy, ServerSocket server) {
    this.proxy = proxy;
    this.server = server;
  }

  /** Listens on {@code address} (port 0 picks one) for CancelRequests forwarded to {@code proxy}. */
  public static PeerCancelPort listen(ProxyServer proxy, InetSocketAddress address) throws IOException {
    var server = new ServerSocket();
    server.setReuseAddress(true);
    try {
      server.bind(address, 128);
    } catch (IOException e) {
      server.close();
      throw new IOException("cannot listen for peer cancel requests on " + address + ": " + e.getMessage(), e);
    }
    var port = new PeerCancelPort(proxy, server);
    Thread.ofPlatform().daemon().name("peer-cancels").start(port::accept);
    log.info("event=peer_cancel_listening address={}", server.getLocalSocketAddress());
    return port;
  }

  public int port() {
    return server.getLocalPort();
  }

  private void accept() {
    while (!server.isClosed()) {
      Socket socket;
      try {
        socket = server.accept();
      } catch (SocketException closed) {
        return;
      } catch (IOException e) {
        log.warn("event=peer_cancel_accept_failed error=\"{}\"", e.getMessage());
        continue;
      }
      Thread.ofVirtual().name("peer-cancel").start(() -> take(socket));
    }
  }

  private void take(Socket socket) {
    String peer = String.valueOf(socket.getRemoteSocketAddress());
    try (socket) {
      socket.setSoTimeout(READ_TIMEOUT_MILLIS);
      InputStream in = socket.getInputStream();
      byte[] packet = in.readNBytes(16);
      if (packet.length != 16 || Wire.readInt(packet, 0) != 16 || Wire.readInt(packet, 4) != Wire.CANCEL_REQUEST) {
        log.info("event=peer_cancel_rejected peer={} reason=\"not a 16-byte CancelRequest\"", peer);
        return;
      }
      if (!proxy.cancelLocally(Wire.readInt(packet, 8), Wire.readInt(packet, 12), "peer " + peer)) {
        log.debug("event=peer_cancel_unknown_key peer={}", peer); // another replica holds the connection
      }
    } catch (IOException e) {
      log.info("event=peer_cancel_rejected peer={} reason=\"{}\"", peer, e.getMessage());
    }
  }

  @Override
  public void close() {
    try {
      server.close();
    } catch (IOException ignored) {
      // closing
    }
  }
}

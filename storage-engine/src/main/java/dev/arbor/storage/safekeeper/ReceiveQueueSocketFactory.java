package dev.arbor.storage.safekeeper;

import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.SocketFactory;

/**
 * Hands the {@link WalReceiver} the socket pgjdbc connects with, so the receiver can ask the kernel
 * whether more bytes from the compute are already waiting ({@code available()}), without reading.
 * pgjdbc cannot answer that without blocking: its non-blocking read polls the socket for 1 ms when
 * nothing is buffered, and a group flush that asks once per batch would add that millisecond to every
 * acknowledged commit.
 *
 * <p>pgjdbc instantiates this class by name (connection property {@code socketFactory}) with the
 * connection's properties; {@link #KEY_PROPERTY} names the slot the receiver collects the socket from.
 * Not meant for other uses.
 */
public final class ReceiveQueueSocketFactory extends SocketFactory {

  static final String KEY_PROPERTY = "arborReceiveQueueKey";
  private static final Map<String, Socket> CREATED = new ConcurrentHashMap<>();
  /** The TLS sockets {@link ReplicationTlsSocketFactory} wrapped around ours, by the same key. */
  private static final Map<String, Socket> WRAPPED = new ConcurrentHashMap<>();

  private final String key;

  public ReceiveQueueSocketFactory(Properties connectionProperties) {
    this.key = connectionProperties.getProperty(KEY_PROPERTY);
  }

  /** The socket created for {@code key}, once; the caller must collect it even when connecting failed. */
  static Socket collect(String key) {
    return CREATED.remove(key);
  }

  /** The TLS socket wrapped around the one created for {@code key}, once; null on a plain connection. */
  static Socket collectTls(String key) {
    return WRAPPED.remove(key);
  }

  static void putTls(String key, Socket tls) {
    WRAPPED.put(key, tls);
  }

  @Override
  public Socket createSocket() {
    Socket socket = new Socket();
    if (key != null) {
      CREATED.put(key, socket);
    }
    return socket;
  }

  // pgjdbc creates unconnected sockets and connects them itself; the other forms are never called.

  @Override
  public Socket createSocket(String host, int port) throws IOException {
    throw unconnectedOnly();
  }

  @Override
  public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
    throw unconnectedOnly();
  }

  @Override
  public Socket createSocket(InetAddress host, int port) throws IOException {
    throw unconnectedOnly();
  }

  @Override
  public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
      throws IOException {
    throw unconnectedOnly();
  }

  private static SocketException unconnectedOnly() {
    return new SocketException("ReceiveQueueSocketFactory creates unconnected sockets only");
  }
}

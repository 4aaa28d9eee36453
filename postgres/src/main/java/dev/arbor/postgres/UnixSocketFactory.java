package dev.arbor.postgres;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import javax.net.SocketFactory;

/**
 * Lets the PostgreSQL JDBC driver connect over a server's unix socket (JDK 16+ unix domain channels), so a
 * process beside PostgreSQL can connect as the superuser through {@code local ... trust} in pg_hba without
 * any password on TCP. The driver instantiates this class by name with the socket file path as its
 * argument ({@code socketFactory} / {@code socketFactoryArg}); the host and port in the JDBC URL are then
 * ignored. Read timeouts ({@code socketTimeout}) are not supported: reads block.
 */
public final class UnixSocketFactory extends SocketFactory {
  private final Path socketFile;

  public UnixSocketFactory(String socketFile) {
    this.socketFile = Path.of(socketFile);
  }

  @Override
  public Socket createSocket() {
    return new UnixSocket(socketFile);
  }

  @Override
  public Socket createSocket(String host, int port) throws IOException {
    return connected();
  }

  @Override
  public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
    return connected();
  }

  @Override
  public Socket createSocket(InetAddress host, int port) throws IOException {
    return connected();
  }

  @Override
  public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort) throws IOException {
    return connected();
  }

  private Socket connected() throws IOException {
    Socket s = new UnixSocket(socketFile);
    s.connect(null, 0);
    return s;
  }

  /** The parts of {@link Socket} the driver uses, on a unix domain channel; TCP options are accepted and ignored. */
  private static final class UnixSocket extends Socket {
    private final Path file;
    private SocketChannel channel;
    private InputStream in;
    private OutputStream out;
    private int soTimeout;
    private boolean closed;

    UnixSocket(Path file) {
      this.file = file;
    }

    @Override
    public synchronized void connect(SocketAddress ignored, int timeout) throws IOException {
      channel = SocketChannel.open(UnixDomainSocketAddress.of(file));
      in = Channels.newInputStream(channel);
      out = Channels.newOutputStream(channel);
    }

    @Override
    public void connect(SocketAddress endpoint) throws IOException {
      connect(endpoint, 0);
    }

    @Override
    public void bind(SocketAddress bindpoint) {
      // a client of a unix socket needs no local address
    }

    @Override
    public boolean isConnected() {
      return channel != null && channel.isConnected();
    }

    @Override
    public boolean isBound() {
      return isConnected();
    }

    @Override
    public synchronized boolean isClosed() {
      return closed;
    }

    @Override
    public synchronized void close() throws IOException {
      closed = true;
      if (channel != null) {
        channel.close();
      }
    }

    @Override
    public InputStream getInputStream() throws IOException {
      requireConnected();
      return in;
    }

    @Override
    public OutputStream getOutputStream() throws IOException {
      requireConnected();
      return out;
    }

    private void requireConnected() throws SocketException {
      if (!isConnected()) {
        throw new SocketException("not connected to " + file);
      }
    }

    @Override
    public void setSoTimeout(int timeout) {
      soTimeout = timeout;
    }

    @Override
    public int getSoTimeout() {
      return soTimeout;
    }

    @Override
    public void setTcpNoDelay(boolean on) {}

    @Override
    public boolean getTcpNoDelay() {
      return true;
    }

    @Override
    public void setKeepAlive(boolean on) {}

    @Override
    public boolean getKeepAlive() {
      return false;
    }

    @Override
    public void setSendBufferSize(int size) {}

    @Override
    public int getSendBufferSize() {
      return 65536;
    }

    @Override
    public void setReceiveBufferSize(int size) {}

    @Override
    public int getReceiveBufferSize() {
      return 65536;
    }

    @Override
    public String toString() {
      return "UnixSocket[" + file + "]";
    }
  }
}

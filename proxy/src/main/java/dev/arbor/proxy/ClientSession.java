package dev.arbor.proxy;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.util.Map;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection, from its first byte to its close, on a thread of its own:
 * <ol>
 *   <li>startup: SSLRequest (answered 'S' and TLS started when the proxy has a certificate, else 'N'), direct TLS
 *       (a ClientHello as the first byte), GSSENCRequest ('N'), CancelRequest (sent on to its compute), and the
 *       StartupMessage, each within the startup timeout and the packet cap;</li>
 *   <li>hold: the Endpoint's compute is found, and woken if it is suspended ({@link Wakes});</li>
 *   <li>connect: the StartupMessage goes to the compute as the client sent it, again after each "the database
 *       system is starting up" or refused connection, until the wake deadline;</li>
 *   <li>relay: until the compute is ready for queries its messages go to the client one by one (its BackendKeyData
 *       swapped for a proxy key) and the client's answers to authentication requests to the compute; then the bytes go
 *       as they come, in {@link Relays} for a plain connection, on two threads for a TLS one.</li>
 * </ol>
 * Every refusal is an ErrorResponse with a SQLSTATE and a message that says what to do; nothing is a bare reset.
 */
final class ClientSession implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(ClientSession.class);
  /** The largest backend message looked at while the connection is set up (errors, auth requests). */
  private static final int MAX_SETUP_MESSAGE = 1 << 20;
  private static final int BUFFER = 64 * 1024;

  private final ProxyServer proxy;
  private final String endpoint;
  private final Socket accepted;
  private final String peer;
  private volatile Socket client;
  private volatile Socket backend;
  private volatile String closeReason;
  private volatile String closeHint;
  private volatile boolean established;
  /** The compute this session reached (set once connected, before {@link #backend}). */
  private volatile ComputeState.Running target;
  /** The proxy's cancel key given to the client in place of the compute's (0: none yet). */
  private long cancelKey;
  /** Set once the connection moved to {@link Relays}, which ends it; guarded by {@code this}. */
  private Relays.Relay handedOff;

  ClientSession(ProxyServer proxy, String endpoint, Socket accepted) {
    this.proxy = proxy;
    this.endpoint = endpoint;
    this.accepted = accepted;
    this.client = accepted;
    this.peer = String.valueOf(accepted.getRemoteSocketAddress());
  }

  String endpoint() {
    return endpoint;
  }

  @Override
  public void run() {
    long t0 = System.nanoTime();
    try {
      accepted.setTcpNoDelay(true);
      accepted.setSoTimeout((int) proxy.config().startupTimeout().toMillis());
      byte[] startup = startupPhase();
      if (startup == null) {
        return;
      }
      long deadline = t0 + proxy.config().wakeTimeout().toNanos();
      DataInputStream fromBackend = connect(startup, deadline);
      relay(fromBackend);
    } catch (Wakes.Refusal r) {
      proxy.refused(endpoint, "refused");
      log.info("event=connection_refused endpoint={} client={} sqlstate={} reason=\"{}\"", endpoint, peer, r.sqlstate, r.getMessage());
      sendError(r.sqlstate, r.getMessage(), r.hint);
    } catch (Wire.ProtocolException e) {
      proxy.refused(endpoint, "protocol_violation");
      log.info("event=connection_refused endpoint={} client={} sqlstate={} reason=\"{}\"", endpoint, peer, Wire.PROTOCOL_VIOLATION, e.getMessage());
      sendError(Wire.PROTOCOL_VIOLATION, e.getMessage(), null);
    } catch (SocketTimeoutException e) {
      proxy.refused(endpoint, "startup_timeout");
      String what = "the client sent no complete startup packet within " + proxy.config().startupTimeout().toSeconds() + " s";
      log.info("event=connection_refused endpoint={} client={} reason=\"{}\"", endpoint, peer, what);
      sendError(Wire.PROTOCOL_VIOLATION, what, null);
    } catch (SSLException e) {
      proxy.refused(endpoint, "tls_failed");
      log.info("event=tls_failed endpoint={} client={} error=\"{}\"", endpoint, peer, e.getMessage());
    } catch (EOFException | SocketException | ClosedChannelException e) {
      log.debug("event=client_gone endpoint={} client={} error=\"{}\"", endpoint, peer, e.getMessage());
    } catch (IOException e) {
      log.info("event=connection_failed endpoint={} client={} error=\"{}\"", endpoint, peer, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      if (handedOff() == null) {
        end();
      }
    }
  }

  private synchronized Relays.Relay handedOff() {
    return handedOff;
  }

  private void end() {
    closeQuietly(backend);
    closeQuietly(client);
    if (cancelKey != 0) {
      proxy.cancelKeys().release(cancelKey);
    }
    proxy.ended(this);
  }

  /** {@link Relays} closed both sockets of this session. */
  void relayEnded() {
    end();
  }

  /** Reads the client's untyped packets up to its StartupMessage and returns that packet; null when it was a cancel. */
  private byte[] startupPhase() throws IOException {
    boolean tlsAsked = false;
    boolean gssAsked = false;
    while (true) {
      InputStream in = client.getInputStream();
      byte[] head = in.readNBytes(8);
      if (head.length == 0) {
        throw new EOFException("closed before its startup packet");
      }
      if (!tlsAsked && (head[0] & 0xff) == Wire.TLS_HANDSHAKE) {
        tlsAsked = true;
        startTls(head, true);
        continue;
      }
      if (head.length < 8) {
        throw new Wire.ProtocolException("incomplete startup packet");
      }
      int length = Wire.readInt(head, 0);
      if (length < 8 || length > Wire.MAX_STARTUP_PACKET) {
        throw new Wire.ProtocolException("invalid length of startup packet (" + length + " bytes; at most "
            + Wire.MAX_STARTUP_PACKET + ")");
      }
      int code = Wire.readInt(head, 4);
      byte[] body = Wire.readExactly(in, length - 8);
      switch (code) {
        case Wire.SSL_REQUEST -> {
          if (tlsAsked || length != 8) {
            throw new Wire.ProtocolException("unexpected SSLRequest");
          }
          tlsAsked = true;
          OutputStream out = client.getOutputStream();
          out.write(proxy.config().tls() == null ? 'N' : 'S');
          out.flush();
          if (proxy.config().tls() != null) {
            startTls(new byte[0], false);
          }
        }
        case Wire.GSSENC_REQUEST -> {
          if (gssAsked || length != 8) {
            throw new Wire.ProtocolException("unexpected GSSENCRequest");
          }
          gssAsked = true;
          client.getOutputStream().write('N');
          client.getOutputStream().flush();
        }
        case Wire.CANCEL_REQUEST -> {
          if (length != 16) {
            throw new Wire.ProtocolException("invalid length of cancel request packet");
          }
          proxy.cancel(Wire.readInt(body, 0), Wire.readInt(body, 4), peer);
          return null;
        }
        default -> {
          if (code >>> 16 != 3) {
            throw new Wire.ProtocolException("unsupported frontend protocol " + (code >>> 16) + "." + (code & 0xffff)
                + ": the proxy speaks protocol 3");
          }
          Map<String, String> params = Wire.startupParameters(body, 0);
          if (params.getOrDefault("user", "").isEmpty()) {
            throw new Wire.ProtocolException("no PostgreSQL user name specified in startup packet");
          }
          byte[] packet = new byte[length];
          System.arraycopy(head, 0, packet, 0, 8);
          System.arraycopy(body, 0, packet, 8, body.length);
          return packet;
        }
      }
    }
  }

  private void startTls(byte[] consumed, boolean direct) throws IOException {
    ProxyTls tls = proxy.config().tls();
    if (tls == null) {
      // A TLS record cannot carry a plain ErrorResponse; the client reports the closed connection.
      throw new SSLException("the client started TLS directly, and this proxy has no certificate");
    }
    SSLSocket s = tls.accept(client, consumed);
    client = s;
    if (direct && !ProxyTls.ALPN.equals(s.getApplicationProtocol())) {
      throw new Wire.ProtocolException("direct TLS needs the ALPN protocol \"postgresql\"");
    }
  }

  /**
   * Connects to the Endpoint's compute and forwards the StartupMessage; returns the compute's stream with its
   * first answer not yet read, once that answer is not "cannot connect now".
   */
  private DataInputStream connect(byte[] startup, long deadline) throws IOException, Wakes.Refusal, InterruptedException {
    String last = null;
    long sleepMillis = 10;
    while (true) {
      ComputeState.Running compute = proxy.wakes().awaitRunning(endpoint, deadline);
      // From a channel: it stays in blocking mode after the reads with a timeout here (see ProxyServer.listen).
      Socket s = SocketChannel.open().socket();
      try {
        int remaining = (int) Math.max(1, Math.min(5_000, (deadline - System.nanoTime()) / 1_000_000));
        s.connect(compute.postgres(), remaining);
        s.setTcpNoDelay(true);
        s.setSoTimeout((int) proxy.config().authTimeout().toMillis());
        s.getOutputStream().write(startup);
        var in = new DataInputStream(new BufferedInputStream(s.getInputStream(), BUFFER));
        in.mark(MAX_SETUP_MESSAGE + 5);
        Wire.Message first = Wire.readMessage(in, MAX_SETUP_MESSAGE);
        if (first == null) {
          last = "the compute closed the connection";
        } else if (first.type() == Wire.ERROR_RESPONSE
            && Wire.CANNOT_CONNECT_NOW.equals(Wire.errorFields(first.body()).get('C'))) {
          last = Wire.errorFields(first.body()).get('M');
        } else {
          in.reset();
          this.target = compute;
          backend = s;
          return in;
        }
      } catch (ConnectException | SocketTimeoutException | EOFException e) {
        last = e.getMessage();
      }
      closeQuietly(s);
      if (System.nanoTime() > deadline) {
        throw new Wakes.Refusal(Wire.CONNECTION_REJECTED, "the compute of endpoint " + endpoint
            + " did not accept connections within " + proxy.config().wakeTimeout().toSeconds() + " s (last: " + last + ")",
            "retry; if this persists, look at the Endpoint's status and its compute's log");
      }
      Thread.sleep(sleepMillis);
      sleepMillis = Math.min(100, sleepMillis * 2);
    }
  }

  /**
   * Relays until either side closes. Until the compute's first ReadyForQuery its messages go one by one (its
   * BackendKeyData is swapped), and the client's answers to its authentication requests are passed on by this thread;
   * then a plain connection moves to {@link Relays}, and a TLS one goes on here, this thread carrying the compute's bytes
   * and a thread of its own the client's. {@link MessageBoundary} keeps track of where the compute's messages end, so
   * that a close with a reason can add an ErrorResponse between two messages.
   */
  private void relay(DataInputStream fromBackend) throws IOException {
    Socket b = backend;
    Socket c = client;
    c.setSoTimeout((int) proxy.config().authTimeout().toMillis());
    var toClient = new BufferedOutputStream(c.getOutputStream(), BUFFER);
    byte[] buf = new byte[BUFFER];
    var boundary = new MessageBoundary();
    boolean clientThread = false;
    boolean inMessage = false; // until ReadyForQuery: a message is being passed on
    try {
      while (!established) {
        int type = fromBackend.read();
        if (type < 0) {
          break;
        }
        inMessage = true;
        int length = fromBackend.readInt();
        if (length < 4) {
          throw new Wire.ProtocolException("the compute sent a message of type '" + (char) type + "' with length " + length);
        }
        if (type == Wire.BACKEND_KEY_DATA && length == 12 && cancelKey == 0) {
          int pid = fromBackend.readInt();
          int secret = fromBackend.readInt();
          cancelKey = proxy.cancelKeys().issue(new CancelKeys.Target(endpoint, target.postgres(), pid, secret));
          toClient.write(type);
          writeInt(toClient, 12);
          writeInt(toClient, (int) (cancelKey >>> 32));
          writeInt(toClient, (int) cancelKey);
        } else if (type == Wire.AUTHENTICATION && length >= 8 && !clientThread) {
          int code = fromBackend.readInt();
          toClient.write(type);
          writeInt(toClient, length);
          writeInt(toClient, code);
          copy(fromBackend, toClient, length - 8, buf);
          toClient.flush();
          if (Wire.authenticationAwaitsAnswer(code)) {
            try {
              passClientMessage(c.getInputStream(), b.getOutputStream());
            } catch (SocketTimeoutException e) {
              throw new Wire.ProtocolException("the client did not answer the authentication request within "
                  + proxy.config().authTimeout().toSeconds() + " s");
            }
          } else if (!Wire.authenticationAwaitsNothing(code)) {
            // An exchange whose turns the proxy does not follow (GSSAPI, SSPI): the client's bytes flow as they come.
            clientThread = startClientThread(c, b);
          }
        } else {
          toClient.write(type);
          writeInt(toClient, length);
          copy(fromBackend, toClient, length - 4, buf);
        }
        inMessage = false;
        if (type == Wire.READY_FOR_QUERY) {
          established = true;
          b.setSoTimeout(0);
          c.setSoTimeout(0);
          proxy.established(this, target);
        }
        if (established || fromBackend.available() == 0) {
          toClient.flush();
        }
      }
      if (established && !clientThread && handOff(c, b, fromBackend, boundary)) {
        return;
      }
      if (!clientThread) {
        startClientThread(c, b);
      }
      OutputStream out = c.getOutputStream();
      int n;
      while ((n = fromBackend.read(buf)) >= 0) {
        boundary.advance(buf, n);
        out.write(buf, 0, n);
      }
    } catch (SocketException | EOFException | ClosedChannelException e) {
      if (closeReason == null) {
        throw e;
      }
    }
    String reason = closeReason;
    if (reason != null && !inMessage && boundary.atBoundary()) {
      // The proxy closed the compute's side (a suspend); the client learns why rather than seeing a reset.
      toClient.write(Wire.errorResponse("FATAL", Wire.ADMIN_SHUTDOWN, reason, closeHint));
      toClient.flush();
    }
  }

  /** Passes one message of the client (an answer to an authentication request) to the compute. */
  private static void passClientMessage(InputStream fromClient, OutputStream toBackend) throws IOException {
    byte[] head = fromClient.readNBytes(5);
    if (head.length < 5) {
      throw new EOFException("the client closed the connection during authentication");
    }
    int length = Wire.readInt(head, 1);
    if (length < 4 || length > MAX_SETUP_MESSAGE) {
      throw new Wire.ProtocolException("invalid length of message during authentication (" + length + " bytes)");
    }
    byte[] body = Wire.readExactly(fromClient, length - 4);
    toBackend.write(head);
    toBackend.write(body);
    toBackend.flush();
  }

  /**
   * Moves an established plain connection to {@link Relays}, with the compute's bytes this thread read ahead; false for a
   * TLS client (its bytes are decrypted by its socket, on a thread) or when the compute's side was closed meanwhile.
   */
  private synchronized boolean handOff(Socket c, Socket b, DataInputStream fromBackend, MessageBoundary boundary)
      throws IOException {
    if (c != accepted || c.getChannel() == null || b.getChannel() == null || closeReason != null) {
      return false;
    }
    byte[] ahead = fromBackend.readNBytes(fromBackend.available());
    handedOff = proxy.relays().start(this, c.getChannel(), b.getChannel(), ahead, boundary);
    return true;
  }

  private boolean startClientThread(Socket c, Socket b) throws SocketException {
    c.setSoTimeout(0);
    // Platform threads: a blocked read wakes straight from the kernel, without a virtual thread's extra hop.
    Thread.ofPlatform().daemon().name("c2b-" + endpoint).start(() -> copyClientToBackend(c, b));
    return true;
  }

  /** Where the messages in a byte stream end: the 5-byte header (type, length) of each, then its body. */
  static final class MessageBoundary {
    private final byte[] header = new byte[5];
    private int headerFill;
    private long remaining;

    void advance(byte[] buf, int n) {
      advance(ByteBuffer.wrap(buf, 0, n));
    }

    /** Advances over the bytes between {@code buf}'s position and its limit, which stay where they are. */
    void advance(ByteBuffer buf) {
      int i = buf.position();
      int n = buf.limit();
      while (i < n) {
        if (remaining > 0) {
          int take = (int) Math.min(remaining, n - i);
          remaining -= take;
          i += take;
        } else {
          header[headerFill++] = buf.get(i++);
          if (headerFill == header.length) {
            headerFill = 0;
            remaining = Math.max(0, Wire.readInt(header, 1) - 4);
          }
        }
      }
    }

    boolean atBoundary() {
      return remaining == 0 && headerFill == 0;
    }
  }

  private void copyClientToBackend(Socket c, Socket b) {
    byte[] buf = new byte[BUFFER];
    try {
      InputStream in = c.getInputStream();
      OutputStream out = b.getOutputStream();
      int n;
      while ((n = in.read(buf)) >= 0) {
        out.write(buf, 0, n);
      }
      b.shutdownOutput();
    } catch (IOException e) {
      closeQuietly(b); // the client is gone or the compute is: the other direction ends too
    }
  }

  /**
   * Ends this session's compute side with {@code reason} and {@code hint} (or null) for the client, when it has reached a
   * compute ({@code compute}, or any when null): the Endpoint is being suspended. A session still being set up or held is
   * left alone: it waits for the compute, or wakes it. Returns whether this session was ended.
   */
  synchronized boolean closeComputeSide(InetSocketAddress compute, String reason, String hint) {
    Socket b = backend;
    if (b == null || (compute != null && !compute.equals(target.postgres()))) {
      return false;
    }
    closeHint = hint;
    closeReason = reason;
    if (handedOff != null) {
      handedOff.closeComputeSide(Wire.errorResponse("FATAL", Wire.ADMIN_SHUTDOWN, reason, hint));
    } else {
      closeQuietly(b);
    }
    return true;
  }

  /** Ends this session with {@code reason} (the proxy stops): its compute side when it has one, else the client's. */
  void closeWithReason(String reason, String hint) {
    if (!closeComputeSide(null, reason, hint)) {
      closeQuietly(client);
    }
  }

  private void sendError(String sqlstate, String message, String hint) {
    try {
      OutputStream out = client.getOutputStream();
      out.write(Wire.errorResponse("FATAL", sqlstate, message, hint));
      out.flush();
      lingerBeforeClose();
    } catch (IOException e) {
      log.debug("event=error_not_sent endpoint={} client={} error=\"{}\"", endpoint, peer, e.getMessage());
    }
  }

  /**
   * Ends the output of a plain client after its ErrorResponse and reads what it still sends, for a second at most:
   * closing a socket with unread input resets the connection, and a reset can overtake the error on its way.
   */
  private void lingerBeforeClose() throws IOException {
    Socket c = client;
    if (c != accepted) {
      return; // TLS: the error went in a record of its own; closing sends close_notify first
    }
    c.shutdownOutput();
    c.setSoTimeout(1_000);
    InputStream in = c.getInputStream();
    byte[] sink = new byte[4096];
    long budget = 64 * 1024;
    int n;
    while (budget > 0 && (n = in.read(sink)) >= 0) {
      budget -= n;
    }
  }

  private static void copy(InputStream in, OutputStream out, int n, byte[] buf) throws IOException {
    while (n > 0) {
      int r = in.read(buf, 0, Math.min(n, buf.length));
      if (r < 0) {
        throw new EOFException("the compute closed the connection inside a message");
      }
      out.write(buf, 0, r);
      n -= r;
    }
  }

  private static void writeInt(OutputStream out, int v) throws IOException {
    out.write(v >>> 24);
    out.write(v >>> 16);
    out.write(v >>> 8);
    out.write(v);
  }

  static void closeQuietly(Socket s) {
    if (s != null) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing: nothing left to do with it
      }
    }
  }

  @Override
  public String toString() {
    return "client " + peer + " of endpoint " + endpoint;
  }

  /** True once the compute sent its first ReadyForQuery: the client is in. */
  boolean established() {
    return established;
  }
}

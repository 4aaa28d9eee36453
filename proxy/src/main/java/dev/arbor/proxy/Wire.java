package dev.arbor.proxy;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The parts of the PostgreSQL frontend/backend protocol (version 3.0, "Message Formats" in the PostgreSQL
 * documentation) the proxy reads or writes itself: the untyped first packets a client sends, and the typed
 * backend messages it looks at while a connection is being set up (ErrorResponse, BackendKeyData,
 * ReadyForQuery). Everything else passes through unread.
 */
final class Wire {
  /** The request codes of the untyped first packets: int32 length, int32 code, body. */
  static final int PROTOCOL_3_0 = 196608;
  static final int SSL_REQUEST = 80877103;
  static final int GSSENC_REQUEST = 80877104;
  static final int CANCEL_REQUEST = 80877102;
  /** PostgreSQL's own cap on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
  static final int MAX_STARTUP_PACKET = 10_000;
  /** The first byte of a TLS handshake record: a client using PostgreSQL 17's direct TLS starts with it. */
  static final int TLS_HANDSHAKE = 0x16;

  static final byte ERROR_RESPONSE = 'E';
  static final byte BACKEND_KEY_DATA = 'K';
  static final byte READY_FOR_QUERY = 'Z';
  static final byte AUTHENTICATION = 'R';

  /** SQLSTATEs the proxy answers with (PostgreSQL's Appendix A codes). */
  static final String PROTOCOL_VIOLATION = "08P01";
  static final String CONNECTION_REJECTED = "08004";
  static final String CANNOT_CONNECT_NOW = "57P03";
  static final String TOO_MANY_CONNECTIONS = "53300";
  static final String ADMIN_SHUTDOWN = "57P01";

  private Wire() {}

  /** The parameters of a StartupMessage body (after the protocol code): name/value C strings, then a 0. */
  /** Whether the client answers an Authentication request of {@code code}: cleartext, MD5, SASL start and continue. */
  static boolean authenticationAwaitsAnswer(int code) {
    return code == 3 || code == 5 || code == 10 || code == 11;
  }

  /** Whether an Authentication message of {@code code} asks nothing of the client: AuthenticationOk, SASL final. */
  static boolean authenticationAwaitsNothing(int code) {
    return code == 0 || code == 12;
  }

  static Map<String, String> startupParameters(byte[] body, int from) throws ProtocolException {
    Map<String, String> params = new LinkedHashMap<>();
    int i = from;
    while (true) {
      if (i >= body.length) {
        throw new ProtocolException("the startup packet does not end with a terminator");
      }
      if (body[i] == 0) {
        if (i != body.length - 1) {
          throw new ProtocolException("the startup packet has bytes after its terminator");
        }
        return params;
      }
      int nameEnd = indexOf0(body, i);
      int valueEnd = nameEnd < 0 ? -1 : indexOf0(body, nameEnd + 1);
      if (valueEnd < 0) {
        throw new ProtocolException("the startup packet has a parameter without a terminated value");
      }
      params.put(new String(body, i, nameEnd - i, StandardCharsets.UTF_8),
          new String(body, nameEnd + 1, valueEnd - nameEnd - 1, StandardCharsets.UTF_8));
      i = valueEnd + 1;
    }
  }

  private static int indexOf0(byte[] b, int from) {
    for (int i = from; i < b.length; i++) {
      if (b[i] == 0) {
        return i;
      }
    }
    return -1;
  }

  /** An ErrorResponse message: severity (localized and not), SQLSTATE, message, and an optional hint. */
  static byte[] errorResponse(String severity, String sqlstate, String message, String hint) {
    var fields = new ByteArrayOutputStream();
    field(fields, 'S', severity);
    field(fields, 'V', severity);
    field(fields, 'C', sqlstate);
    field(fields, 'M', message);
    if (hint != null) {
      field(fields, 'H', hint);
    }
    fields.write(0);
    byte[] body = fields.toByteArray();
    var out = new ByteArrayOutputStream(body.length + 5);
    out.write(ERROR_RESPONSE);
    writeInt(out, body.length + 4);
    out.writeBytes(body);
    return out.toByteArray();
  }

  private static void field(ByteArrayOutputStream out, char code, String value) {
    out.write(code);
    out.writeBytes(value.getBytes(StandardCharsets.UTF_8));
    out.write(0);
  }

  /** The fields of an ErrorResponse or NoticeResponse body, by their one-letter codes. */
  static Map<Character, String> errorFields(byte[] body) {
    Map<Character, String> fields = new LinkedHashMap<>();
    int i = 0;
    while (i < body.length && body[i] != 0) {
      int end = indexOf0(body, i + 1);
      if (end < 0) {
        break;
      }
      fields.put((char) body[i], new String(body, i + 1, end - i - 1, StandardCharsets.UTF_8));
      i = end + 1;
    }
    return fields;
  }

  static byte[] cancelRequest(int pid, int secret) {
    var out = new ByteArrayOutputStream(16);
    writeInt(out, 16);
    writeInt(out, CANCEL_REQUEST);
    writeInt(out, pid);
    writeInt(out, secret);
    return out.toByteArray();
  }

  static void writeInt(ByteArrayOutputStream out, int v) {
    out.write(v >>> 24);
    out.write(v >>> 16);
    out.write(v >>> 8);
    out.write(v);
  }

  static int readInt(byte[] b, int at) {
    return ((b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
  }

  static void putInt(byte[] b, int at, int v) {
    b[at] = (byte) (v >>> 24);
    b[at + 1] = (byte) (v >>> 16);
    b[at + 2] = (byte) (v >>> 8);
    b[at + 3] = (byte) v;
  }

  /** A typed message: its type byte and its body (without the length word). */
  record Message(byte type, byte[] body) {
    /** The message as it goes on the wire. */
    byte[] bytes() {
      byte[] b = new byte[body.length + 5];
      b[0] = type;
      putInt(b, 1, body.length + 4);
      System.arraycopy(body, 0, b, 5, body.length);
      return b;
    }
  }

  /** Reads one typed message of at most {@code maxBody} bytes; null at end of stream before its first byte. */
  static Message readMessage(DataInputStream in, int maxBody) throws IOException {
    int type = in.read();
    if (type < 0) {
      return null;
    }
    int length = in.readInt();
    if (length < 4 || length - 4 > maxBody) {
      throw new ProtocolException("a message of type '" + (char) type + "' declares " + length + " bytes");
    }
    byte[] body = new byte[length - 4];
    in.readFully(body);
    return new Message((byte) type, body);
  }

  /** Reads exactly {@code n} bytes, or throws EOFException. */
  static byte[] readExactly(InputStream in, int n) throws IOException {
    byte[] b = in.readNBytes(n);
    if (b.length != n) {
      throw new EOFException("the peer closed the connection after " + b.length + " of " + n + " bytes");
    }
    return b;
  }

  /** A client or compute broke the protocol; the message says how, for the client and the log. */
  static final class ProtocolException extends IOException {
    ProtocolException(String message) {
      super(message);
    }
  }
}

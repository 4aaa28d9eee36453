package dev.arbor.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/** A TCP port on loopback that was free a moment ago. Callers retry when they lose the race for it. */
public final class FreePort {
  private static final java.util.Random RANDOM = new java.util.Random();

  private FreePort() {}

  /**
   * A free port below Linux's ephemeral range (32768 and up), for a process that is stopped and started
   * again on the same port: an ephemeral port freed by the stop could be handed to any other socket
   * (e.g. a PostgreSQL started on {@link #pick()}) before the restart.
   */
  public static int pickStable() {
    for (int attempt = 0; attempt < 200; attempt++) {
      int port = 20000 + RANDOM.nextInt(12000);
      try (var socket = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
        return port;
      } catch (IOException taken) {
        // try another
      }
    }
    throw new IllegalStateException("no free loopback port between 20000 and 32000");
  }

  public static int pick() {
    try (var socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      socket.setReuseAddress(true);
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot find a free loopback port", e);
    }
  }
}

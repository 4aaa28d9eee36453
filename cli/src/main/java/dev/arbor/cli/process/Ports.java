package dev.arbor.cli.process;

import dev.arbor.cli.CliException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.Random;

/** Loopback ports for the processes the CLI starts. */
public final class Ports {
  private static final Random RANDOM = new Random();

  private Ports() {}

  /**
   * A free port below Linux's ephemeral range (32768 and up), for processes that keep their port for the
   * life of the installation: an ephemeral one could be taken by any outgoing connection while Arbor is down.
   */
  public static int stable() {
    for (int attempt = 0; attempt < 200; attempt++) {
      int port = 20000 + RANDOM.nextInt(12000);
      try (var s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
        return port;
      } catch (IOException taken) {
        // try another
      }
    }
    throw new CliException("no free loopback port between 20000 and 32000 for the storage engine");
  }

  /** Any free port, for a process that gets a new one each time it starts (an endpoint). */
  public static int any() {
    try (var s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new CliException("cannot find a free loopback port: " + e.getMessage());
    }
  }
}

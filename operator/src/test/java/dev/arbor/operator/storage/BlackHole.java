package dev.arbor.operator.storage;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A server that accepts connections and never answers them: what a partition that drops packets looks like to a client. */
public final class BlackHole implements AutoCloseable {
  private final ServerSocket server = new ServerSocket(0, 1000, InetAddress.getLoopbackAddress());
  private final List<Socket> held = new CopyOnWriteArrayList<>();

  public BlackHole() throws IOException {
    Thread.ofPlatform().daemon().name("black-hole").start(() -> {
      while (!server.isClosed()) {
        try {
          held.add(server.accept());
        } catch (IOException e) {
          return; // closed
        }
      }
    });
  }

  public String url() {
    return "http://127.0.0.1:" + server.getLocalPort();
  }

  /** Connections accepted so far. */
  public int connections() {
    return held.size();
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : held) {
      s.close();
    }
  }
}

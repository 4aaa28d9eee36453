package dev.arbor.proxy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves the bytes of established plain-TCP connections between clients and computes: one thread per core, each
 * with a selector over non-blocking sockets. A byte read from one side is written to the other in the same turn (one
 * read(2) and one write(2) per chunk); when the other side cannot take it all, the rest waits in a buffer of that
 * connection and its source is not read until it is gone (back pressure). A busy thread takes every ready connection
 * in one wake-up, where a thread per direction would need a wake-up per message.
 *
 * <p>Everything about a connection happens on its thread; other threads only queue work for it ({@link
 * Relay#closeComputeSide}).
 */
final class Relays implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Relays.class);
  /** The read buffer of a thread: a connection's bytes pass through it, they stay in it only while a side is slow. */
  private static final int CHUNK = 64 * 1024;

  private final Loop[] loops;
  private final AtomicInteger next = new AtomicInteger();

  Relays(int threads) throws IOException {
    loops = new Loop[threads];
    for (int i = 0; i < threads; i++) {
      loops[i] = new Loop(Selector.open());
      Thread.ofPlatform().daemon().name("relay-" + i).start(loops[i]);
    }
  }

  /**
   * Relays {@code client} and {@code backend} (connected, in blocking mode, nothing read from either that was not passed
   * on, except {@code toClient}: the compute's bytes already read and not yet sent) until either side closes; then
   * {@code session} ends.
   */
  Relay start(ClientSession session, SocketChannel client, SocketChannel backend, byte[] toClient,
      ClientSession.MessageBoundary boundary) throws IOException {
    client.configureBlocking(false);
    backend.configureBlocking(false);
    var relay = new Relay(session, client, backend, boundary);
    if (toClient.length > 0) {
      boundary.advance(toClient, toClient.length);
      relay.b2c.pending = ByteBuffer.wrap(toClient);
    }
    Loop loop = loops[Math.floorMod(next.getAndIncrement(), loops.length)];
    relay.loop = loop;
    loop.submit(relay::register);
    return relay;
  }

  @Override
  public void close() {
    for (Loop loop : loops) {
      loop.submit(loop::stop);
    }
  }

  private static final class Loop implements Runnable {
    private final Selector selector;
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK);
    private volatile boolean stopped;

    Loop(Selector selector) {
      this.selector = selector;
    }

    void submit(Runnable task) {
      tasks.add(task);
      selector.wakeup();
    }

    void stop() {
      stopped = true;
      for (SelectionKey key : selector.keys()) {
        if (key.attachment() instanceof Side side) {
          side.relay().end();
        }
      }
    }

    @Override
    public void run() {
      try (selector) {
        while (!stopped) {
          selector.select(this::ready);
          Runnable task;
          while ((task = tasks.poll()) != null) {
            task.run();
          }
        }
      } catch (IOException | RuntimeException e) {
        log.error("event=relay_thread_failed error=\"{}\"", e.toString());
      }
    }

    private void ready(SelectionKey key) {
      Side side = (Side) key.attachment();
      Relay relay = side.relay();
      try {
        int ready = key.readyOps();
        if ((ready & SelectionKey.OP_WRITE) != 0) {
          relay.drain(side);
        }
        if ((ready & SelectionKey.OP_READ) != 0 && key.isValid()) {
          relay.pump(side, chunk);
        }
      } catch (IOException | CancelledKeyException e) {
        relay.end(); // either side is gone: the other goes too, as with a direct connection
      }
    }
  }

  /** One of a connection's two sockets, as the selector sees it. */
  private record Side(Relay relay, boolean client) {}

  /** Bytes from {@code from} to {@code to}, with what {@code to} could not take yet. */
  private static final class Flow {
    final SocketChannel from;
    final SocketChannel to;
    ByteBuffer pending;
    boolean ended;

    Flow(SocketChannel from, SocketChannel to) {
      this.from = from;
      this.to = to;
    }
  }

  /** One established connection: the client's socket, the compute's, and the bytes between them. */
  static final class Relay {
    private final ClientSession session;
    private final SocketChannel client;
    private final SocketChannel backend;
    private final ClientSession.MessageBoundary boundary;
    private final Flow c2b;
    private final Flow b2c;
    private Loop loop;
    private SelectionKey clientKey;
    private SelectionKey backendKey;
    private boolean over;

    private Relay(ClientSession session, SocketChannel client, SocketChannel backend, ClientSession.MessageBoundary boundary) {
      this.session = session;
      this.client = client;
      this.backend = backend;
      this.boundary = boundary;
      this.c2b = new Flow(client, backend);
      this.b2c = new Flow(backend, client);
    }

    private void register() {
      try {
        clientKey = client.register(loop.selector, 0, new Side(this, true));
        backendKey = backend.register(loop.selector, 0, new Side(this, false));
        if (b2c.pending != null) {
          write(b2c);
        }
        interests();
      } catch (IOException e) {
        end();
      }
    }

    /** Reads what {@code side} has and writes it to the other side at once; what the other cannot take waits. */
    private void pump(Side side, ByteBuffer chunk) throws IOException {
      Flow flow = side.client() ? c2b : b2c;
      chunk.clear();
      int n = flow.from.read(chunk);
      if (n < 0) {
        flow.ended = true;
        if (flow.pending == null) {
          finish(flow);
        }
        interests();
        return;
      }
      chunk.flip();
      if (flow == b2c) {
        boundary.advance(chunk);
      }
      flow.to.write(chunk);
      if (chunk.hasRemaining()) {
        flow.pending = ByteBuffer.allocate(chunk.remaining()).put(chunk).flip();
        interests();
      }
    }

    /** Writes what waits for the socket of {@code side}; a flow whose source ended is finished once it is all out. */
    private void drain(Side side) throws IOException {
      Flow flow = side.client() ? b2c : c2b;
      write(flow);
      if (flow.pending == null && flow.ended) {
        finish(flow);
      }
      interests();
    }

    /** A source ended and everything it sent is out: the compute's end ends the connection; the client's end, its input. */
    private void finish(Flow flow) throws IOException {
      if (flow == b2c) {
        end(); // the client learns it as it would from PostgreSQL itself
      } else {
        backend.shutdownOutput(); // PostgreSQL sees the end of its input and ends the backend
      }
    }

    private static void write(Flow flow) throws IOException {
      flow.to.write(flow.pending);
      if (!flow.pending.hasRemaining()) {
        flow.pending = null;
      }
    }

    /** A socket is read while the other side took everything read from it; it is watched for writing while it owes. */
    private void interests() {
      if (over) {
        return;
      }
      clientKey.interestOps((c2b.ended || c2b.pending != null ? 0 : SelectionKey.OP_READ)
          | (b2c.pending != null ? SelectionKey.OP_WRITE : 0));
      backendKey.interestOps((b2c.pending != null ? 0 : SelectionKey.OP_READ)
          | (c2b.pending != null ? SelectionKey.OP_WRITE : 0));
    }

    /**
     * Ends the compute's side with a FATAL ErrorResponse {@code message} (from any thread): it goes to the client after
     * the compute's last whole message, or not at all when the compute was in the middle of one.
     */
    void closeComputeSide(byte[] message) {
      loop.submit(() -> {
        if (over) {
          return;
        }
        close(backend);
        ByteBuffer tail = boundary.atBoundary() ? ByteBuffer.wrap(message) : ByteBuffer.allocate(0);
        try {
          // Best effort, without waiting: a client that does not read what it was sent does not read this either.
          if (b2c.pending != null) {
            client.write(b2c.pending);
          }
          if (b2c.pending == null || !b2c.pending.hasRemaining()) {
            client.write(tail);
          }
        } catch (IOException e) {
          // the client is gone as well
        }
        end();
      });
    }

    /** Closes both sockets and ends the session, once. */
    private void end() {
      if (over) {
        return;
      }
      over = true;
      close(client);
      close(backend);
      session.relayEnded();
    }

    private static void close(SocketChannel channel) {
      try {
        channel.close();
      } catch (IOException ignored) {
        // closing: nothing left to do with it
      }
    }
  }
}

package dev.arbor.compute.agent;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;

/**
 * Follows the log file PostgreSQL writes (its stdout and stderr) and copies every line to the agent's
 * stdout as it is, so a compute has one log stream, as a container's should. Only lines written after the
 * forwarder was created are copied (a reused work dir keeps its old log). Following a file rather than a
 * pipe keeps PostgreSQL independent of the agent's output: a stalled reader never blocks a backend.
 */
final class PostgresLogForwarder implements AutoCloseable {
  private static final Duration POLL = Duration.ofMillis(100);

  private final Path file;
  private final PrintStream out;
  private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
  private final ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
  private long position;
  private volatile boolean running = true;
  private Thread thread;

  PostgresLogForwarder(Path file, PrintStream out) throws IOException {
    this.file = file;
    this.out = out;
    this.position = Files.exists(file) ? Files.size(file) : 0;
  }

  PostgresLogForwarder start() {
    thread = Thread.ofPlatform().daemon().name("postgres-log").start(() -> {
      while (running) {
        copyNewLines();
        try {
          Thread.sleep(POLL);
        } catch (InterruptedException e) {
          return;
        }
      }
    });
    return this;
  }

  /** Copies whatever complete lines were appended since the last call. */
  private synchronized void copyNewLines() {
    if (!Files.exists(file)) {
      return;
    }
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      if (ch.size() < position) {
        position = 0; // truncated or replaced: start over
      }
      ch.position(position);
      int n;
      while ((n = ch.read(buffer.clear())) > 0) {
        position += n;
        byte[] bytes = buffer.array();
        for (int i = 0; i < n; i++) {
          if (bytes[i] == '\n') {
            out.println(partial.toString(StandardCharsets.UTF_8));
            partial.reset();
          } else {
            partial.write(bytes[i]);
          }
        }
      }
    } catch (IOException e) {
      // the next poll tries again; the file only grows while PostgreSQL runs
    }
  }

  /** Stops following after copying what PostgreSQL wrote last (call it once PostgreSQL exited). */
  @Override
  public void close() {
    running = false;
    if (thread != null) {
      thread.interrupt();
      try {
        thread.join(Duration.ofSeconds(5));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    copyNewLines();
    synchronized (this) {
      if (partial.size() > 0) {
        out.println(partial.toString(StandardCharsets.UTF_8));
        partial.reset();
      }
    }
    out.flush();
  }
}

package dev.arbor.compute.testing;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Concurrent writers that insert rows {@code (id, writer)} into {@code ledger_rows} one transaction at a time
 * and record an id only after its COMMIT returned: the set of acknowledged commits. Every recorded id must be
 * found again after any failure; ids whose commit never returned may or may not be there.
 */
public final class CommitLedger implements AutoCloseable {
  public static final String DDL = "CREATE TABLE IF NOT EXISTS ledger_rows (id bigint PRIMARY KEY, writer int, pad text)";

  private final Set<Long> acknowledged = new ConcurrentSkipListSet<>();
  private final AtomicLong nextId = new AtomicLong(1);
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final List<Thread> writers;
  private final AtomicLong errors = new AtomicLong();

  /** Starts {@code count} writers, each with its own connection from {@code connections}. */
  public CommitLedger(int count, Supplier<Connection> connections) {
    this.writers = java.util.stream.IntStream.range(0, count).mapToObj(w -> Thread.ofPlatform().daemon().name("ledger-writer-" + w).start(() -> {
      while (running.get()) {
        try (Connection c = connections.get();
             PreparedStatement ps = c.prepareStatement("INSERT INTO ledger_rows VALUES (?, ?, repeat('x', 100))")) {
          while (running.get()) {
            long id = nextId.getAndIncrement();
            ps.setLong(1, id);
            ps.setInt(2, w);
            ps.executeUpdate(); // autocommit: returns once the commit was acknowledged
            acknowledged.add(id);
          }
        } catch (SQLException | RuntimeException e) {
          errors.incrementAndGet(); // the compute went away (killed) or the connection broke: reconnect
          sleep(50);
        }
      }
    })).toList();
  }

  public Set<Long> acknowledged() {
    return Set.copyOf(acknowledged);
  }

  public int count() {
    return acknowledged.size();
  }

  /** Stops writing; writers blocked in a commit that never returns are abandoned (daemon threads). */
  @Override
  public void close() {
    running.set(false);
    for (Thread t : writers) {
      try {
        t.join(2000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}

package dev.arbor.compute.start;

import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Work a compute repeats beside PostgreSQL (the agent's sample, the {@link SlotTrimmer}'s pass): once every interval,
 * on a platform thread of its own (JDBC over the unix socket blocks in native I/O), until it returns false or is
 * closed. A failure is logged once per streak, {@code event=<name>_failed}, and its end once,
 * {@code event=<name>_recovered}: a busy or briefly unreachable server is not news at every pass.
 */
public final class BackgroundPass implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(BackgroundPass.class);

  /** One pass; false ends the repetition. */
  @FunctionalInterface
  public interface Pass {
    boolean run() throws Exception;
  }

  private final String event;
  private final String fields;
  private final Duration interval;
  private final Pass pass;
  private final Thread thread;
  private volatile boolean running = true;

  private BackgroundPass(String threadName, String event, String fields, Duration interval, Pass pass) {
    this.event = event;
    this.fields = fields.isEmpty() ? "" : " " + fields;
    this.interval = interval;
    this.pass = pass;
    this.thread = Thread.ofPlatform().daemon().name(threadName).unstarted(this::loop);
  }

  /**
   * Starts repeating {@code pass}, the first time one interval from now.
   *
   * @param event the event name of its log lines, e.g. {@code sample}
   * @param fields more {@code key=value} fields for those lines, or ""
   */
  public static BackgroundPass start(String threadName, String event, String fields, Duration interval, Pass pass) {
    var b = new BackgroundPass(threadName, event, fields, interval, pass);
    b.thread.start();
    return b;
  }

  private void loop() {
    boolean failing = false;
    while (running) {
      try {
        Thread.sleep(interval);
      } catch (InterruptedException e) {
        return;
      }
      if (!running) {
        return;
      }
      try {
        if (!pass.run()) {
          return;
        }
        if (failing) {
          log.info("event={}_recovered{}", event, fields);
          failing = false;
        }
      } catch (InterruptedException e) {
        return;
      } catch (Exception e) {
        if (!failing && running) {
          log.warn("event={}_failed{} error=\"{}\"", event, fields, String.valueOf(e.getMessage()).replace('"', '\''));
          failing = true;
        }
      }
    }
  }

  /** Stops repeating and waits (up to 10 s) for a pass under way. */
  @Override
  public void close() {
    running = false;
    thread.interrupt();
    try {
      thread.join(Duration.ofSeconds(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}

package dev.arbor.storage.safekeeper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/**
 * The writes and fsyncs the code under test really issued, observed with JDK Flight Recorder's
 * {@code jdk.FileWrite} and {@code jdk.FileForce} events: a test can tell what is on disk after a power
 * loss without a seam in the code, and without trusting its comments. A directory's fsync is a
 * {@code jdk.FileForce} on the directory's path.
 */
final class FileIo {

  enum Kind { WRITE, FORCE }

  record Event(Kind kind, Path path, Instant start) {}

  @FunctionalInterface
  interface Action {
    void run() throws Exception;
  }

  private FileIo() {}

  /** Runs {@code action} and returns the writes and forces of every thread meanwhile, in start order. */
  static List<Event> during(Action action) throws Exception {
    try (Recording recording = new Recording()) {
      recording.enable("jdk.FileWrite").withThreshold(Duration.ZERO).withoutStackTrace();
      recording.enable("jdk.FileForce").withThreshold(Duration.ZERO).withoutStackTrace();
      recording.start();
      try {
        action.run();
      } finally {
        recording.stop();
      }
      Path dump = Files.createTempFile("arbor-file-io-", ".jfr");
      try {
        recording.dump(dump);
        return RecordingFile.readAllEvents(dump).stream()
            // Writes to streams without a path (the console of a logger, another thread's pipe) are not files.
            .filter(e -> e.getString("path") != null)
            .map(FileIo::event)
            .sorted(Comparator.comparing(Event::start))
            .toList();
      } finally {
        Files.deleteIfExists(dump);
      }
    }
  }

  /** Paths of the files and directories forced among {@code events}, in order. */
  static List<Path> forced(List<Event> events) {
    return events.stream().filter(e -> e.kind() == Kind.FORCE).map(Event::path).toList();
  }

  private static Event event(RecordedEvent e) {
    Kind kind = e.getEventType().getName().equals("jdk.FileForce") ? Kind.FORCE : Kind.WRITE;
    return new Event(kind, Path.of(e.getString("path")), e.getStartTime());
  }
}

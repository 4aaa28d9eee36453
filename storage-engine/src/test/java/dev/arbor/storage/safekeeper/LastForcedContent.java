package dev.arbor.storage.safekeeper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * What a power loss leaves of a file that the code rewrites in place without always forcing it: the
 * content it had when the code last forced it. Bytes written after that force may or may not have
 * reached the disk; the image takes the worst case, that none did. The forces are the ones the code
 * really issued ({@link FileIo}).
 */
final class LastForcedContent {

  private final Path file;
  private byte[] durable;

  /** Starts from {@code file}'s current content, which the caller knows is on disk (created durably or forced). */
  LastForcedContent(Path file) throws IOException {
    this.file = file.toAbsolutePath().normalize();
    this.durable = Files.readAllBytes(this.file);
  }

  /** Runs {@code action}; when it forced the file, the content it left becomes what a power loss keeps. */
  void run(FileIo.Action action) throws Exception {
    List<FileIo.Event> events = FileIo.during(action).stream().filter(e -> e.path().equals(file)).toList();
    Optional<FileIo.Event> lastForce = events.stream().filter(e -> e.kind() == FileIo.Kind.FORCE)
        .reduce((first, second) -> second);
    if (lastForce.isEmpty()) {
      return;
    }
    boolean writtenAfter = events.stream()
        .anyMatch(e -> e.kind() == FileIo.Kind.WRITE && e.start().isAfter(lastForce.get().start()));
    if (writtenAfter) {
      throw new IllegalStateException("the action wrote " + file + " after its last force, so its content now "
          + "is not what the force made durable: observe a smaller action");
    }
    durable = Files.readAllBytes(file);
  }

  /** Puts back what a power loss at this point keeps; call it while nothing has the file open. */
  void powerLoss() throws IOException {
    Files.write(file, durable);
  }
}

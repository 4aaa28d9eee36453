package dev.arbor.cli.command;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The lock over one endpoint's start, stop, suspend and wake: the CLI and the local proxy daemon both change an
 * endpoint, so each change holds this file lock ({@code endpoint.lock}) for its duration, and within one JVM a
 * lock per endpoint as well (a file lock is held per process, not per thread).
 */
final class EndpointLock implements AutoCloseable {
  private static final ConcurrentHashMap<Path, ReentrantLock> IN_PROCESS = new ConcurrentHashMap<>();

  private final ReentrantLock local;
  private final FileChannel channel;
  private final FileLock lock;

  private EndpointLock(ReentrantLock local, FileChannel channel, FileLock lock) {
    this.local = local;
    this.channel = channel;
    this.lock = lock;
  }

  static EndpointLock take(Installation inst, String project, String branch) {
    Path file = inst.home.endpoint(project, branch).resolve("endpoint.lock");
    ReentrantLock local = IN_PROCESS.computeIfAbsent(file, f -> new ReentrantLock());
    local.lock();
    try {
      Files.createDirectories(file.getParent());
      FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      try {
        return new EndpointLock(local, channel, channel.lock());
      } catch (IOException | RuntimeException e) {
        channel.close();
        throw e;
      }
    } catch (IOException e) {
      local.unlock();
      throw new UncheckedIOException("cannot lock " + file, e);
    } catch (RuntimeException e) {
      local.unlock();
      throw e;
    }
  }

  @Override
  public void close() {
    try {
      lock.release();
      channel.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      local.unlock();
    }
  }
}

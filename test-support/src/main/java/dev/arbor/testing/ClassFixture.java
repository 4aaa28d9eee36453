package dev.arbor.testing;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Something a test class runs beside it (a server, a process): registered as a static
 * {@code @RegisterExtension} field, it is started before the class's tests and closed after them; used
 * directly, {@link #start()} and {@link #close()} bound it with try-with-resources.
 */
public interface ClassFixture extends BeforeAllCallback, AfterAllCallback, AutoCloseable {

  ClassFixture start();

  @Override
  void close();

  @Override
  default void beforeAll(ExtensionContext context) {
    start();
  }

  @Override
  default void afterAll(ExtensionContext context) {
    close();
  }
}

package dev.arbor.cli;

import dev.arbor.testing.TempDirectory;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A fresh ARBOR_HOME for each test and the {@link Arbor} that drives it; after the test, {@code arbor down}
 * and the home removed. Register it on an instance field: {@code @RegisterExtension final FreshArborHome home = ...}.
 */
final class FreshArborHome implements BeforeEachCallback, AfterEachCallback {
  private final String prefix;
  private TempDirectory home;
  private Arbor arbor;

  FreshArborHome(String prefix) {
    this.prefix = prefix;
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    home = TempDirectory.create(prefix);
    arbor = new Arbor(home.path());
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    try {
      arbor.run("down");
    } finally {
      home.close();
    }
  }

  Arbor arbor() {
    return arbor;
  }

  Path path() {
    return home.path();
  }

  Path resolve(String other) {
    return home.resolve(other);
  }
}

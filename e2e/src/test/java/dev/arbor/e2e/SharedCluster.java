package dev.arbor.e2e;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Gives test classes one {@link ClusterProvider} for the whole run: brought up (or found) by the first
 * class that asks, closed after the last class ran, so the local cluster starts once, not once per class.
 * Use {@code @ExtendWith(SharedCluster.class)} and take a {@code ClusterProvider} parameter in {@code @BeforeAll}.
 */
public final class SharedCluster implements ParameterResolver {
  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == ClusterProvider.class;
  }

  @Override
  public ClusterProvider resolveParameter(ParameterContext parameter, ExtensionContext context) {
    // The root store closes what it holds (AutoCloseable) when the run ends.
    return context.getRoot().getStore(ExtensionContext.Namespace.GLOBAL)
        .computeIfAbsent(ClusterProvider.class, k -> ClusterProvider.fromEnvironment(), ClusterProvider.class);
  }
}

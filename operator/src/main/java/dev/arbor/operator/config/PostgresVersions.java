package dev.arbor.operator.config;

import io.quarkus.runtime.StartupEvent;
import io.quarkus.runtime.configuration.ConfigurationException;
import jakarta.annotation.Priority;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Singleton;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The PostgreSQL majors of this installation: those its compute image carries ({@code arbor.postgres.available-versions})
 * and the one a Project gets when it names none ({@code arbor.postgres.default-version}), which must be among them.
 */
@Singleton
public class PostgresVersions {
  private final List<Integer> available;
  private final int defaultVersion;

  public PostgresVersions(OperatorConfig config) {
    this.available = config.postgres().availableVersions().stream().distinct().sorted().toList();
    this.defaultVersion = config.postgres().defaultVersion();
  }

  /**
   * Refuses to start with a default the compute image does not carry: every Project without a version would be
   * stalled. Before quarkus-operator-sdk starts the controllers (its observer has priority 3123). Quarkus prints
   * a {@link ConfigurationException}'s message as the one line of a failed start, without a stack trace.
   */
  void check(@Observes @Priority(1000) StartupEvent event) {
    if (!available.contains(defaultVersion)) {
      throw new ConfigurationException("arbor.postgres.default-version (ARBOR_POSTGRES_DEFAULT_VERSION) " + defaultVersion
          + " is not among arbor.postgres.available-versions (ARBOR_POSTGRES_AVAILABLE_VERSIONS) "
          + available.stream().map(String::valueOf).collect(Collectors.joining(","))
          + ", the PostgreSQL majors of the compute image: set the default to " + either() + ", or list " + defaultVersion
          + " as available if the image carries it");
    }
  }

  public boolean isAvailable(int major) {
    return available.contains(major);
  }

  /** The available majors as a sentence lists them: "17", "16 and 17", "15, 16 and 17". */
  public String all() {
    return join(" and ");
  }

  /** "17", "16 or 17", "15, 16 or 17". */
  public String either() {
    return join(" or ");
  }

  private String join(String last) {
    if (available.size() == 1) {
      return available.getFirst().toString();
    }
    return available.subList(0, available.size() - 1).stream().map(String::valueOf).collect(Collectors.joining(", "))
        + last + available.getLast();
  }
}

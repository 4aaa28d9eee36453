package dev.arbor.operator.config;

import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/**
 * JOSDK's reconciliation metrics ({@code operator_sdk_*} at {@code /q/metrics}). quarkus-operator-sdk's default
 * producer hands JOSDK its metrics before Micrometer has bound the registry, which leaves them a no-op here; this
 * producer takes the registry directly. Without per-resource meters: their number would grow with every
 * Branch and Endpoint ever reconciled.
 */
@Singleton
public class OperatorMetrics {
  @Produces
  @Singleton
  Metrics metrics(MeterRegistry registry) {
    return MicrometerMetrics.withoutPerResourceMetrics(registry);
  }
}

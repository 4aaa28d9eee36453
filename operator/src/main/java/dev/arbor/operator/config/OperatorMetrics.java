package dev.arbor.operator.config;

import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetricsV2;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/**
 * JOSDK's reconciliation metrics at {@code /q/metrics} ({@code reconciliations_started_total},
 * {@code reconciliations_failure_total}, {@code reconciliations_execution_duration_seconds}, ... per controller).
 * quarkus-operator-sdk's default producer hands JOSDK its metrics before Micrometer has bound the registry, which
 * leaves them a no-op here; this producer takes the registry directly. The V2 meters are per controller (and
 * namespace), not per resource: their number does not grow with every Branch and Endpoint ever reconciled.
 */
@Singleton
public class OperatorMetrics {
  @Produces
  @Singleton
  Metrics metrics(MeterRegistry registry) {
    return MicrometerMetricsV2.newBuilder(registry).withNamespaceAsTag().build();
  }
}

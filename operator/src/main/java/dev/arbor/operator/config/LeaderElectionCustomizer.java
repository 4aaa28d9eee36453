package dev.arbor.operator.config;

import io.javaoperatorsdk.operator.api.config.ConfigurationServiceOverrider;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import io.quarkiverse.operatorsdk.runtime.api.ConfigurationServiceCustomizer;
import jakarta.inject.Singleton;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/**
 * Leader election on a Lease ({@code arbor.leader-election.*}): of several operator replicas only the holder
 * reconciles; the others wait, ready to take over when the holder stops renewing.
 */
@Singleton
public class LeaderElectionCustomizer implements ConfigurationServiceCustomizer {
  private static final Logger log = Logger.getLogger(LeaderElectionCustomizer.class);
  private final OperatorConfig config;

  public LeaderElectionCustomizer(OperatorConfig config) {
    this.config = config;
  }

  @Override
  public Consumer<ConfigurationServiceOverrider> overrider() {
    var le = config.leaderElection();
    if (!le.enabled()) {
      log.info("event=leader_election_disabled");
      return o -> {};
    }
    log.infof("event=leader_election_enabled lease=%s namespace=%s lease_duration=%s", le.leaseName(),
        le.leaseNamespace().orElse("(the operator's own)"), le.leaseDuration());
    var builder = LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(le.leaseName())
        .withLeaseDuration(le.leaseDuration()).withRenewDeadline(le.renewDeadline()).withRetryPeriod(le.retryPeriod());
    le.leaseNamespace().ifPresent(builder::withLeaseNamespace);
    LeaderElectionConfiguration configuration = builder.build();
    return o -> o.withLeaderElectionConfiguration(configuration);
  }
}

package dev.arbor.operator.endpoint;

import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.operator.config.OperatorConfig;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaimBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.runtime.configuration.ConfigurationException;
import jakarta.annotation.Priority;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.math.BigDecimal;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The opt-in PersistentVolumeClaim {@code <endpoint>-pgdata} that a read-write compute's data path lives on instead
 * of an emptyDir, so that its PGDATA survives a suspend (the StatefulSet at 0 replicas) and the compute agent can
 * start on it again without a basebackup. A standalone claim named in the pod template, not a volumeClaimTemplate:
 * those cannot be added to or removed from an existing StatefulSet, and the claim must be controller-owned by the
 * Endpoint so that it goes with it. Read-only computes keep the emptyDir: the agent reuses only a read-write PGDATA,
 * so a claim would cost them storage and attach time for nothing.
 */
@Singleton
public class PgdataVolume {
  static final String CLAIM_SUFFIX = "-pgdata";
  /** A storage quantity as Kubernetes writes one: digits with an optional fraction and a binary or decimal suffix. */
  private static final Pattern QUANTITY = Pattern.compile("[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?");
  /** A StorageClass name is a DNS subdomain. */
  private static final Pattern SUBDOMAIN = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");

  private final Optional<String> storageClass;
  private final String size;

  @Inject
  public PgdataVolume(OperatorConfig config) {
    this(config.compute().pgdataVolume().storageClass(), config.compute().pgdataVolume().size());
  }

  PgdataVolume(Optional<String> storageClass, String size) {
    this.storageClass = storageClass.map(String::trim).filter(s -> !s.isEmpty());
    this.size = size.trim();
  }

  /**
   * Refuses to start with a size or class no claim could have: every read-write Endpoint would fail to apply its claim.
   * Before quarkus-operator-sdk starts the controllers (see {@code PostgresVersions#check}).
   */
  void check(@Observes @Priority(1000) StartupEvent event) {
    problem().ifPresent(p -> {
      throw new ConfigurationException(p);
    });
  }

  /** What is wrong with the settings, as the one line of a refused start; empty when they are usable. */
  Optional<String> problem() {
    if (storageClass.isPresent() && (storageClass.get().length() > 253 || !SUBDOMAIN.matcher(storageClass.get()).matches())) {
      return Optional.of("arbor.compute.pgdata-volume.storage-class (ARBOR_COMPUTE_PGDATA_VOLUME_STORAGE_CLASS) '"
          + storageClass.get() + "' is not a StorageClass name (lower-case letters, digits, '-' and '.'); name one of "
          + "'kubectl get storageclass', or unset it for an emptyDir");
    }
    if (!QUANTITY.matcher(size).matches() || Quantity.getAmountInBytes(Quantity.parse(size)).compareTo(BigDecimal.ONE) < 0) {
      return Optional.of("arbor.compute.pgdata-volume.size (ARBOR_COMPUTE_PGDATA_VOLUME_SIZE) '" + size + "' is not a storage "
          + "size; write a Kubernetes quantity of at least one byte, e.g. 10Gi or 500M");
    }
    return Optional.empty();
  }

  /** True when read-write computes get a claim. */
  boolean enabled() {
    return storageClass.isPresent();
  }

  static String claimName(Endpoint e) {
    return e.getMetadata().getName() + CLAIM_SUFFIX;
  }

  /** The Endpoint's claim: ReadWriteOnce (one compute pod at a time mounts it), of the configured class and size. */
  PersistentVolumeClaim claim(Endpoint e, Map<String, String> labels) {
    return new PersistentVolumeClaimBuilder()
        .withNewMetadata().withName(claimName(e)).withNamespace(e.getMetadata().getNamespace()).withLabels(labels)
        .withOwnerReferences(ComputeResources.owner(e)).endMetadata()
        .withNewSpec()
        .withAccessModes("ReadWriteOnce")
        .withStorageClassName(storageClass.orElseThrow())
        .withNewResources().addToRequests("storage", Quantity.parse(size)).endResources()
        .endSpec()
        .build();
  }
}

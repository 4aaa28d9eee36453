package dev.arbor.operator.config;

import dev.arbor.api.compute.AgentCommand;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The operator's own settings ({@code arbor.*} in application.properties, or {@code ARBOR_*} environment
 * variables); docs/operator.md lists them. Watched namespaces are quarkus-operator-sdk's
 * {@code quarkus.operator-sdk.namespaces}.
 */
@ConfigMapping(prefix = "arbor")
public interface OperatorConfig {

  StorageEngine storageEngine();

  Postgres postgres();

  Compute compute();

  Proxy proxy();

  LeaderElection leaderElection();

  Auth auth();

  Tls tls();

  /**
   * TLS between the components on Kubernetes (docs/security.md, "TLS"): the CA, the storage daemons' certificate and each
   * Endpoint's, which the operator issues ({@code dev.arbor.operator.auth.CertificateIssuer}). The CA's and the daemons'
   * Secrets live with the storage-auth objects ({@code arbor.auth.namespace}, names prefixed {@code arbor.auth.name-prefix}).
   */
  interface Tls {
    /**
     * On: the operator issues certificates, computes run PostgreSQL with {@code ssl=on} and are followed over TLS, and
     * the operator trusts the storage engine through the installation's CA only. The Helm chart turns it on.
     */
    @WithDefault("false")
    boolean enabled();

    /**
     * A CA of the user's (a {@code kubernetes.io/tls} Secret with the CA's {@code tls.crt} and {@code tls.key}, as a
     * cert-manager CA Certificate writes it) in {@code arbor.auth.namespace}; the operator signs with it and never writes
     * it. Unset: the operator's own CA in {@code PREFIX-ca}, made when missing and replaced well before it expires.
     */
    Optional<String> caSecret();

    /** The DNS names of the storage daemons' certificate: the pageserver's Service and every safekeeper pod. */
    Optional<List<String>> storageDnsNames();

    /** How long a certificate lives; it is issued again at two thirds of that. */
    @WithDefault("2160h")
    Duration certificateValidity();

    /** How long the operator's own CA lives; a new one takes over at two thirds of that. */
    @WithDefault("87600h")
    Duration caValidity();
  }

  /**
   * The storage-engine tokens the operator mints (docs/security.md, "Who sends which token"): their issuer, where the
   * installation's signing key, public key set and the storage daemons' token live, and how long tokens live.
   */
  interface Auth {
    /**
     * The {@code iss} of every token, the same as the pageserver's and safekeepers' {@code --auth-issuer}; required
     * (the Helm chart sets {@code arbor/NAMESPACE/RELEASE}).
     */
    Optional<String> issuer();

    /**
     * The namespace of the signing-key Secret, the public-key ConfigMap and the storage daemons' token Secret; unset:
     * the operator's own (its ServiceAccount's, or its kubeconfig's).
     */
    Optional<String> namespace();

    /**
     * The prefix of those three names: {@code PREFIX-storage-signing-key}, {@code PREFIX-storage-auth-keys},
     * {@code PREFIX-storage-token} (the Helm chart's full name of the release).
     */
    @WithDefault("arbor")
    String namePrefix();

    /**
     * How long a compute's token lives; the operator mints it again at half its life. The kubelet takes up to about
     * a minute (its sync period) to update a mounted Secret, so keep this well above that.
     */
    @WithDefault("8h")
    Duration computeTokenTtl();

    /** How long the storage daemons' {@code pageserver} token lives; minted again at half its life. */
    @WithDefault("24h")
    Duration storageTokenTtl();

    /**
     * In a key rotation, how long a new key is published in the key set before it signs: long enough for the kubelet to
     * update the ConfigMap mounted into every storage pod (its sync period plus its cache, about a minute by default).
     */
    @WithDefault("2m")
    Duration keyPropagationDelay();
  }

  interface StorageEngine {
    /** Base URL of the pageserver's HTTP API as computes reach it, e.g. {@code http://arbor-pageserver:9898}. */
    String pageserverUrl();

    /**
     * Base URL of the pageserver's management listener ({@code --management-listen}), e.g.
     * {@code http://arbor-pageserver:9899}: every call of the operator itself goes there. Unset: to
     * {@link #pageserverUrl()}, which then serves everything.
     */
    Optional<String> pageserverManagementUrl();

    /** Safekeepers as {@code id=url} entries, e.g. {@code sk-0=http://arbor-safekeeper-0.arbor-safekeeper:7676}. */
    List<String> safekeepers();

    /**
     * Timeout of one storage-engine request (connect, and then the answer). A call is made once: the reconcile
     * thread is never held longer than this, and JOSDK's retry does the backoff.
     */
    @WithDefault("10s")
    Duration requestTimeout();

    /**
     * Attempts per storage-engine call when the connection is refused (a pageserver restarting), 100 ms apart,
     * doubling; a timeout or an error answer is never repeated in the call.
     */
    @WithDefault("3")
    int attempts();

    /**
     * Storage-engine calls in flight at once, over all controllers; a reconcile that finds no free slot within a
     * second fails (retried later) instead of queueing. Keep it below quarkus.operator-sdk.concurrent-reconciliation-threads
     * (50), so that a storage engine that does not answer leaves threads for work that needs none (Endpoints).
     */
    @WithDefault("10")
    int maxConcurrentCalls();

    /**
     * Development only: storage tokens may go over plain {@code http://} (the operator's own, and the computes' through
     * {@code storage_insecure_http} in their specs), as the daemons do with {@code --insecure-no-tls}. Off, a token is
     * never sent to an {@code http://} URL.
     */
    @WithDefault("false")
    boolean insecureHttp();
  }

  interface Postgres {
    /** The PostgreSQL major version of a Project that does not name one; one of {@link #availableVersions()}. */
    @WithDefault("17")
    int defaultVersion();

    /** The PostgreSQL majors the compute image carries: a Project may ask for these only. */
    @WithDefault("17")
    List<Integer> availableVersions();
  }

  interface Compute {
    /**
     * The compute image: PostgreSQL of the project's major version plus the compute agent. By default the one
     * of the operator's own version (never a moving tag such as latest: with IfNotPresent, nodes would run
     * different builds).
     */
    @WithDefault("ghcr.io/arbor-dev/arbor-compute:${quarkus.application.version}")
    String image();

    @WithDefault("IfNotPresent")
    String imagePullPolicy();

    /** The command that runs the compute agent in the image; the spec comes in $ARBOR_COMPUTE_SPEC. */
    @WithDefault("java,-XX:+UseSerialGC,-cp,/opt/arbor/lib/*," + AgentCommand.MAIN_CLASS)
    List<String> command();

    /**
     * Where the pod's data volume is mounted (an emptyDir, or the Endpoint's PersistentVolumeClaim with
     * {@link #pgdataVolume()}); PGDATA lives below it.
     */
    @WithDefault("/var/lib/arbor")
    String dataPath();

    /** The volume at {@link #dataPath()}: an emptyDir unless a storage class is set. */
    PgdataVolume pgdataVolume();

    /** PostgreSQL's port inside the pod and on the Service. */
    @WithDefault("5432")
    int port();

    /** The compute agent's HTTP port (status, metrics, probes). */
    @WithDefault("3080")
    int httpPort();

    /**
     * The UID and GID compute pods run as (the images' non-root user, docs/images.md); the pods meet Pod
     * Security "restricted".
     */
    @WithDefault("10001")
    long runAsUser();

    /** The cluster's DNS suffix for Service host names in connection Secrets. */
    @WithDefault("svc")
    String serviceDomain();

    /**
     * Running computes whose pod template changes only because of the operator (its configuration or version)
     * that may restart in any one minute; the others wait their turn (Reconciling ConfigRolloutPending).
     */
    @WithDefault("2")
    int maxConfigRolloutsPerMinute();
  }

  /**
   * Opt-in: a PersistentVolumeClaim per read-write Endpoint at the compute's data path, so that PGDATA survives a
   * suspend (docs/operator.md, "PGDATA across suspends").
   */
  interface PgdataVolume {
    /** The StorageClass of the claims; unset: no claims, the data path is an emptyDir. */
    Optional<String> storageClass();

    /** The size each claim requests, a Kubernetes quantity such as {@code 10Gi}; it must hold the database. */
    @WithDefault("10Gi")
    String size();
  }

  /** arbor-proxy, which every Endpoint's Service sends its clients to (docs/operator.md, "Routing through arbor-proxy"). */
  interface Proxy {
    /**
     * The ports the operator hands out as {@code status.proxyPort}, one per Endpoint, as {@code FIRST-LAST}: every proxy
     * pod listens on all of them, so the range stays below the nodes' ephemeral ports (Linux: 32768 and up).
     */
    @WithDefault("20000-29999")
    String portRange();

    /** The namespace of the proxy pods; unset: the operator's own (its ServiceAccount's, or its kubeconfig's). */
    Optional<String> namespace();

    /** The label selector of the proxy pods (the Helm chart's proxy Deployment). */
    @WithDefault("app.kubernetes.io/name=arbor,app.kubernetes.io/component=proxy")
    String selector();
  }

  interface LeaderElection {
    @WithDefault("true")
    boolean enabled();

    @WithDefault("arbor-operator")
    String leaseName();

    /** Namespace of the Lease; in a pod the operator's own namespace is the default. */
    Optional<String> leaseNamespace();

    @WithDefault("15s")
    Duration leaseDuration();

    @WithDefault("10s")
    Duration renewDeadline();

    @WithDefault("2s")
    Duration retryPeriod();
  }
}

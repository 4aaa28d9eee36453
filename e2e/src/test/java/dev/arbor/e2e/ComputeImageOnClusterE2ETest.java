package dev.arbor.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * arbor-compute's PostgreSQL 17 runs in a pod (non-root, read-only root filesystem, no capabilities), and a
 * second pod reaches it through a Service name: the cluster's DNS and kube-proxy work, and the image is
 * what the cluster runs. Everything it creates lives in one namespace, deleted at the end.
 */
@ExtendWith(SharedCluster.class)
class ComputeImageOnClusterE2ETest {
  private static ClusterProvider cluster;
  private static TestNamespace namespace;

  @BeforeAll
  static void cluster(ClusterProvider provider) {
    cluster = provider;
    namespace = TestNamespace.create(cluster.client());
  }

  @AfterAll
  static void removeWhatWeMade() {
    if (namespace != null) {
      namespace.close();
    }
  }

  @Test
  void aPodReachesTheComputeImagesPostgresThroughAServiceName() {
    KubernetesClient k = cluster.client();
    String image = cluster.image("compute");
    String password = UUID.randomUUID().toString();
    k.load(new ByteArrayInputStream(manifests(image, cluster.imagePullPolicy(), password).getBytes(StandardCharsets.UTF_8)))
        .inNamespace(namespace.name()).create();

    String phase = PsqlClient.awaitEnd(k, namespace.name(), Duration.ofMinutes(3));
    String out = PsqlClient.log(k, namespace.name(), PsqlClient.NAME, null);
    assertThat(phase).as("client log:%n%s%npostgres log:%n%s", out, PsqlClient.log(k, namespace.name(), "postgres", null))
        .isEqualTo("Succeeded");
    assertThat(out).contains("PostgreSQL 17").contains("answer=42");
  }

  private static String manifests(String image, String pullPolicy, String password) {
    return """
        apiVersion: v1
        kind: Secret
        metadata: {name: postgres}
        stringData: {password: "%3$s"}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: postgres, labels: {app: postgres}}
        spec:
          securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: postgres
            image: %1$s
            imagePullPolicy: %2$s
            command: [sh, -c]
            args:
            - |
              /usr/lib/postgresql/17/bin/initdb -D /data/pg -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile=/secret/password >/dev/null
              echo "host all all all scram-sha-256" >> /data/pg/pg_hba.conf
              exec /usr/lib/postgresql/17/bin/postgres -D /data/pg -c listen_addresses='*' -c unix_socket_directories=/tmp
            ports: [{containerPort: 5432}]
            readinessProbe: {tcpSocket: {port: 5432}, periodSeconds: 1}
            securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
            volumeMounts: [{name: data, mountPath: /data}, {name: tmp, mountPath: /tmp}, {name: secret, mountPath: /secret}]
          volumes:
          - {name: data, emptyDir: {}}
          - {name: tmp, emptyDir: {}}
          - {name: secret, secret: {secretName: postgres, defaultMode: 0440}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: postgres}
        spec:
          selector: {app: postgres}
          ports: [{port: 5432, targetPort: 5432}]
        ---
        """.formatted(image, pullPolicy, password)
        + PsqlClient.pod(image, pullPolicy, 120, "-h postgres -U postgres -d postgres -Atc \"SELECT version(), 'answer=' || (40 + 2)\"",
            "[{name: PGPASSWORD, valueFrom: {secretKeyRef: {name: postgres, key: password}}}]");
  }
}

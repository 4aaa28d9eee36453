package dev.arbor.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;

/**
 * The e2e tests' client: a pod named {@value #NAME} (arbor-compute's image, Pod Security "restricted") that runs
 * one psql command once a second until it succeeds or its attempts run out, then ends; and the helpers that
 * wait for it and read pod logs.
 */
final class PsqlClient {
  static final String NAME = "client";

  private PsqlClient() {}

  /**
   * The pod's manifest. {@code psqlArgs} follow {@code psql} in a shell command line; {@code env} is the
   * container's env list in YAML flow style.
   */
  static String pod(String image, String pullPolicy, int attempts, String psqlArgs, String env) {
    return pod(NAME, image, pullPolicy, attempts, psqlArgs, env);
  }

  /** {@link #pod(String, String, int, String, String)} with a pod name of the caller's. */
  static String pod(String name, String image, String pullPolicy, int attempts, String psqlArgs, String env) {
    return """
        apiVersion: v1
        kind: Pod
        metadata: {name: %6$s}
        spec:
          restartPolicy: Never
          securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: psql
            image: %1$s
            imagePullPolicy: %2$s
            command: [sh, -c]
            args:
            - |
              i=0; while [ $i -lt %3$d ]; do i=$((i+1))
                if psql %4$s; then exit 0; fi
                sleep 1
              done
              exit 1
            env: %5$s
            securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        """.formatted(image, pullPolicy, attempts, psqlArgs, env, name);
  }

  /** Waits until the client pod has ended and returns its phase, Succeeded or Failed. */
  static String awaitEnd(KubernetesClient k, String ns, Duration timeout) {
    return awaitEnd(k, ns, NAME, timeout);
  }

  static String awaitEnd(KubernetesClient k, String ns, String name, Duration timeout) {
    await().atMost(timeout).pollInterval(Duration.ofSeconds(1)).untilAsserted(() ->
        assertThat(k.pods().inNamespace(ns).withName(name).get().getStatus().getPhase())
            .as("client pod %s phase; its log:%n%s", name, log(k, ns, name, null)).isIn("Succeeded", "Failed"));
    return k.pods().inNamespace(ns).withName(name).get().getStatus().getPhase();
  }

  /** A pod's log (of {@code container}, when the pod has several); a note instead when there is none. */
  static String log(KubernetesClient k, String ns, String pod, String container) {
    try {
      var p = k.pods().inNamespace(ns).withName(pod);
      return container == null ? p.getLog() : p.inContainer(container).getLog();
    } catch (RuntimeException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }
}

package dev.arbor.operator.auth;

import io.fabric8.kubernetes.client.KubernetesClientException;
import io.quarkus.runtime.configuration.ConfigurationException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * What the token and certificate issuers share about the installation's own objects (keys, CA, the daemons' token and
 * certificate in the operator's namespace): their labels, and a refusal by RBAC said as the missing grant.
 */
final class InstallationObjects {
  private InstallationObjects() {}

  /** The labels of an installation object of {@code component} (storage-auth, storage-tls). */
  static Map<String, String> labels(String component) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("app.kubernetes.io/name", "arbor");
    m.put("app.kubernetes.io/component", component);
    m.put("app.kubernetes.io/part-of", "arbor");
    m.put("app.kubernetes.io/managed-by", "arbor-operator");
    return m;
  }

  /**
   * Runs {@code call}; a 403 becomes a {@link ConfigurationException} naming the verb, the object, the namespace and
   * {@code grant} (what the ServiceAccount needs) instead of a stack trace.
   */
  static <T> T call(Supplier<T> call, String verb, String what, String namespace, String grant) {
    try {
      return call.get();
    } catch (KubernetesClientException e) {
      if (e.getCode() == 403) {
        throw new ConfigurationException("the operator may not " + verb + " " + what + " in namespace " + namespace + " (HTTP 403): "
            + grant);
      }
      throw e;
    }
  }

  /** Runs {@code refresh} every {@code seconds} on a daemon thread {@code name} until the returned timer is shut down. */
  static ScheduledExecutorService every(long seconds, String name, Runnable refresh) {
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon().name(name).unstarted(r));
    timer.scheduleWithFixedDelay(refresh, seconds, seconds, TimeUnit.SECONDS);
    return timer;
  }
}

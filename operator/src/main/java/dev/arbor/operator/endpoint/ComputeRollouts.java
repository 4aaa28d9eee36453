package dev.arbor.operator.endpoint;

import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * When a compute's pod template may change. The template carries three hashes: what the Endpoint itself asks
 * for ({@value #ENDPOINT_REVISION}: its compute spec apart from what the operator's configuration puts in, and its
 * resources), the role passwords the compute sets ({@value #PASSWORDS_HASH}, so a changed password rolls the
 * compute), and the whole rendered template ({@value #COMPUTE_REVISION}). A template whose compute revision
 * moved while the other two stayed changes only because of the operator (its configuration: image, command,
 * storage-engine URLs; or a new operator version); such rollouts of running computes are paced, at most
 * {@code arbor.compute.max-config-rollouts-per-minute} in any minute, so that an operator change does not restart
 * every compute at once.
 */
final class ComputeRollouts {
  static final String COMPUTE_REVISION = "arbor.dev/compute-revision";
  static final String ENDPOINT_REVISION = "arbor.dev/endpoint-revision";
  static final String PASSWORDS_HASH = "arbor.dev/role-passwords-hash";
  private static final Duration WINDOW = Duration.ofMinutes(1);

  private final int perMinute;
  private final Clock clock;
  private final Deque<Instant> granted = new ArrayDeque<>();

  ComputeRollouts(int perMinute, Clock clock) {
    this.perMinute = perMinute;
    this.clock = clock;
  }

  /** The template annotations that say what a compute was rendered from (the compute revision is stamped later). */
  static Map<String, String> inputs(String endpointRevision, String passwordsHash) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put(ENDPOINT_REVISION, endpointRevision);
    m.put(PASSWORDS_HASH, passwordsHash);
    return m;
  }

  /** Puts the hash of the rendered pod template, its annotations aside, into the template's annotations. */
  static void stampRevision(StatefulSet sts) {
    PodTemplateSpec template = Serialization.unmarshal(Serialization.asJson(sts.getSpec().getTemplate()), PodTemplateSpec.class);
    template.getMetadata().setAnnotations(null);
    sts.getSpec().getTemplate().getMetadata().getAnnotations().put(COMPUTE_REVISION, hash(Serialization.asJson(template)));
  }

  /**
   * True when replacing the existing template by the desired one is a change that comes only from the
   * operator, on a compute that runs: such a change waits for {@link #tryStart}. A template without the
   * Endpoint's own hashes (made by an operator before them) counts as unchanged on the Endpoint's side.
   */
  static boolean operatorOnlyChange(StatefulSet existing, StatefulSet desired) {
    if (existing == null || existing.getSpec().getReplicas() == null || existing.getSpec().getReplicas() == 0
        || desired.getSpec().getReplicas() == 0) {
      return false;
    }
    Map<String, String> before = existing.getSpec().getTemplate().getMetadata().getAnnotations();
    Map<String, String> after = desired.getSpec().getTemplate().getMetadata().getAnnotations();
    before = before == null ? Map.of() : before;
    if (Objects.equals(before.get(COMPUTE_REVISION), after.get(COMPUTE_REVISION))) {
      return false;
    }
    for (String own : new String[] {ENDPOINT_REVISION, PASSWORDS_HASH}) {
      if (before.get(own) != null && !before.get(own).equals(after.get(own))) {
        return false;
      }
    }
    return true;
  }

  /** Takes one of this minute's operator-caused rollouts; false when they are used up. */
  synchronized boolean tryStart() {
    Instant now = clock.instant();
    while (!granted.isEmpty() && !granted.peekFirst().plus(WINDOW).isAfter(now)) {
      granted.removeFirst();
    }
    if (granted.size() >= perMinute) {
      return false;
    }
    granted.addLast(now);
    return true;
  }

  /** How long until {@link #tryStart} may succeed again. */
  synchronized Duration untilNextSlot() {
    Instant now = clock.instant();
    if (granted.size() < perMinute || granted.isEmpty()) {
      return Duration.ZERO;
    }
    Duration d = Duration.between(now, granted.peekFirst().plus(WINDOW));
    return d.isNegative() ? Duration.ZERO : d;
  }

  /** SHA-256 of the text, hex; as a template annotation it says whether an input changed without showing it. */
  static String hash(String text) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JVM lacks SHA-256", e);
    }
  }
}

package dev.arbor.proxy;

import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The cancel keys the proxy hands to clients in place of the computes' own BackendKeyData. A compute's key (its
 * backend's pid and secret) is only unique within that compute, and a client's CancelRequest arrives on a new
 * connection that names no Endpoint; the proxy's keys are unique across everything it serves, so a
 * CancelRequest finds its compute and backend here.
 */
final class CancelKeys {
  /** Where a client's cancel goes: the compute and that backend's own key. */
  record Target(String endpoint, InetSocketAddress compute, int pid, int secret) {}

  private final ConcurrentHashMap<Long, Target> keys = new ConcurrentHashMap<>();
  private final SecureRandom random = new SecureRandom();

  /** A fresh key for {@code target}: the pid half in the high 32 bits, the secret in the low. */
  long issue(Target target) {
    while (true) {
      long key = random.nextLong();
      if ((int) (key >>> 32) != 0 && keys.putIfAbsent(key, target) == null) {
        return key;
      }
    }
  }

  Target find(int pid, int secret) {
    return keys.get(((long) pid << 32) | (secret & 0xffffffffL));
  }

  void release(long key) {
    keys.remove(key);
  }

  int size() {
    return keys.size();
  }
}

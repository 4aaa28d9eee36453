package dev.arbor.storage.safekeeper;

import dev.arbor.storage.StorageAuth;
import dev.arbor.storage.objectstore.ObjectStore;
import java.net.InetSocketAddress;
import java.nio.file.Path;

/**
 * @param id the safekeeper's name; also the {@code application_name} it streams with, which the compute's
 *     {@code synchronous_standby_names} lists
 * @param listen where computes (and peers, and the pageserver without a management listener) reach it
 * @param dataDir where it keeps WAL and its accepted generations, per timeline
 * @param objectStore where finished segments are offloaded
 * @param managementListen where the routes computes do not need listen (deletes, metrics naming timelines;
 *     port 0: any free port); null: {@code listen} serves everything
 * @param auth the tokens it checks and the one it sends to its peers when it catches up from them
 * @param replicationTls its identity toward computes that serve TLS ({@code --tls-cert}, {@code --tls-key}, {@code --tls-ca});
 *     null: it follows computes in the clear only, and refuses a follow request that asks for TLS
 */
public record SafekeeperConfig(String id, InetSocketAddress listen, Path dataDir, ObjectStore objectStore,
    InetSocketAddress managementListen, StorageAuth auth, ReplicationTls replicationTls) {

  public SafekeeperConfig(String id, InetSocketAddress listen, Path dataDir, ObjectStore objectStore, InetSocketAddress managementListen,
      StorageAuth auth) {
    this(id, listen, dataDir, objectStore, managementListen, auth, null);
  }

  /** Without a management listener, checking no tokens (tests in-process). */
  public SafekeeperConfig(String id, InetSocketAddress listen, Path dataDir, ObjectStore objectStore) {
    this(id, listen, dataDir, objectStore, null, StorageAuth.INSECURE);
  }

  public SafekeeperConfig withManagementListen(InetSocketAddress address) {
    return new SafekeeperConfig(id, listen, dataDir, objectStore, address, auth, replicationTls);
  }

  public SafekeeperConfig withReplicationTls(ReplicationTls tls) {
    return new SafekeeperConfig(id, listen, dataDir, objectStore, managementListen, auth, tls);
  }
}

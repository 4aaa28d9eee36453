package dev.arbor.storage.safekeeper;

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
 */
public record SafekeeperConfig(String id, InetSocketAddress listen, Path dataDir, ObjectStore objectStore,
    InetSocketAddress managementListen) {

  /** Without a management listener. */
  public SafekeeperConfig(String id, InetSocketAddress listen, Path dataDir, ObjectStore objectStore) {
    this(id, listen, dataDir, objectStore, null);
  }

  public SafekeeperConfig withManagementListen(InetSocketAddress address) {
    return new SafekeeperConfig(id, listen, dataDir, objectStore, address);
  }
}

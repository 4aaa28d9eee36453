package dev.arbor.storage.pageserver;

import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.storage.StorageAuth;
import dev.arbor.storage.objectstore.ObjectStore;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.function.IntFunction;

/**
 * @param listen where the HTTP API listens (port 0: any free port)
 * @param advertisedUrl how computes reach this pageserver (goes into restore_command); null: derived from
 *     the listen address once bound
 * @param safekeeperUrls base URLs of every safekeeper of the installation
 * @param postgres the PostgreSQL installation of a major version (for initdb)
 * @param workDir a cache: scratch space for initdb of new tenants and the working copies images are made in;
 *     losing it loses nothing
 * @param images when to make images from WAL
 * @param managementListen where the management routes listen, apart from what computes use (port 0: any free
 *     port); null: {@code listen} serves everything
 * @param auth the tokens it checks and the one it sends to the safekeepers and to itself (its working copies' WAL)
 */
public record PageserverConfig(
    InetSocketAddress listen,
    String advertisedUrl,
    ObjectStore objectStore,
    List<String> safekeeperUrls,
    IntFunction<PostgresInstallation> postgres,
    Path workDir,
    ImageService.Policy images,
    InetSocketAddress managementListen,
    StorageAuth auth) {

  /** With the default image policy, without a management listener, checking no tokens (tests in-process). */
  public PageserverConfig(InetSocketAddress listen, String advertisedUrl, ObjectStore objectStore, List<String> safekeeperUrls,
      IntFunction<PostgresInstallation> postgres, Path workDir) {
    this(listen, advertisedUrl, objectStore, safekeeperUrls, postgres, workDir, ImageService.Policy.DEFAULT, null, StorageAuth.INSECURE);
  }

  public PageserverConfig withManagementListen(InetSocketAddress address) {
    return new PageserverConfig(listen, advertisedUrl, objectStore, safekeeperUrls, postgres, workDir, images, address, auth);
  }
}

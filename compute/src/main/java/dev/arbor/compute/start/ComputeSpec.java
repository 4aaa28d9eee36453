package dev.arbor.compute.start;

import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.storage.id.TenantId;
import dev.arbor.storage.id.TimelineId;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a read-write compute needs to start: which timeline, where the storage engine is, which PostgreSQL,
 * where it may keep its PGDATA and which port to listen on.
 *
 * @param safekeepers safekeeper id (the {@code application_name} it connects with) → base URL
 * @param workDir a directory owned by this compute; PGDATA goes to {@code workDir/pgdata}
 * @param listenHost the address PostgreSQL listens on and safekeepers connect to
 * @param settings extra PostgreSQL parameters
 * @param maxSlotWalKeepSize how much WAL the compute keeps for a safekeeper that is down (bounds its disk)
 */
public record ComputeSpec(
    TenantId tenant,
    TimelineId timeline,
    String pageserverUrl,
    Map<String, String> safekeepers,
    PostgresInstallation postgres,
    Path workDir,
    String listenHost,
    int port,
    Map<String, String> settings,
    String maxSlotWalKeepSize) {

  public ComputeSpec {
    safekeepers = Map.copyOf(new LinkedHashMap<>(safekeepers));
    settings = settings == null ? Map.of() : Map.copyOf(settings);
    if (maxSlotWalKeepSize == null) {
      maxSlotWalKeepSize = "1GB";
    }
  }

  public Path dataDir() {
    return workDir.resolve("pgdata");
  }
}

package dev.arbor.compute.start;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.postgres.ServerUser;
import dev.arbor.postgres.UnreachableDirectoryException;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ManagedParameters;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a compute needs to start: which timeline, where the storage engine is, which PostgreSQL, where it may
 * keep its PGDATA and which port to listen on. A read-only snapshot ({@link SnapshotStart}) uses neither the
 * safekeepers nor {@code maxSlotWalKeepSize}.
 *
 * @param safekeepers safekeeper id (the {@code application_name} it connects with) → base URL
 * @param workDir a directory owned by this compute; PGDATA goes to {@code workDir/pgdata}
 * @param listenHost the address PostgreSQL listens on and safekeepers connect to
 * @param settings extra PostgreSQL parameters; none of {@link ManagedParameters#NAMES}
 * @param maxSlotWalKeepSize how far (a size as PostgreSQL writes it: {@code 1GB}, {@code 256MB}; {@code -1} for no
 *     bound) a safekeeper outside the majority may fall behind the compute's flush LSN before its slot stops
 *     holding WAL for it ({@link SlotTrimmer}); this bounds the compute's disk against a dead safekeeper.
 *     PostgreSQL's own {@code max_slot_wal_keep_size} is always -1.
 * @param storageTokens the token every call to the storage engine sends, restore_command's included (null: none)
 * @param storageTls whom {@code https://} storage URLs are trusted from, restore_command's included (null: the JDK's
 *     trust store; restore_command then uses curl's)
 * @param tls PostgreSQL's certificate, key and client CA, and the name the safekeepers verify ({@link ServerTls}); null:
 *     no TLS
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
    String maxSlotWalKeepSize,
    TokenSource storageTokens,
    ClientTls storageTls,
    ComputeAgentSpec.Tls tls) {

  /** A compute without TLS of its own, trusting the JDK's trust store on https:// URLs. */
  public ComputeSpec(TenantId tenant, TimelineId timeline, String pageserverUrl, Map<String, String> safekeepers,
      PostgresInstallation postgres, Path workDir, String listenHost, int port, Map<String, String> settings, String maxSlotWalKeepSize,
      TokenSource storageTokens) {
    this(tenant, timeline, pageserverUrl, safekeepers, postgres, workDir, listenHost, port, settings, maxSlotWalKeepSize, storageTokens,
        ClientTls.SYSTEM, null);
  }

  public ComputeSpec {
    safekeepers = Map.copyOf(new LinkedHashMap<>(safekeepers));
    settings = settings == null ? Map.of() : Map.copyOf(settings);
    for (String name : settings.keySet()) {
      if (ManagedParameters.NAMES.contains(name)) {
        throw new IllegalArgumentException("PostgreSQL parameter " + name + " is set by the compute start sequence; remove it from the settings");
      }
    }
    if (maxSlotWalKeepSize == null) {
      maxSlotWalKeepSize = "1GB";
    }
    if (storageTokens == null) {
      storageTokens = TokenSource.NONE;
    }
    if (storageTls == null) {
      storageTls = ClientTls.SYSTEM;
    }
  }

  /**
   * Creates {@link #workDir} where PostgreSQL's OS user can reach it (see {@link ServerUser#createReachable}),
   * and refuses one it cannot reach, naming the directory in the way.
   */
  public Path createWorkDir() throws IOException {
    try {
      return ServerUser.current().createReachable(workDir);
    } catch (UnreachableDirectoryException e) {
      throw new ComputeStartException("work_dir: " + e.getMessage(), e);
    }
  }

  public Path dataDir() {
    return workDir.resolve("pgdata");
  }

  /** Where PostgreSQL's stdout and stderr go (appended, one line per log line). */
  public Path logFile() {
    return workDir.resolve("postgres.log");
  }

  /**
   * The host the safekeepers connect to: the name PostgreSQL's certificate is issued for with TLS (they verify it),
   * else {@link #listenHost}.
   */
  public String replicationHost() {
    return tls != null ? tls.dnsName() : listenHost;
  }

  /** The directory of PostgreSQL's unix socket; only this compute uses it (pg_hba trusts local connections). */
  public Path socketDir() {
    return workDir.resolve("socket");
  }
}

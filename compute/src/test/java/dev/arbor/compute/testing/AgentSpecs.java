package dev.arbor.compute.testing;

import dev.arbor.testing.StorageProcesses;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Database;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.api.compute.ComputeAgentSpec.Role;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.client.tls.CertificateAuthority.Usage;
import dev.arbor.client.tls.Pem;
import dev.arbor.testing.FreePort;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Compute specs for agents against a {@link StorageProcesses} storage engine, on fresh loopback ports. */
public final class AgentSpecs {
  private AgentSpecs() {}

  public static ComputeAgentSpec readWrite(StorageProcesses storage, TenantId tenant, TimelineId timeline, Path workDir,
      List<Role> roles, List<Database> databases) {
    return new ComputeAgentSpec(ComputeAgentSpec.FORMAT_VERSION, tenant, timeline, Mode.READ_WRITE, null, storage.pageserverUrl(),
        storage.safekeeperUrls(), 15, "127.0.0.1", FreePort.pick(), FreePort.pick(), workDir, Map.of("work_mem", "8MB"),
        roles, databases, Duration.ofMinutes(5), tokenFile(storage, tenant, timeline), caFile(storage), insecureHttp(storage),
        computeTls(storage));
  }

  public static ComputeAgentSpec readOnly(StorageProcesses storage, TenantId tenant, TimelineId timeline, Lsn lsn, Path workDir,
      List<Role> roles) {
    return new ComputeAgentSpec(ComputeAgentSpec.FORMAT_VERSION, tenant, timeline, Mode.READ_ONLY, lsn, storage.pageserverUrl(),
        Map.of(), 15, "127.0.0.1", FreePort.pick(), FreePort.pick(), workDir, Map.of(), roles, List.of(), null,
        tokenFile(storage, tenant, timeline), caFile(storage), insecureHttp(storage), computeTls(storage));
  }

  /** The compute's token file the harness mints, as the spec names it; null when the storage checks no tokens. */
  private static String tokenFile(StorageProcesses storage, TenantId tenant, TimelineId timeline) {
    Path file = storage.computeTokenFile(tenant, timeline);
    return file == null ? null : file.toString();
  }

  /** The harness's CA when its daemons serve HTTPS; null otherwise. */
  private static String caFile(StorageProcesses storage) {
    return storage.tls() ? storage.caFile().toString() : null;
  }

  /**
   * With {@link StorageProcesses#tls()}, a compute's TLS as an installation gives it: PostgreSQL's certificate from the
   * harness's CA for {@code localhost} and {@code 127.0.0.1} (a new one, in a new directory of the harness), that CA for
   * the safekeepers' client certificates, and {@code localhost} as the name they verify; null without TLS.
   */
  public static ComputeAgentSpec.Tls computeTls(StorageProcesses storage) {
    if (!storage.tls()) {
      return null;
    }
    try {
      Path tls = storage.directory().resolve("tls");
      Files.createDirectories(tls);
      Path dir = Files.createTempDirectory(tls, "compute-");
      storage.certificateAuthority().issue("compute", List.of("localhost"), List.of("127.0.0.1"), Set.of(Usage.SERVER), Duration.ofDays(1))
          .writeTo(dir);
      return new ComputeAgentSpec.Tls(dir.resolve(Pem.CERT).toString(), dir.resolve(Pem.KEY).toString(), storage.caFile().toString(),
          "localhost");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** True where the token goes over plain HTTP, as the harness's daemons allow without TLS ({@code --insecure-no-tls}). */
  private static Boolean insecureHttp(StorageProcesses storage) {
    return storage.tls() ? null : true;
  }

  /** The same spec with these PostgreSQL parameters instead of its own. */
  public static ComputeAgentSpec withParameters(ComputeAgentSpec s, Map<String, String> parameters) {
    return new ComputeAgentSpec(s.formatVersion(), s.tenantId(), s.timelineId(), s.mode(), s.lsn(), s.pageserverUrl(), s.safekeepers(),
        s.postgresVersion(), s.listenHost(), s.port(), s.httpPort(), s.workDir(), parameters, s.roles(), s.databases(),
        s.suspendTimeout(), s.storageTokenFile(), s.storageCaFile(), s.storageInsecureHttp(), s.tls());
  }

  /** The same spec in another work dir, on fresh ports: a restart of the compute elsewhere. */
  public static ComputeAgentSpec movedTo(ComputeAgentSpec s, Path workDir) {
    return new ComputeAgentSpec(s.formatVersion(), s.tenantId(), s.timelineId(), s.mode(), s.lsn(), s.pageserverUrl(), s.safekeepers(),
        s.postgresVersion(), s.listenHost(), FreePort.pick(), FreePort.pick(), workDir, s.parameters(), s.roles(), s.databases(),
        s.suspendTimeout(), s.storageTokenFile(), s.storageCaFile(), s.storageInsecureHttp(), s.tls());
  }
}

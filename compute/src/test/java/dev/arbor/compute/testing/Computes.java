package dev.arbor.compute.testing;

import dev.arbor.testing.StorageProcesses;

import dev.arbor.compute.start.ComputeSpec;
import dev.arbor.compute.start.ComputeStart;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.testing.FreePort;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Starts read-write computes against a {@link StorageProcesses} storage engine, each in a fresh directory; with its
 * daemons on HTTPS, PostgreSQL serves TLS too and the safekeepers replicate over verify-full TLS.
 */
public final class Computes {
  private Computes() {}

  public static RunningCompute start(StorageProcesses storage, TenantId tenant, TimelineId timeline, Path workDir) throws IOException {
    return start(storage, tenant, timeline, workDir, Map.of());
  }

  public static RunningCompute start(StorageProcesses storage, TenantId tenant, TimelineId timeline, Path workDir,
      Map<String, String> settings) throws IOException {
    return start(storage, tenant, timeline, workDir, storage.safekeeperUrls(), settings, "256MB");
  }

  /**
   * A start whose compute keeps at most {@code maxSlotWalKeepSize} of WAL for a safekeeper that is down: a test
   * can make it give a slot up (and recycle the WAL) with little WAL.
   */
  public static RunningCompute startKeepingWal(StorageProcesses storage, TenantId tenant, TimelineId timeline, Path workDir,
      Map<String, String> settings, String maxSlotWalKeepSize) throws IOException {
    return start(storage, tenant, timeline, workDir, storage.safekeeperUrls(), settings, maxSlotWalKeepSize);
  }

  /** A start that reaches the safekeepers at {@code safekeeperUrls} (id → URL), e.g. some through a FaultProxy. */
  public static RunningCompute startWithSafekeepers(StorageProcesses storage, TenantId tenant, TimelineId timeline, Path workDir,
      Map<String, String> safekeeperUrls) throws IOException {
    return start(storage, tenant, timeline, workDir, safekeeperUrls, Map.of(), "256MB");
  }

  /** A start that sends {@code tokens} (e.g. a token file the test mints into itself) instead of the harness's. */
  public static RunningCompute startWithTokens(StorageProcesses storage, TenantId tenant, TimelineId timeline, Path workDir,
      TokenSource tokens) throws IOException {
    return start(storage, tenant, timeline, workDir, storage.safekeeperUrls(), Map.of(), "256MB", tokens, AgentSpecs.computeTls(storage));
  }

  /**
   * A start whose PostgreSQL serves TLS with {@code tls}'s files, the safekeepers verifying {@code tls.dns_name()}; the
   * other starts do so with a certificate of the harness's CA ({@link AgentSpecs#computeTls}) when its daemons serve HTTPS.
   */
  public static RunningCompute startWithTls(StorageProcesses storage, TenantId tenant, TimelineId timeline, Path workDir,
      ComputeAgentSpec.Tls tls) throws IOException {
    return start(storage, tenant, timeline, workDir, storage.safekeeperUrls(), Map.of(), "256MB", storage.computeTokens(tenant, timeline), tls);
  }

  private static RunningCompute start(StorageProcesses storage, TenantId tenant, TimelineId timeline, Path workDir,
      Map<String, String> safekeeperUrls, Map<String, String> settings, String maxSlotWalKeepSize) throws IOException {
    return start(storage, tenant, timeline, workDir, safekeeperUrls, settings, maxSlotWalKeepSize, storage.computeTokens(tenant, timeline),
        AgentSpecs.computeTls(storage));
  }

  private static RunningCompute start(StorageProcesses storage, TenantId tenant, TimelineId timeline, Path workDir,
      Map<String, String> safekeeperUrls, Map<String, String> settings, String maxSlotWalKeepSize, TokenSource tokens,
      ComputeAgentSpec.Tls tls) throws IOException {
    var spec = new ComputeSpec(tenant, timeline, storage.pageserverUrl(), safekeeperUrls, PostgresInstallation.find(15),
        workDir, "127.0.0.1", FreePort.pick(), settings, maxSlotWalKeepSize, tokens, storage.clientTls(), tls);
    return new ComputeStart(spec).start();
  }
}

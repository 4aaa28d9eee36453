package dev.arbor.compute.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.pageserver.Basebackup;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.testing.AgentProcess;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * restore_command sends the header file in PGDATA, not the token file: a compute that runs on while its token is
 * minted again (on Kubernetes, the operator re-mints it at half its life and the kubelet swaps the mounted file) must
 * have that header follow, or its restore_command goes on sending a token that expires (or whose key is retired).
 */
class StorageAuthHeaderTest {
  /** A WAL file no timeline has: with a token the pageserver accepts, restore_command's "not found" (exit 1). */
  private static final String ABSENT = "00000099.history";

  @Test
  void aRunningComputesRestoreCommandSendsTheTokenThatReplacedItsOwn() throws Exception {
    try (var storage = new StorageProcesses(1).start(); var work = TempDirectory.create("arbor-auth-header-")) {
      TenantInfo tenant = storage.createTenant(15);
      ComputeAgentSpec spec = AgentSpecs.readWrite(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("agent"),
          List.of(), List.of());
      try (AgentProcess agent = AgentProcess.start(spec, work.resolve("spec.json"), Map.of())) {
        agent.awaitRunning();
        Path pgdata = spec.workDir().resolve("pgdata");
        Path header = pgdata.resolve(Basebackup.STORAGE_AUTH_FILE);
        Path tokenFile = Path.of(spec.storageTokenFile());
        String started = Files.readString(header);
        assertThat(started).isEqualTo("Authorization: Bearer " + Files.readString(tokenFile).strip() + "\n");
        assertThat(restore(pgdata, pgdata)).as("restore_command with the token of the start").isEqualTo(1);

        // Every token file minted again with a new key; then the old key leaves the set: its tokens get 401.
        storage.rotateKeys("test-key-2");
        storage.retireOldKeys();
        String minted = Files.readString(tokenFile).strip();
        assertThat("Authorization: Bearer " + minted + "\n").isNotEqualTo(started);
        Path stale = Files.createDirectories(work.resolve("stale"));
        Files.writeString(stale.resolve(Basebackup.STORAGE_AUTH_FILE), started);
        assertThat(restore(pgdata, stale)).as("restore_command with the start's header, once its key is retired (401: 127)")
            .isEqualTo(127);

        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200)).untilAsserted(() ->
            assertThat(Files.readString(header)).as("the header restore_command sends").isEqualTo("Authorization: Bearer " + minted + "\n"));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(header))).isEqualTo("rw-------");
        assertThat(Files.getOwner(header)).as("owned by PostgreSQL's OS user, who runs restore_command")
            .isEqualTo(Files.getOwner(pgdata.resolve("PG_VERSION")));
        assertThat(restore(pgdata, pgdata)).as("restore_command with the refreshed header").isEqualTo(1);
        try (var files = Files.list(pgdata)) {
          assertThat(files.map(f -> f.getFileName().toString())).as("no temporary header left in PGDATA")
              .noneMatch(n -> n.startsWith("." + Basebackup.STORAGE_AUTH_FILE));
        }
        assertThat(agent.outputText()).contains("event=storage_auth_header_refreshed").doesNotContain(minted)
            .doesNotContain(started.strip().substring("Authorization: Bearer ".length()));
      }
    }
  }

  /**
   * Runs the compute's restore_command (from its recovery configuration, as PostgreSQL substitutes it) for
   * {@value #ABSENT}, in {@code dir} (where it finds the header file): 1 for "not found", 127 for any other failure.
   */
  private static int restore(Path pgdata, Path dir) throws IOException, InterruptedException {
    String conf = Files.readString(pgdata.resolve(Basebackup.RECOVERY_CONF));
    String line = conf.lines().filter(l -> l.startsWith("restore_command")).findFirst()
        .orElseThrow(() -> new AssertionError("no restore_command in " + Basebackup.RECOVERY_CONF + ":\n" + conf));
    String quoted = line.substring(line.indexOf('\'') + 1, line.lastIndexOf('\'')).replace("''", "'");
    Path target = dir.resolve("restored-" + System.nanoTime());
    StringBuilder command = new StringBuilder();
    for (int i = 0; i < quoted.length(); i++) {
      char c = quoted.charAt(i);
      if (c == '%' && i + 1 < quoted.length()) {
        char next = quoted.charAt(++i);
        command.append(next == 'f' ? ABSENT : next == 'p' ? target.toString() : next == '%' ? "%" : "%" + next);
      } else {
        command.append(c);
      }
    }
    Process p = new ProcessBuilder("sh", "-c", command.toString()).directory(dir.toFile()).redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("restore_command ends").isTrue();
    return p.exitValue();
  }
}

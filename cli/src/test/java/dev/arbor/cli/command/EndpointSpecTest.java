package dev.arbor.cli.command;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Lsn;
import dev.arbor.api.compute.AgentCommand;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.cli.home.LocalConfig;
import dev.arbor.cli.home.LocalState;
import dev.arbor.client.ComputeSpecJson;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The CLI's compute spec for the three kinds of start — read-write, read-only at an LSN, read-write on a child
 * branch — is one the compute agent accepts: rendered by {@link Endpoints#computeSpec}, written as
 * {@code spec.json} is, then put through {@link ComputeSpecJson#parse} (what {@code ComputeAgent.acceptSpec} runs; {@code ServiceLaunchTest} in compute pins that), the check the agent runs before
 * anything else.
 */
class EndpointSpecTest {
  private static final String TENANT = "0123456789abcdef0123456789abcdef";
  private static final String MAIN_TIMELINE = "fedcba9876543210fedcba9876543210";
  private static final String DEV_TIMELINE = "00112233445566778899aabbccddeeff";
  private static final LocalConfig CONFIG = new LocalConfig(LocalConfig.FORMAT_VERSION, 9898,
      Map.of("sk-0", 7676, "sk-1", 7677, "sk-2", 7678));
  private static final LocalState.Project PROJECT = new LocalState.Project(TENANT, 15, "main", Map.of(
      "main", new LocalState.Branch(MAIN_TIMELINE, null),
      "dev", new LocalState.Branch(DEV_TIMELINE, "main")));
  private static final Path HOME = Path.of("/home/someone/arbor/.arbor");
  private static final Path PASSWORD_FILE = HOME.resolve("secrets/default.password");
  private static final Path TOKEN_FILE = HOME.resolve("endpoints/default/main/storage.token");
  private static final Path CA_FILE = HOME.resolve("tls/ca/ca.crt");

  /** What the agent makes of the spec file the CLI writes for this start. */
  private static ComputeAgentSpec accepted(String branch, String mode, String lsn) {
    var info = new Endpoints.EndpointInfo("default", branch, mode, lsn, 25432, 55433, 55432, "10s", Endpoints.RUNNING);
    byte[] specFile = ComputeSpecJson.write(Endpoints.computeSpec(PROJECT, PROJECT.branches().get(branch), CONFIG, info,
        HOME.resolve("postgres/compute/default/" + branch + "/work"), PASSWORD_FILE, TOKEN_FILE, CA_FILE,
        HOME.resolve("endpoints/default/" + branch + "/tls")));
    return ComputeSpecJson.parse(new String(specFile, StandardCharsets.UTF_8));
  }

  @Test
  void aReadWriteStartIsAcceptedByTheAgent() {
    ComputeAgentSpec spec = accepted("main", "read_write", null);
    assertThat(spec.mode()).isEqualTo(Mode.READ_WRITE);
    assertThat(spec.lsn()).isNull();
    assertThat(spec.tenantId().toString()).isEqualTo(TENANT);
    assertThat(spec.timelineId().toString()).isEqualTo(MAIN_TIMELINE);
    assertThat(spec.safekeepers()).isEqualTo(CONFIG.safekeeperUrls());
    assertThat(spec.pageserverUrl()).isEqualTo("https://127.0.0.1:9898");
    assertThat(spec.safekeepers()).containsEntry("sk-0", "https://127.0.0.1:7676");
    assertThat(spec.postgresVersion()).isEqualTo(15);
    assertThat(spec.listenHost()).isEqualTo("127.0.0.1");
    assertThat(spec.port()).as("PostgreSQL's own port, behind the proxy's 25432").isEqualTo(55432);
    assertThat(spec.httpPort()).isEqualTo(55433);
    assertThat(spec.suspendTimeout()).isEqualTo(java.time.Duration.ofSeconds(10));
    assertThat(spec.workDir()).isEqualTo(HOME.resolve("postgres/compute/default/main/work"));
    // CREATEROLE only from PostgreSQL 16, where it reaches only the roles it made (ComputeAgentSpec.CREATEROLE_BEFORE_16)
    assertThat(spec.roles()).containsExactly(new ComputeAgentSpec.Role(Endpoints.ROLE, PASSWORD_FILE.toString(), null, true, true, false));
    assertThat(spec.databases()).containsExactly(new ComputeAgentSpec.Database(Endpoints.DATABASE, Endpoints.ROLE));
    assertThat(spec.storageTokenFile()).as("the token's file, never the token").isEqualTo(TOKEN_FILE.toString());
    assertThat(spec.storageCaFile()).as("the home's CA, the only one trusted").isEqualTo(CA_FILE.toString());
    assertThat(spec.storageInsecureHttp()).as("tokens go over HTTPS only").isNull();
    assertThat(spec.tls()).as("PostgreSQL serves TLS for localhost; the safekeepers' certificates chain to the home's CA")
        .isEqualTo(new ComputeAgentSpec.Tls(HOME.resolve("endpoints/default/main/tls/tls.crt").toString(),
            HOME.resolve("endpoints/default/main/tls/tls.key").toString(), CA_FILE.toString(), "localhost"));
  }

  @Test
  void aReadOnlyStartAtAnLsnIsAcceptedByTheAgent() {
    ComputeAgentSpec spec = accepted("main", "read_only", "0/16B5A50");
    assertThat(spec.mode()).isEqualTo(Mode.READ_ONLY);
    assertThat(spec.lsn()).isEqualTo(Lsn.parse("0/16B5A50"));
    assertThat(spec.timelineId().toString()).isEqualTo(MAIN_TIMELINE);
    assertThat(spec.safekeepers()).as("a snapshot needs no safekeepers").isEmpty();
  }

  @Test
  void aStartOnAChildBranchIsAcceptedByTheAgent() {
    ComputeAgentSpec spec = accepted("dev", "read_write", null);
    assertThat(spec.mode()).isEqualTo(Mode.READ_WRITE);
    assertThat(spec.timelineId().toString()).as("the child's own timeline").isEqualTo(DEV_TIMELINE);
    assertThat(spec.safekeepers()).isEqualTo(CONFIG.safekeeperUrls());
    assertThat(spec.workDir()).isEqualTo(HOME.resolve("postgres/compute/default/dev/work"));
  }
}

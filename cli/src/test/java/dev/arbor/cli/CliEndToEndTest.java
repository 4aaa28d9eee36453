package dev.arbor.cli;

import static dev.arbor.cli.CliProcesses.psql;
import static dev.arbor.cli.CliProcesses.psqlResult;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.cli.CliProcesses.Result;
import dev.arbor.client.Json;
import dev.arbor.client.tls.ClientTls;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.HttpsURLConnection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The CLI as a user drives it: every step is a separate {@code arbor} process (the same main class the
 * {@code ./arbor} script runs) against one ARBOR_HOME, and every query goes through the real {@code psql}.
 */
class CliEndToEndTest {
  @RegisterExtension
  final FreshArborHome home = new FreshArborHome("arbor-cli-");

  @Test
  void upBranchDownUpAsAUserWould() throws Exception {
    upBranchDownUp(home.arbor(), List.of(), home.arbor());
    assertThat(home.arbor().ok("status").out()).contains("object store: " + home.resolve("objects"));
    localModeUsesTokensAndTls();
  }

  /**
   * One code path (docs/security.md): the local storage engine checks tokens, from keys in the home that only its
   * owner reads, and serves HTTPS only, with a certificate of the home's CA; an endpoint's spec names its token file
   * (never the token) and that CA, and never allows plain HTTP.
   */
  private void localModeUsesTokensAndTls() throws Exception {
    Path endpointToken = home.resolve("endpoints/default/main/storage.token");
    for (Path secret : List.of(home.resolve("auth/signing-key.jwk"), home.resolve("auth/pageserver.token"), endpointToken,
        home.resolve("tls/ca/tls.key"), home.resolve("tls/storage/tls.key"))) {
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(secret))).as(secret.toString()).isEqualTo("rw-------");
    }
    Path ca = home.resolve("tls/ca/ca.crt");
    String spec = Files.readString(home.resolve("endpoints/default/main/spec.json"));
    assertThat(spec).contains("\"storage_token_file\" : \"" + endpointToken + "\"").doesNotContain(Files.readString(endpointToken).strip())
        .contains("\"storage_ca_file\" : \"" + ca + "\"").doesNotContain("storage_insecure_http").doesNotContain("http://");
    var config = Json.MAPPER.readTree(home.resolve("config.json").toFile());
    List<Integer> ports = new ArrayList<>(List.of(config.path("pageserver_port").asInt()));
    config.path("safekeepers").forEach(p -> ports.add(p.asInt()));
    for (int port : ports) {
      var plain = (HttpURLConnection) URI.create("http://127.0.0.1:" + port + "/v1/status").toURL().openConnection();
      assertThatThrownBy(plain::getResponseCode).as("plain HTTP to the local daemon on port " + port).isInstanceOf(IOException.class);
      plain.disconnect();
    }
    var request = (HttpsURLConnection) URI.create("https://127.0.0.1:" + ports.getFirst() + "/v1/tenant").toURL().openConnection();
    request.setSSLSocketFactory(ClientTls.trusting(ca).socketFactory());
    assertThat(request.getResponseCode()).as("the local pageserver over HTTPS, without a token").isEqualTo(401);
    request.disconnect();
    assertThat(spec).as("PostgreSQL serves TLS with a certificate of the home's CA for localhost")
        .contains("\"dns_name\" : \"localhost\"").contains("\"ca_file\" : \"" + ca + "\"");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(home.resolve("endpoints/default/main/tls/tls.key"))))
        .isEqualTo("rw-------");
    assertThat(psql(home.arbor().ok("connstr", "main").lastLine(), "SHOW ssl")).isEqualTo("on");
  }

  /**
   * The local-mode scenario: {@code up} (with {@code upOptions}), rows written, a branch at an LSN with exactly
   * the data at that LSN, writes on the branch that main does not see, {@code down}, {@code up} again with all
   * the data there, endpoint restarts, branch deletion. {@code first} runs every step up to {@code down},
   * {@code later} (another shell, say) every step after it; the installation is up at the end.
   */
  static void upBranchDownUp(Arbor first, List<String> upOptions, Arbor later) throws Exception {
    List<String> up = new ArrayList<>(List.of("up"));
    up.addAll(upOptions);
    String mainUri = first.ok(up.toArray(String[]::new)).lastLine();
    assertThat(mainUri).startsWith("postgresql://arbor:").endsWith("/arbor");
    psql(mainUri, "CREATE TABLE items (v int); INSERT INTO items SELECT generate_series(1, 100)");
    String lsn = first.ok("lsn", "main").lastLine();
    assertThat(lsn).matches("[0-9A-F]+/[0-9A-F]+");
    psql(mainUri, "INSERT INTO items SELECT generate_series(101, 200)");

    Result created = first.ok("branch", "create", "b1", "--lsn", lsn);
    assertThat(created.out()).contains("b1").contains("main").contains(lsn);
    String b1Uri = first.ok("endpoint", "start", "b1").lastLine();
    assertThat(psql(b1Uri, "SELECT count(*) FROM items")).isEqualTo("100");
    psql(b1Uri, "INSERT INTO items VALUES (1000)");
    assertThat(psql(mainUri, "SELECT count(*) FROM items WHERE v = 1000")).isEqualTo("0");
    assertThat(first.ok("connstr", "b1").lastLine()).isEqualTo(b1Uri);
    assertThat(first.ok("branch", "list").out()).contains("main").contains("└─ b1 @ " + lsn);

    first.ok("down");
    assertThat(later.ok("status").out()).doesNotContain("running");

    String mainAgain = later.ok("up").lastLine();
    assertThat(psql(mainAgain, "SELECT count(*) FROM items")).isEqualTo("200");
    String b1Again = later.ok("endpoint", "start", "b1").lastLine();
    assertThat(psql(b1Again, "SELECT count(*) FROM items")).isEqualTo("101");
    later.ok("endpoint", "stop", "b1");

    later.ok("branch", "create", "b2", "--parent", "b1");
    Result refused = later.run("branch", "delete", "b1");
    assertThat(refused.exit()).isEqualTo(1);
    assertThat(refused.err()).contains("child branches [b2]");
    later.ok("branch", "delete", "b2");
    later.ok("branch", "delete", "b1");
  }

  @Test
  void readOnlyEndpointAtAnLsnServesExactlyThatDataAndRefusesWrites() throws Exception {
    String mainUri = home.arbor().ok("up", "--safekeepers", "1").lastLine();
    psql(mainUri, "CREATE TABLE items (v int); INSERT INTO items SELECT generate_series(1, 10)");
    String lsn = home.arbor().ok("lsn", "main").lastLine();
    psql(mainUri, "INSERT INTO items SELECT generate_series(11, 20)");
    home.arbor().ok("endpoint", "stop", "main");

    String snapshotUri = home.arbor().ok("endpoint", "start", "main", "--read-only", "--lsn", lsn).lastLine();
    assertThat(psql(snapshotUri, "SELECT sum(v) FROM items")).isEqualTo("55");
    Result write = psqlResult(snapshotUri, "INSERT INTO items VALUES (-1)");
    assertThat(write.exit()).isNotZero();
    assertThat(write.err()).contains("cannot execute INSERT in a read-only transaction");
    home.arbor().ok("endpoint", "stop", "main");

    String again = home.arbor().ok("endpoint", "start", "main").lastLine();
    assertThat(psql(again, "SELECT sum(v) FROM items")).isEqualTo("210");
  }

  @Test
  void badInputGetsAClearErrorAndChangesNothing() throws Exception {
    home.arbor().ok("up", "--safekeepers", "1");
    Result badLsn = home.arbor().run("branch", "create", "x", "--lsn", "not-an-lsn");
    assertThat(badLsn.exit()).isEqualTo(1);
    assertThat(badLsn.err()).contains("--lsn 'not-an-lsn' is not an LSN");
    Result beyond = home.arbor().run("branch", "create", "x", "--lsn", "FF/0");
    assertThat(beyond.exit()).isEqualTo(1);
    assertThat(beyond.err()).contains("beyond the head");
    Result unknownParent = home.arbor().run("branch", "create", "x", "--parent", "nope");
    assertThat(unknownParent.err()).contains("--parent: no branch 'nope'");
    Result noEndpoint = home.arbor().run("connstr", "nope");
    assertThat(noEndpoint.exit()).isEqualTo(1);
    assertThat(home.arbor().ok("branch", "list", "-o", "json").out()).doesNotContain("\"x\"");
    Result otherCount = home.arbor().run("up", "--safekeepers", "3");
    assertThat(otherCount.exit()).isEqualTo(1);
    assertThat(otherCount.err()).contains("runs 1 safekeepers");
  }
}

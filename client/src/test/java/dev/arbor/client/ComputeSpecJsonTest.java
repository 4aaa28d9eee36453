package dev.arbor.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.api.compute.InvalidSpecException;
import dev.arbor.api.compute.InvalidSpecException.FieldError;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** The compute spec: a valid document reads back as written, and each kind of bad input names its field and the fix. */
class ComputeSpecJsonTest {
  private static final String TENANT = "0123456789abcdef0123456789abcdef";
  private static final String TIMELINE = "fedcba9876543210fedcba9876543210";

  private static ObjectNode valid() {
    return (ObjectNode) Json.MAPPER.valueToTree(Map.ofEntries(
        Map.entry("format_version", 1),
        Map.entry("tenant_id", TENANT),
        Map.entry("timeline_id", TIMELINE),
        Map.entry("mode", "read_write"),
        Map.entry("pageserver_url", "http://127.0.0.1:9898/"),
        Map.entry("safekeepers", Map.of("sk-0", "http://127.0.0.1:7676", "sk-1", "http://127.0.0.1:7677", "sk-2", "http://127.0.0.1:7678")),
        Map.entry("postgres_version", 15),
        Map.entry("listen_host", "127.0.0.1"),
        Map.entry("port", 55432),
        Map.entry("http_port", 3080),
        Map.entry("work_dir", "/var/lib/arbor/compute"),
        Map.entry("parameters", Map.of("shared_buffers", "128MB")),
        Map.entry("roles", List.of(Map.of("name", "app", "password_file", "/run/secrets/app", "createdb", true))),
        Map.entry("databases", List.of(Map.of("name", "app", "owner", "app"))),
        Map.entry("suspend_timeout", "5m")));
  }

  private static ComputeAgentSpec parse(ObjectNode doc) {
    return ComputeSpecJson.parse(doc.toString());
  }

  private static List<FieldError> errorsOf(Consumer<ObjectNode> change) {
    ObjectNode doc = valid();
    change.accept(doc);
    try {
      parse(doc);
    } catch (InvalidSpecException e) {
      return e.errors();
    }
    throw new AssertionError("the spec was accepted: " + doc);
  }

  @Test
  void aValidSpecReadsAsWrittenAndRoundTrips() {
    ComputeAgentSpec spec = parse(valid());
    assertThat(spec.mode()).isEqualTo(Mode.READ_WRITE);
    assertThat(spec.tenantId().toString()).isEqualTo(TENANT);
    assertThat(spec.pageserverUrl()).isEqualTo("http://127.0.0.1:9898");
    assertThat(spec.safekeepers()).hasSize(3);
    assertThat(spec.workDir()).isEqualTo(Path.of("/var/lib/arbor/compute"));
    assertThat(spec.suspendTimeout()).isEqualTo(Duration.ofMinutes(5));
    assertThat(spec.roles().getFirst().login()).as("login by default").isTrue();
    assertThat(spec.roles().getFirst().createdb()).isTrue();
    assertThat(spec.roles().getFirst().createrole()).isFalse();
    assertThat(ComputeSpecJson.parse(ComputeSpecJson.write(spec))).isEqualTo(spec);
    assertThat(ComputeSpecJson.toJson(spec)).contains("\"work_dir\" : \"/var/lib/arbor/compute\"", "\"suspend_timeout\" : \"5m\"", "\"mode\" : \"read_write\"");
  }

  /**
   * The written document, byte for byte: the operator hashes it into each Endpoint's revision, so a change in
   * field order, spacing or value text would restart every compute after an operator upgrade.
   */
  @Test
  void theWrittenDocumentKeepsItsExactText() {
    var spec = new ComputeAgentSpec(ComputeAgentSpec.FORMAT_VERSION, new TenantId(TENANT), new TimelineId(TIMELINE), Mode.READ_ONLY,
        Lsn.parse("0/16B5A50"), "http://127.0.0.1:9898", Map.of(), 15, "127.0.0.1", 55432, 3080, Path.of("/var/lib/arbor/compute"),
        Map.of("work_mem", "64MB"), List.of(new ComputeAgentSpec.Role("app", null, "APP_PASSWORD", null, null, null)),
        List.of(new ComputeAgentSpec.Database("app", "app")), Duration.ofSeconds(90), null);
    assertThat(ComputeSpecJson.toJson(spec)).isEqualTo("""
        {
          "format_version" : 1,
          "tenant_id" : "0123456789abcdef0123456789abcdef",
          "timeline_id" : "fedcba9876543210fedcba9876543210",
          "mode" : "read_only",
          "lsn" : "0/16B5A50",
          "pageserver_url" : "http://127.0.0.1:9898",
          "safekeepers" : { },
          "postgres_version" : 15,
          "listen_host" : "127.0.0.1",
          "port" : 55432,
          "http_port" : 3080,
          "work_dir" : "/var/lib/arbor/compute",
          "parameters" : {
            "work_mem" : "64MB"
          },
          "roles" : [ {
            "name" : "app",
            "password_env" : "APP_PASSWORD",
            "login" : true,
            "createdb" : false,
            "createrole" : false
          } ],
          "databases" : [ {
            "name" : "app",
            "owner" : "app"
          } ],
          "suspend_timeout" : "90s"
        }""");
  }

  @Test
  void aReadOnlySnapshotNeedsAnLsnAndNoSafekeepers() {
    ObjectNode doc = valid().put("mode", "read_only").put("lsn", "0/16B5A50");
    doc.remove("safekeepers");
    ComputeAgentSpec spec = parse(doc);
    assertThat(spec.mode()).isEqualTo(Mode.READ_ONLY);
    assertThat(spec.lsn()).isEqualTo(Lsn.parse("0/16B5A50"));

    assertThat(errorsOf(d -> d.put("mode", "read_only"))).singleElement().satisfies(e -> {
      assertThat(e.field()).isEqualTo("lsn");
      assertThat(e.message()).contains("is required with mode read_only", "0/16B5A50");
    });
  }

  @Test
  void badInputNamesTheFieldAndTheFix() {
    assertError(d -> d.put("mode", "rw"), "mode", "'rw' is not a mode; use read_write or read_only");
    assertError(d -> d.put("lsn", "0/16B5A50"), "lsn", "is only allowed with mode read_only", "remove lsn, or set mode to read_only");
    assertError(d -> d.put("mode", "read_only").put("lsn", "16B5A50"), "lsn", "'16B5A50' is not an LSN", "e.g. 0/16B5A50");
    assertError(d -> d.put("tenant_id", "ABC"), "tenant_id", "'ABC' is not a tenant id: expected 32 lowercase hex digits");
    assertError(d -> d.put("timeline_id", TIMELINE.toUpperCase()), "timeline_id", "is not a timeline id");
    assertError(d -> d.put("format_version", 2), "format_version", "this agent reads format_version 1");
    assertError(d -> d.put("safekeeper", "x"), "safekeeper", "is not a field of the compute spec", "safekeepers");
    assertError(d -> d.remove("safekeepers"), "safekeepers", "is required with mode read_write");
    assertError(d -> d.put("port", "many"), "port", "expected a whole number");
    assertError(d -> d.put("port", 70000), "port", "70000 is not a TCP port");
    assertError(d -> d.put("http_port", 55432), "http_port", "is the same as port");
    assertError(d -> d.put("listen_host", "0.0.0.0"), "listen_host", "the address the safekeepers connect to");
    assertError(d -> d.put("work_dir", "relative/dir"), "work_dir", "give an absolute path");
    assertError(d -> d.put("pageserver_url", "ftp://x"), "pageserver_url", "is not an http(s) URL");
    assertError(d -> d.put("postgres_version", 9), "postgres_version", "use one of [15, 16, 17]");
    assertError(d -> d.put("suspend_timeout", "5 minutes"), "suspend_timeout", "write a whole number with s, m or h");
    assertError(d -> ((ObjectNode) d.get("parameters")).put("synchronous_commit", "off"), "parameters.synchronous_commit",
        "is set by the compute agent itself");
    assertError(d -> ((ObjectNode) d.get("roles").get(0)).put("password_env", "APP_PASSWORD"), "roles[0]",
        "has both password_file and password_env");
    assertError(d -> {
      ((ObjectNode) d.get("roles").get(0)).put("name", "postgres");
      d.remove("databases"); // whose owner would be missing now
    }, "roles[0].name", "is used by the compute itself");
    assertError(d -> ((ObjectNode) d.get("roles").get(0)).put("login", "yes please"), "roles[0].login", "expected true or false");
    assertError(d -> ((ObjectNode) d.get("roles").get(0)).put("createrole", true), "roles[0].createrole",
        "CREATEROLE before PostgreSQL 16", "pg_execute_server_program", "remove CREATEROLE, or use PostgreSQL 16 or later");
    assertError(d -> ((ObjectNode) d.get("databases").get(0)).put("owner", "bob"), "databases[0].owner",
        "'bob' is not among roles; add a role named bob");
    assertError(d -> ((ObjectNode) d.get("databases").get(0)).put("name", "template1"), "databases[0].name", "template database");
  }

  /** Whoever edits an Endpoint is a tenant: parameters are an allowlist, and what could leak or load code is refused. */
  @Test
  void onlyAllowedParametersMayBeSetAndTheRestIsRefusedByName() {
    for (String refused : List.of("log_statement", "log_min_duration_statement", "log_min_error_statement", "log_lock_waits",
        "shared_preload_libraries", "session_preload_libraries", "local_preload_libraries", "dynamic_library_path",
        "archive_timeout", "krb_server_keyfile", "search_path", "session_replication_role",
        "default_transaction_read_only", "arbor.leak")) {
      assertError(d -> ((ObjectNode) d.get("parameters")).put(refused, "x"), "parameters." + refused, "is not allowed",
          "docs/compute-agent.md, \"Parameters\"", "remove it");
    }
    // Managed ones keep saying why.
    for (String managed : List.of("listen_addresses", "port", "hba_file", "ident_file", "restore_command", "archive_command", "ssl",
        "ssl_key_file")) {
      assertError(d -> ((ObjectNode) d.get("parameters")).put(managed, "x"), "parameters." + managed, "is set by the compute agent itself");
    }
    ObjectNode doc = valid();
    ((ObjectNode) doc.get("parameters")).put("work_mem", "64MB").put("application_name", "$(NOT_A_VARIABLE)")
        .put("statement_timeout", "30s").put("autovacuum_naptime", "30s").put("timezone", "UTC").put("log_duration", "on");
    assertThat(parse(doc).parameters()).containsEntry("application_name", "$(NOT_A_VARIABLE)").hasSize(7);
  }

  @Test
  void everyProblemOfASpecIsReportedAtOnce() {
    List<FieldError> errors = errorsOf(d -> {
      d.remove("tenant_id");
      d.put("port", 0);
      d.put("lsn", "0/1");
    });
    assertThat(errors).extracting(FieldError::field).containsExactly("tenant_id", "lsn", "port");
  }

  @Test
  void createroleIsAcceptedFromPostgres16() {
    ObjectNode doc = valid().put("postgres_version", 16);
    ((ObjectNode) doc.get("roles").get(0)).put("createrole", true);
    assertThat(parse(doc).roles().getFirst().createrole()).isTrue();
  }

  @Test
  void tlsNamesItsFilesAndTheNameTheSafekeepersVerify() {
    ObjectNode doc = valid();
    doc.set("tls", Json.MAPPER.valueToTree(Map.of("cert_file", "/run/tls/tls.crt", "key_file", "/run/tls/tls.key", "ca_file",
        "/run/tls/ca.crt", "dns_name", "ep-1.arbor.svc")));
    ComputeAgentSpec spec = parse(doc);
    assertThat(spec.tls()).isEqualTo(new ComputeAgentSpec.Tls("/run/tls/tls.crt", "/run/tls/tls.key", "/run/tls/ca.crt", "ep-1.arbor.svc"));
    assertThat(ComputeSpecJson.parse(ComputeSpecJson.write(spec))).isEqualTo(spec);
    assertThat(parse(valid()).tls()).as("optional").isNull();
    assertThat(ComputeSpecJson.toJson(parse(valid()))).as("a spec without tls is written as before").doesNotContain("tls");

    assertError(d -> d.set("tls", Json.MAPPER.valueToTree(Map.of("cert_file", "tls.crt", "key_file", "/k", "ca_file", "/ca",
        "dns_name", "localhost"))), "tls.cert_file", "'tls.crt' is relative; give an absolute path");
    assertError(d -> d.set("tls", Json.MAPPER.valueToTree(Map.of("cert_file", "/c", "ca_file", "/ca", "dns_name", "localhost"))),
        "tls.key_file", "is required with tls");
    assertError(d -> d.set("tls", Json.MAPPER.valueToTree(Map.of("cert_file", "/c", "key_file", "/k", "ca_file", "/ca"))),
        "tls.dns_name", "is required", "the name the safekeepers connect to");
    assertError(d -> d.set("tls", Json.MAPPER.valueToTree(Map.of("cert_file", "/c", "key_file", "/k", "ca_file", "/ca",
        "dns_name", "https://ep-1"))), "tls.dns_name", "is not a DNS name");
    assertError(d -> d.set("tls", Json.MAPPER.valueToTree(Map.of("cert_file", "/c", "key_file", "/k", "ca_file", "/ca",
        "dns_name", "localhost", "sslmode", "verify-full"))), "tls.sslmode", "is not a field");
  }

  @Test
  void notJsonIsRefusedWithWhereItBroke() {
    assertThatThrownBy(() -> ComputeSpecJson.parse("{\"format_version\": 1,"))
        .isInstanceOfSatisfying(InvalidSpecException.class, e -> assertThat(e.errors()).singleElement()
            .satisfies(f -> assertThat(f.message()).startsWith("is not valid JSON (line 1")));
  }

  /** A spec that names a token file sends the token only to https:// URLs, unless it says storage_insecure_http. */
  @Test
  void aTokenGoesToHttpsUrlsOnlyUnlessPlainHttpIsAllowedExplicitly() {
    assertError(d -> {
      d.put("storage_token_file", "/run/arbor/token").put("pageserver_url", "http://127.0.0.1:9898");
      d.set("safekeepers", Json.MAPPER.valueToTree(Map.of("sk-0", "https://sk-0:7676")));
    }, "pageserver_url",
        "'http://127.0.0.1:9898' is plain HTTP, and the compute sends its storage token (storage_token_file) there",
        "https://", "storage_ca_file", "storage_insecure_http: true");
    assertError(d -> {
      d.put("storage_token_file", "/run/arbor/token").put("pageserver_url", "https://ps:9898");
      d.set("safekeepers", Json.MAPPER.valueToTree(Map.of("sk-0", "http://sk-0:7676")));
    }, "safekeepers.sk-0", "is plain HTTP");

    ObjectNode https = valid().put("storage_token_file", "/run/arbor/token").put("pageserver_url", "https://ps:9898")
        .put("storage_ca_file", "/run/arbor/ca.crt");
    https.set("safekeepers", Json.MAPPER.valueToTree(Map.of("sk-0", "https://sk-0:7676")));
    ComputeAgentSpec spec = parse(https);
    assertThat(spec.storageCaFile()).isEqualTo("/run/arbor/ca.crt");
    assertThat(ComputeSpecJson.parse(ComputeSpecJson.write(spec))).isEqualTo(spec);

    ComputeAgentSpec allowed = parse(valid().put("storage_token_file", "/run/arbor/token").put("storage_insecure_http", true));
    assertThat(allowed.storageInsecureHttp()).as("development: said explicitly").isTrue();
    assertThat(parse(valid()).storageInsecureHttp()).as("no token, no rule").isNull();
    assertError(d -> d.put("storage_ca_file", "ca.crt"), "storage_ca_file", "'ca.crt' is relative; give an absolute path");
  }

  private static void assertError(Consumer<ObjectNode> change, String field, String... fragments) {
    assertThat(errorsOf(change)).as("errors after changing %s", field).singleElement().satisfies(e -> {
      assertThat(e.field()).isEqualTo(field);
      assertThat(e.message()).contains(fragments);
    });
  }
}

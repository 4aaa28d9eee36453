package dev.arbor.api.compute;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.compute.InvalidSpecException.FieldError;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The compute spec: what one compute agent runs, as a JSON document (snake_case, {@code format_version} 1).
 * The operator renders it from an Endpoint and its Project; the CLI writes it for a local endpoint.
 * <pre>{@code
 * {
 *   "format_version": 1,
 *   "tenant_id": "9f2c...32 hex", "timeline_id": "01ab...32 hex",
 *   "mode": "read_write",                       // or "read_only" with "lsn": "0/16B5A50"
 *   "pageserver_url": "http://127.0.0.1:9898",
 *   "safekeepers": {"sk-0": "http://127.0.0.1:7676", "sk-1": "...", "sk-2": "..."},
 *   "postgres_version": 15,
 *   "listen_host": "127.0.0.1", "port": 55432, "http_port": 3080,
 *   "work_dir": "/var/lib/arbor/compute",
 *   "parameters": {"shared_buffers": "128MB"},
 *   "roles": [{"name": "app", "password_file": "/run/secrets/app", "createdb": true}],
 *   "databases": [{"name": "app", "owner": "app"}],
 *   "suspend_timeout": "5m",
 *   "storage_token_file": "/var/run/arbor/storage-token",
 *   "storage_ca_file": "/var/run/arbor/storage-ca.crt",
 *   "tls": {"cert_file": "/run/tls/tls.crt", "key_file": "/run/tls/tls.key", "ca_file": "/run/tls/ca.crt",
 *           "dns_name": "ep-1.arbor.svc"}
 * }
 * }</pre>
 * One model for everyone who writes or reads a spec: the agent runs it, the operator renders it from an
 * Endpoint and its Project, the CLI for a local endpoint. {@link #problems()} lists every value the agent
 * could not run with, naming the field and the fix; the JSON mapping ({@code dev.arbor.client.ComputeSpecJson})
 * also refuses unknown fields (a misspelt one would otherwise be silently ignored). What needs the machine
 * (PostgreSQL installed, the password sources, the pageserver knowing the timeline) the agent checks when it
 * starts.
 *
 * @param safekeepers safekeeper id → base URL; required for read_write, not used by read_only
 * @param listenHost where PostgreSQL and the agent's HTTP server listen; for read_write also the address the
 *     safekeepers connect to, so a concrete address (e.g. the pod IP), never a wildcard
 * @param httpPort the agent's HTTP port; 0 picks a free one (logged as {@code event=http_listening})
 * @param workDir an absolute directory; PGDATA goes below it (written as the path itself)
 * @param parameters PostgreSQL parameters; only those of {@link TenantParameters#ALLOWED}, none the start sequence
 *     manages ({@link ManagedParameters#NAMES})
 * @param suspendTimeout idle time after which the endpoint may be suspended, written as {@link DurationText} does;
 *     recorded, not acted on yet
 * @param storageTokenFile an absolute path to the file holding this compute's storage token (scope compute, its
 *     tenant and timeline), read on every call to the storage engine; null: it sends none (a storage engine started
 *     with {@code --insecure-no-auth}). The token itself is never in the spec.
 * @param storageCaFile an absolute path to the CA bundle (PEM) that {@code https://} storage URLs are trusted from, the
 *     only one they are (read again when it changes; copied for restore_command at each start); null: the JDK's trust store
 * @param storageInsecureHttp development only: the storage token may be sent to {@code http://} storage URLs. Without
 *     it, a spec with a {@code storage_token_file} names {@code https://} URLs only.
 * @param tls PostgreSQL's server certificate and the CA of the safekeepers' client certificates; null: PostgreSQL
 *     runs without TLS and the safekeepers replicate in the clear (docs/security.md, "TLS")
 */
public record ComputeAgentSpec(
    Integer formatVersion,
    TenantId tenantId,
    TimelineId timelineId,
    Mode mode,
    Lsn lsn,
    String pageserverUrl,
    Map<String, String> safekeepers,
    Integer postgresVersion,
    String listenHost,
    Integer port,
    Integer httpPort,
    Path workDir,
    Map<String, String> parameters,
    List<Role> roles,
    List<Database> databases,
    Duration suspendTimeout,
    String storageTokenFile,
    String storageCaFile,
    Boolean storageInsecureHttp,
    Tls tls) {

  /** A spec without TLS settings of its own (no {@code storage_ca_file}, {@code storage_insecure_http} or {@code tls}). */
  public ComputeAgentSpec(Integer formatVersion, TenantId tenantId, TimelineId timelineId, Mode mode, Lsn lsn, String pageserverUrl,
      Map<String, String> safekeepers, Integer postgresVersion, String listenHost, Integer port, Integer httpPort, Path workDir,
      Map<String, String> parameters, List<Role> roles, List<Database> databases, Duration suspendTimeout, String storageTokenFile) {
    this(formatVersion, tenantId, timelineId, mode, lsn, pageserverUrl, safekeepers, postgresVersion, listenHost, port, httpPort, workDir,
        parameters, roles, databases, suspendTimeout, storageTokenFile, null, null, null);
  }

  /** The {@code format_version} this model reads and writes. */
  public static final int FORMAT_VERSION = 1;
  /** The PostgreSQL major versions Arbor runs (15 on build hosts, 17 in the images). */
  public static final Set<Integer> POSTGRES_VERSIONS = Set.of(15, 16, 17);
  /** Roles the compute itself uses; a spec must not take them over. */
  public static final Set<String> RESERVED_ROLES = Set.of("postgres", "arbor_replication");
  private static final Pattern PARAMETER_NAME = Pattern.compile("^[a-z_][a-z0-9_.]*$");
  private static final Pattern SAFEKEEPER_ID = Pattern.compile("^[a-z0-9][a-z0-9_-]*$");
  private static final int MAX_NAME_BYTES = 63; // PostgreSQL's NAMEDATALEN - 1

  /** What the compute serves: the branch's head, writable, or a read-only snapshot at {@code lsn}. */
  public enum Mode {
    @JsonProperty("read_write") READ_WRITE,
    @JsonProperty("read_only") READ_ONLY;

    /** The spelling in the spec and in the agent's status. */
    public String text() {
      return this == READ_WRITE ? "read_write" : "read_only";
    }
  }

  /**
   * A role the agent creates or brings in line. The password comes from a file or an environment variable
   * (never from the spec itself); none given means the agent leaves the role's password as it is.
   */
  public record Role(String name, String passwordFile, String passwordEnv, Boolean login, Boolean createdb, Boolean createrole) {
    public Role {
      login = login == null || login;
      createdb = createdb != null && createdb;
      createrole = createrole != null && createrole;
    }
  }

  /** A database the agent creates if missing, owned by one of the spec's roles. */
  public record Database(String name, String owner) {}

  /**
   * PostgreSQL's TLS: it serves {@code certFile} (PEM, the chain from the compute's certificate up) with
   * {@code keyFile} (PEM; any owner and mode, the agent copies it to a private file PostgreSQL accepts) and asks
   * clients for certificates of {@code caFile}'s CAs. Replication connections must come over TLS with a client
   * certificate of that CA whose common name is the replication role ({@code arbor_replication}), besides its
   * password. The files are read again when they change (a renewed certificate is served without a restart).
   *
   * @param dnsName the name the safekeepers connect to and check the certificate against (verify-full): a name
   *     the certificate is issued for, that reaches this compute (e.g. its Service), {@code localhost} locally
   */
  public record Tls(String certFile, String keyFile, String caFile, String dnsName) {}

  @JsonCreator
  public ComputeAgentSpec {
    safekeepers = safekeepers == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(safekeepers));
    parameters = parameters == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
    roles = roles == null ? List.of() : List.copyOf(roles);
    databases = databases == null ? List.of() : List.copyOf(databases);
    if (pageserverUrl != null) {
      pageserverUrl = pageserverUrl.replaceAll("/+$", "");
    }
  }

  /** Every problem of this spec, in field order; empty when the agent can run it. */
  public List<FieldError> problems() {
    List<FieldError> errors = new ArrayList<>();
    if (formatVersion == null) {
      errors.add(new FieldError("format_version", "is required; this agent reads format_version " + FORMAT_VERSION));
    } else if (formatVersion != FORMAT_VERSION) {
      errors.add(new FieldError("format_version", "is " + formatVersion + " but this agent reads format_version " + FORMAT_VERSION
          + "; run an agent of the matching version or write the spec in format " + FORMAT_VERSION));
    }
    if (tenantId == null) {
      errors.add(new FieldError("tenant_id", "is required: the tenant (project) id, 32 lowercase hex digits"));
    }
    if (timelineId == null) {
      errors.add(new FieldError("timeline_id", "is required: the timeline (branch) id, 32 lowercase hex digits"));
    }
    if (mode == null) {
      errors.add(new FieldError("mode", "is required: read_write, or read_only with lsn for a static snapshot"));
    } else if (mode == Mode.READ_WRITE && lsn != null) {
      errors.add(new FieldError("lsn", "is only allowed with mode read_only (a read-write compute always starts at the end "
          + "of WAL); remove lsn, or set mode to read_only for a snapshot at " + lsn));
    } else if (mode == Mode.READ_ONLY && lsn == null) {
      errors.add(new FieldError("lsn", "is required with mode read_only: the LSN of the snapshot, e.g. \"0/16B5A50\" "
          + "(read replicas that follow the branch are not supported yet)"));
    }
    checkUrl(errors, "pageserver_url", pageserverUrl, true);
    if (mode == Mode.READ_WRITE) {
      if (safekeepers.isEmpty()) {
        errors.add(new FieldError("safekeepers", "is required with mode read_write: safekeeper id → URL of every safekeeper "
            + "(a commit returns once a majority has it)"));
      }
      Set<String> slots = new HashSet<>();
      safekeepers.forEach((id, url) -> {
        if (!SAFEKEEPER_ID.matcher(id).matches()) {
          errors.add(new FieldError("safekeepers." + id, "'" + id + "' is not a safekeeper id: use lowercase letters, digits, '-' and '_' "
              + "(it names the safekeeper's replication slot)"));
        } else if (!slots.add(id.replace('-', '_'))) {
          errors.add(new FieldError("safekeepers." + id, "collides with another id once '-' becomes '_' in its replication slot name; rename one"));
        }
        checkUrl(errors, "safekeepers." + id, url, true);
      });
    }
    if (postgresVersion == null) {
      errors.add(new FieldError("postgres_version", "is required: the PostgreSQL major version of the tenant, one of " + new TreeSet<>(POSTGRES_VERSIONS)));
    } else if (!POSTGRES_VERSIONS.contains(postgresVersion)) {
      errors.add(new FieldError("postgres_version", postgresVersion + " is not a PostgreSQL major version Arbor runs; use one of "
          + new TreeSet<>(POSTGRES_VERSIONS)));
    }
    if (listenHost == null || listenHost.isBlank()) {
      errors.add(new FieldError("listen_host", "is required: the address PostgreSQL and the agent listen on, e.g. 127.0.0.1"));
    } else if (mode == Mode.READ_WRITE && Set.of("0.0.0.0", "::", "*").contains(listenHost.strip())) {
      errors.add(new FieldError("listen_host", "is also the address the safekeepers connect to, so it must be a concrete "
          + "address (e.g. the pod IP), not the wildcard " + listenHost));
    }
    checkPort(errors, "port", port, false);
    checkPort(errors, "http_port", httpPort, true);
    if (port != null && port.equals(httpPort)) {
      errors.add(new FieldError("http_port", "is the same as port " + port + "; PostgreSQL and the agent need a port each"));
    }
    if (workDir == null) {
      errors.add(new FieldError("work_dir", "is required: an absolute path to a directory for PGDATA and the PostgreSQL log"));
    } else if (!workDir.isAbsolute()) {
      errors.add(new FieldError("work_dir", "'" + workDir + "' is relative; give an absolute path"));
    }
    parameters.forEach((name, value) -> {
      String field = "parameters." + name;
      if (!PARAMETER_NAME.matcher(name).matches()) {
        errors.add(new FieldError(field, "'" + name + "' is not a PostgreSQL parameter name (lowercase letters, digits, '_' and '.')"));
      } else if (ManagedParameters.NAMES.contains(name)) {
        errors.add(new FieldError(field, "is set by the compute agent itself (Arbor's durability, recovery and listening depend "
            + "on it); remove it from parameters"));
      } else if (!TenantParameters.ALLOWED.contains(name)) {
        errors.add(new FieldError(field, "is not allowed: only performance, planner, memory, locale, timeout, autovacuum and "
            + "duration-logging parameters may be set (the list and why: " + TenantParameters.DOCUMENTED_IN + "); remove it"));
      }
      if (value == null || value.contains("\n") || value.contains("\r") || value.contains("\0")) {
        errors.add(new FieldError(field, "needs a single-line value"));
      }
    });
    checkRoles(errors);
    checkDatabases(errors);
    if (suspendTimeout != null && suspendTimeout.isNegative()) {
      errors.add(new FieldError("suspend_timeout", "must not be negative; use 0s to never suspend"));
    }
    if (storageTokenFile != null && !Path.of(storageTokenFile).isAbsolute()) {
      errors.add(new FieldError("storage_token_file", "'" + storageTokenFile + "' is relative; give an absolute path"));
    }
    if (storageCaFile != null && !Path.of(storageCaFile).isAbsolute()) {
      errors.add(new FieldError("storage_ca_file", "'" + storageCaFile + "' is relative; give an absolute path"));
    }
    if (storageTokenFile != null && !Boolean.TRUE.equals(storageInsecureHttp)) {
      checkHttps(errors, "pageserver_url", pageserverUrl);
      if (mode == Mode.READ_WRITE) {
        safekeepers.forEach((id, url) -> checkHttps(errors, "safekeepers." + id, url));
      }
    }
    checkTls(errors);
    return errors;
  }

  /** A DNS name (or an IP address, which a certificate can name too): labels of letters, digits and '-'. */
  private static final Pattern DNS_NAME = Pattern.compile("^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
      + "(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$");

  private void checkTls(List<FieldError> errors) {
    if (tls == null) {
      return;
    }
    checkTlsFile(errors, "tls.cert_file", tls.certFile(), "PostgreSQL's server certificate (PEM, with its chain)");
    checkTlsFile(errors, "tls.key_file", tls.keyFile(), "the certificate's private key (PEM)");
    checkTlsFile(errors, "tls.ca_file", tls.caFile(), "the CA certificates (PEM) the safekeepers' client certificates are checked "
        + "against");
    if (tls.dnsName() == null || tls.dnsName().isBlank()) {
      errors.add(new FieldError("tls.dns_name", "is required: the name the safekeepers connect to and check the certificate "
          + "against, one the certificate is issued for (e.g. the compute's Service name; localhost for a local compute)"));
    } else if (!DNS_NAME.matcher(tls.dnsName()).matches()) {
      errors.add(new FieldError("tls.dns_name", "'" + tls.dnsName() + "' is not a DNS name: dot-separated labels of letters, digits "
          + "and '-', such as ep-1.arbor.svc"));
    }
  }

  private static void checkTlsFile(List<FieldError> errors, String field, String file, String what) {
    if (file == null || file.isBlank()) {
      errors.add(new FieldError(field, "is required with tls: an absolute path to " + what));
    } else if (!Path.of(file).isAbsolute()) {
      errors.add(new FieldError(field, "'" + file + "' is relative; give an absolute path"));
    }
  }

  private void checkRoles(List<FieldError> errors) {
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < roles.size(); i++) {
      Role r = roles.get(i);
      String at = "roles[" + i + "]";
      if (r == null) {
        errors.add(new FieldError(at, "is null; give an object with at least a name"));
        continue;
      }
      checkName(errors, at + ".name", r.name(), "role");
      if (r.name() != null) {
        if (r.name().startsWith("pg_")) {
          errors.add(new FieldError(at + ".name", "'" + r.name() + "': names beginning with pg_ are reserved by PostgreSQL; pick another"));
        } else if (RESERVED_ROLES.contains(r.name())) {
          errors.add(new FieldError(at + ".name", "'" + r.name() + "' is used by the compute itself; pick another name"));
        }
        if (!seen.add(r.name())) {
          errors.add(new FieldError(at + ".name", "role '" + r.name() + "' is listed twice; keep one entry"));
        }
      }
      if (r.passwordFile() != null && r.passwordEnv() != null) {
        errors.add(new FieldError(at, "has both password_file and password_env; keep one"));
      }
      if (r.passwordFile() != null && !Path.of(r.passwordFile()).isAbsolute()) {
        errors.add(new FieldError(at + ".password_file", "'" + r.passwordFile() + "' is relative; give an absolute path"));
      }
      if (r.passwordEnv() != null && r.passwordEnv().isBlank()) {
        errors.add(new FieldError(at + ".password_env", "is empty; give the name of the environment variable that holds the password"));
      }
      if (Boolean.TRUE.equals(r.createrole()) && postgresVersion != null && postgresVersion < CREATEROLE_CONFINED_SINCE) {
        errors.add(new FieldError(at + ".createrole", CREATEROLE_BEFORE_16));
      }
    }
  }

  /** The PostgreSQL major from which CREATEROLE reaches only the roles its holder created or was given ADMIN on. */
  public static final int CREATEROLE_CONFINED_SINCE = 16;

  /** Why a role with CREATEROLE is refused on an older PostgreSQL, and what to do (the operator says the same). */
  public static final String CREATEROLE_BEFORE_16 = "CREATEROLE before PostgreSQL 16 lets a role grant itself any "
      + "non-superuser role, pg_execute_server_program and pg_read_server_files included, and alter or drop the compute's "
      + "own roles; remove CREATEROLE, or use PostgreSQL 16 or later";

  private void checkDatabases(List<FieldError> errors) {
    Set<String> roleNames = new HashSet<>();
    roles.stream().filter(r -> r != null && r.name() != null).forEach(r -> roleNames.add(r.name()));
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < databases.size(); i++) {
      Database d = databases.get(i);
      String at = "databases[" + i + "]";
      if (d == null) {
        errors.add(new FieldError(at, "is null; give an object with name and owner"));
        continue;
      }
      checkName(errors, at + ".name", d.name(), "database");
      if (d.name() != null) {
        if (d.name().equals("template0") || d.name().equals("template1")) {
          errors.add(new FieldError(at + ".name", "'" + d.name() + "' is PostgreSQL's template database; pick another name"));
        }
        if (!seen.add(d.name())) {
          errors.add(new FieldError(at + ".name", "database '" + d.name() + "' is listed twice; keep one entry"));
        }
      }
      if (d.owner() == null || d.owner().isBlank()) {
        errors.add(new FieldError(at + ".owner", "is required: one of the roles of this spec"));
      } else if (!roleNames.contains(d.owner())) {
        errors.add(new FieldError(at + ".owner", "'" + d.owner() + "' is not among roles; add a role named " + d.owner()
            + " or pick one of " + new TreeSet<>(roleNames)));
      }
    }
  }

  private static void checkName(List<FieldError> errors, String field, String name, String kind) {
    if (name == null || name.isEmpty()) {
      errors.add(new FieldError(field, "is required: the " + kind + "'s name"));
    } else if (name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES || name.indexOf('\0') >= 0) {
      errors.add(new FieldError(field, "'" + name + "' is not a PostgreSQL " + kind + " name: at most " + MAX_NAME_BYTES + " bytes, no NUL"));
    }
  }

  private static void checkPort(List<FieldError> errors, String field, Integer port, boolean zeroAllowed) {
    if (port == null) {
      errors.add(new FieldError(field, "is required: a TCP port" + (zeroAllowed ? " (0 picks a free one)" : "")));
    } else if (port < (zeroAllowed ? 0 : 1) || port > 65535) {
      errors.add(new FieldError(field, port + " is not a TCP port; use " + (zeroAllowed ? "0" : "1") + " to 65535"));
    }
  }

  /** A URL the storage token is sent to: https, unless storage_insecure_http allows plain HTTP. */
  private static void checkHttps(List<FieldError> errors, String field, String url) {
    if (url != null && url.startsWith("http://")) {
      errors.add(new FieldError(field, "'" + url + "' is plain HTTP, and the compute sends its storage token (storage_token_file) "
          + "there; use the https:// URL of a storage engine serving TLS (trusted through storage_ca_file), or, for development "
          + "only, set storage_insecure_http: true"));
    }
  }

  private static void checkUrl(List<FieldError> errors, String field, String url, boolean required) {
    if (url == null || url.isBlank()) {
      if (required) {
        errors.add(new FieldError(field, "is required: an http:// URL such as http://127.0.0.1:9898"));
      }
      return;
    }
    try {
      URI uri = new URI(url);
      if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()) || uri.getHost() == null) {
        errors.add(new FieldError(field, "'" + url + "' is not an http(s) URL with a host, such as http://127.0.0.1:9898"));
      } else if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
        errors.add(new FieldError(field, "'" + url + "' has a query or fragment; give the base URL only"));
      }
    } catch (URISyntaxException e) {
      errors.add(new FieldError(field, "'" + url + "' is not a URL: " + e.getReason()));
    }
  }
}

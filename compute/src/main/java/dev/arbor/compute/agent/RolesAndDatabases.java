package dev.arbor.compute.agent;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.InvalidSpecException;
import dev.arbor.api.compute.ComputeAgentSpec.Database;
import dev.arbor.api.compute.ComputeAgentSpec.Role;
import dev.arbor.api.compute.InvalidSpecException.FieldError;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.postgresql.util.PasswordUtil;

/**
 * The spec's roles and databases, brought into PostgreSQL declaratively: what is missing is created, what
 * differs is changed, everything else — including roles and databases the spec does not name — is left
 * alone. Running it twice with the same spec changes nothing the second time (not even a password's salt).
 *
 * <p>Passwords never reach PostgreSQL, a log or an exception message in clear text: the agent computes the
 * SCRAM-SHA-256 verifier itself and sends {@code PASSWORD 'SCRAM-SHA-256$...'}, which PostgreSQL stores
 * as is; a stored verifier is checked by recomputing it with its own salt and iteration count.
 */
final class RolesAndDatabases {

  /** One difference between the spec and the database: what it is and which attributes differ. */
  record Change(String kind, String name, String action, List<String> attributes, String sql) {}

  private final List<Role> roles;
  private final List<Database> databases;
  private final Map<String, char[]> passwords;

  private RolesAndDatabases(List<Role> roles, List<Database> databases, Map<String, char[]> passwords) {
    this.roles = roles;
    this.databases = databases;
    this.passwords = passwords;
  }

  /**
   * Reads every role's password from its file or environment variable now, before PostgreSQL starts, so a
   * missing secret stops the start with the field named. A file's trailing line break is not part of the
   * password ({@code echo secret > file} and Kubernetes secrets both work).
   */
  static RolesAndDatabases resolve(ComputeAgentSpec spec, Function<String, String> environment) {
    Map<String, char[]> passwords = new LinkedHashMap<>();
    List<FieldError> errors = new ArrayList<>();
    for (int i = 0; i < spec.roles().size(); i++) {
      Role r = spec.roles().get(i);
      String secret = null;
      String field = null;
      if (r.passwordFile() != null) {
        field = "roles[" + i + "].password_file";
        try {
          secret = Files.readString(Path.of(r.passwordFile()), StandardCharsets.UTF_8).replaceFirst("\\r?\\n$", "");
        } catch (IOException e) {
          errors.add(new FieldError(field, "cannot read " + r.passwordFile() + " (" + e.getClass().getSimpleName()
              + "); mount the secret there or fix the path"));
          continue;
        }
      } else if (r.passwordEnv() != null) {
        field = "roles[" + i + "].password_env";
        secret = environment.apply(r.passwordEnv());
        if (secret == null) {
          errors.add(new FieldError(field, "environment variable " + r.passwordEnv() + " is not set; set it to the role's password"));
          continue;
        }
      }
      if (secret != null) {
        if (secret.isEmpty()) {
          errors.add(new FieldError(field, "the password of role " + r.name() + " is empty; PostgreSQL refuses empty passwords"));
        } else {
          passwords.put(r.name(), secret.toCharArray());
        }
      }
    }
    if (!errors.isEmpty()) {
      throw new InvalidSpecException(errors);
    }
    return new RolesAndDatabases(spec.roles(), spec.databases(), passwords);
  }

  int roleCount() {
    return roles.size();
  }

  int databaseCount() {
    return databases.size();
  }

  /** What would have to change for PostgreSQL to match the spec; reads only, so it works on a hot standby. */
  List<Change> differences(Connection c) throws SQLException {
    List<Change> changes = new ArrayList<>();
    for (Role r : roles) {
      roleChange(c, r).ifPresent(changes::add);
    }
    for (Database d : databases) {
      databaseChange(c, d).ifPresent(changes::add);
    }
    return changes;
  }

  /** Makes PostgreSQL match the spec (roles first: databases name their owners); returns what it changed. */
  List<Change> apply(Connection c) throws SQLException {
    List<Change> made = new ArrayList<>();
    for (Role r : roles) {
      var change = roleChange(c, r);
      if (change.isPresent()) {
        execute(c, change.get().sql());
        made.add(change.get());
      }
    }
    for (Database d : databases) {
      var change = databaseChange(c, d); // after the roles exist
      if (change.isPresent()) {
        execute(c, change.get().sql()); // CREATE DATABASE cannot run in a transaction block: autocommit
        made.add(change.get());
      }
    }
    return made;
  }

  private Optional<Change> roleChange(Connection c, Role r) throws SQLException {
    char[] password = passwords.get(r.name());
    // A declared role is never more than this, whatever happened to it meanwhile: no superuser, no replication, RLS applies.
    String attributes = "NOSUPERUSER NOREPLICATION NOBYPASSRLS " + (r.login() ? "LOGIN" : "NOLOGIN")
        + (r.createdb() ? " CREATEDB" : " NOCREATEDB") + (r.createrole() ? " CREATEROLE" : " NOCREATEROLE");
    try (PreparedStatement ps = c.prepareStatement("SELECT rolcanlogin, rolcreatedb, rolcreaterole, rolpassword, "
        + "rolsuper OR rolreplication OR rolbypassrls FROM pg_authid WHERE rolname = ?")) {
      ps.setString(1, r.name());
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          String sql = "CREATE ROLE " + ident(r.name()) + " " + attributes
              + (password == null ? "" : " PASSWORD " + literal(PasswordUtil.encodeScramSha256(password.clone())));
          return Optional.of(new Change("role", r.name(), "created", List.of(), sql));
        }
        List<String> differ = new ArrayList<>();
        if (rs.getBoolean(1) != r.login()) {
          differ.add("login");
        }
        if (rs.getBoolean(2) != r.createdb()) {
          differ.add("createdb");
        }
        if (rs.getBoolean(3) != r.createrole()) {
          differ.add("createrole");
        }
        if (rs.getBoolean(5)) {
          differ.add("privileges beyond the spec");
        }
        boolean passwordDiffers = password != null && !verifies(rs.getString(4), password);
        if (passwordDiffers) {
          differ.add("password");
        }
        if (differ.isEmpty()) {
          return Optional.empty();
        }
        String sql = "ALTER ROLE " + ident(r.name()) + " " + attributes
            + (passwordDiffers ? " PASSWORD " + literal(PasswordUtil.encodeScramSha256(password.clone())) : "");
        return Optional.of(new Change("role", r.name(), "updated", differ, sql));
      }
    }
  }

  private static Optional<Change> databaseChange(Connection c, Database d) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = ?")) {
      ps.setString(1, d.name());
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return Optional.of(new Change("database", d.name(), "created", List.of(),
              "CREATE DATABASE " + ident(d.name()) + " OWNER " + ident(d.owner())));
        }
        if (!d.owner().equals(rs.getString(1))) {
          return Optional.of(new Change("database", d.name(), "updated", List.of("owner"),
              "ALTER DATABASE " + ident(d.name()) + " OWNER TO " + ident(d.owner())));
        }
        return Optional.empty();
      }
    }
  }

  /**
   * Whether a stored password is the SCRAM-SHA-256 verifier of {@code password}: the verifier
   * {@code SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>} recomputed with the same salt and
   * iteration count must come out identical. Anything else (no password, md5) does not verify.
   */
  static boolean verifies(String stored, char[] password) {
    if (stored == null || !stored.startsWith("SCRAM-SHA-256$")) {
      return false;
    }
    String[] parts = stored.split("\\$");
    if (parts.length != 3) {
      return false;
    }
    String[] iterationsAndSalt = parts[1].split(":");
    if (iterationsAndSalt.length != 2) {
      return false;
    }
    try {
      int iterations = Integer.parseInt(iterationsAndSalt[0]);
      byte[] salt = Base64.getDecoder().decode(iterationsAndSalt[1]);
      // encodeScramSha256 wipes the array it is given
      return stored.equals(PasswordUtil.encodeScramSha256(password.clone(), iterations, salt));
    } catch (IllegalArgumentException malformed) {
      return false;
    }
  }

  private static void execute(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  static String ident(String name) {
    return "\"" + name.replace("\"", "\"\"") + "\"";
  }

  private static String literal(String value) {
    return "'" + value.replace("'", "''") + "'";
  }

  /** Wipes the passwords held in memory once they are no longer needed. */
  void forgetPasswords() {
    passwords.values().forEach(p -> Arrays.fill(p, '\0'));
  }
}

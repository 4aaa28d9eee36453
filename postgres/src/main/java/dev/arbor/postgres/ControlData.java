package dev.arbor.postgres;

import dev.arbor.api.Lsn;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The fields {@code pg_controldata} prints for a stopped (or running) cluster. */
public record ControlData(Map<String, String> fields) {

  public static ControlData read(PostgresInstallation installation, Path dataDir) throws IOException {
    ServerUser.Output out = ServerUser.current().run(
        List.of(installation.binary("pg_controldata").toString(), "-D", dataDir.toAbsolutePath().toString()), Duration.ofMinutes(1));
    if (out.exitCode() != 0) {
      throw new IOException("pg_controldata -D " + dataDir + " failed (exit " + out.exitCode() + "): " + out.stderrLine());
    }
    Map<String, String> fields = new LinkedHashMap<>();
    for (String line : out.stdout().split("\n")) {
      int colon = line.indexOf(':');
      if (colon > 0) {
        fields.put(line.substring(0, colon).trim(), line.substring(colon + 1).trim());
      }
    }
    return new ControlData(fields);
  }

  public String get(String field) {
    String v = fields.get(field);
    if (v == null) {
      throw new IllegalStateException("pg_controldata printed no '" + field + "'");
    }
    return v;
  }

  public Lsn latestCheckpoint() {
    return Lsn.parse(get("Latest checkpoint location"));
  }

  public int latestCheckpointTli() {
    return Integer.parseInt(get("Latest checkpoint's TimeLineID"));
  }

  /** Where recovery from the latest checkpoint (or restartpoint) begins to read WAL. */
  public Lsn latestCheckpointRedo() {
    return Lsn.parse(get("Latest checkpoint's REDO location"));
  }

  /** How far recovery must replay before the cluster is consistent (0/0: anywhere). */
  public Lsn minRecoveryEnd() {
    return Lsn.parse(get("Minimum recovery ending location"));
  }

  public String clusterState() {
    return get("Database cluster state");
  }

  public long walSegmentSize() {
    return Long.parseLong(get("Bytes per WAL segment"));
  }

  public String systemIdentifier() {
    return get("Database system identifier");
  }
}

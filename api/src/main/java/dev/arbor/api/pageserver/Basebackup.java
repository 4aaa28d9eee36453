package dev.arbor.api.pageserver;

import java.util.List;

/**
 * What a basebackup ({@code GET /v1/tenant/{tenant_id}/timeline/{timeline_id}/basebackup}) puts into PGDATA
 * besides the cluster's files, for the compute that starts from it.
 */
public final class Basebackup {
  private Basebackup() {}

  /** Included from postgresql.conf: restore_command and the TLI recovery follows. */
  public static final String RECOVERY_CONF = "arbor-recovery.conf";

  /** The WAL files recovery will read ({@link RecoveryWal}), for whoever prepares the PGDATA to fetch ahead. */
  public static final String RECOVERY_WAL = "arbor-recovery-wal.json";
  /**
   * A directory in PGDATA: a WAL file found there under the name recovery asks for is moved into place by
   * restore_command instead of being downloaded, and while {@code NAME.part} exists restore_command waits
   * for {@code NAME} (up to 10 s). Whoever puts a file there must give it exactly the bytes that
   * {@link RecoveryWal#walUrl()} serves for that name, owned by the server's user, and create it by renaming.
   */
  public static final String PREFETCHED_WAL_DIR = "arbor-wal";

  /**
   * A file in PGDATA whose one line is the {@code Authorization} header restore_command sends to the storage
   * engine ({@code curl -H @FILE}), so the token is in no command line; without the file it sends none. Whoever
   * runs the server keeps it current from its token file, owned by the server's user with mode 0600. Images
   * never hold it.
   */
  public static final String STORAGE_AUTH_FILE = "arbor-storage-auth";

  /**
   * A file in PGDATA: the CA bundle (PEM) restore_command trusts on an {@code https://} storage URL
   * ({@code curl --cacert FILE}); without it curl uses its own trust store. Whoever runs the server copies it from
   * the CA it trusts (a compute's {@code storage_ca_file}, the pageserver's {@code --tls-ca}). Images never hold it.
   */
  public static final String STORAGE_CA_FILE = "arbor-storage-ca.crt";

  /**
   * The content of {@value #RECOVERY_WAL}: restore_command's URL ({@code %f} stands for the file name) and
   * the segment files recovery reads, oldest first.
   */
  public record RecoveryWal(String walUrl, List<String> files) {}
}

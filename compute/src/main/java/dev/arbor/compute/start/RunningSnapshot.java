package dev.arbor.compute.start;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresServer;

/**
 * A read-only compute at a fixed LSN: a hot standby whose WAL ends at that LSN and which never promotes. It
 * has no generation and streams nothing, so stopping or killing it never affects the timeline.
 */
public final class RunningSnapshot implements StartedCompute {
  private final PostgresServer server;
  private final Lsn lsn;
  private final ServerTls.Watch tlsWatch;

  RunningSnapshot(PostgresServer server, Lsn lsn, ServerTls.Watch tlsWatch) {
    this.server = server;
    this.lsn = lsn;
    this.tlsWatch = tlsWatch;
  }

  /** The point in the timeline's history this snapshot shows. */
  public Lsn lsn() {
    return lsn;
  }

  @Override
  public PostgresServer server() {
    return server;
  }

  @Override
  public boolean readOnly() {
    return true;
  }

  @Override
  public void stop() {
    tlsWatch.close();
    server.stop();
  }

  @Override
  public void kill() {
    tlsWatch.close();
    server.kill();
  }
}

package dev.arbor.storage.safekeeper;

import dev.arbor.postgres.Lsn;

/**
 * Tells a safekeeper to stream WAL from the compute of {@code generation}: connect to {@code host:port} as the
 * replication role, using the physical slot {@code slotName}, starting at {@code startLsn} on {@code tli}.
 */
public record FollowRequest(long generation, int tli, Lsn startLsn, String host, int port, String user, String password, String slotName) {
  @Override
  public String toString() { // never log the password
    return "FollowRequest[generation=" + generation + ", tli=" + tli + ", startLsn=" + startLsn + ", host=" + host + ", port=" + port
        + ", user=" + user + ", slotName=" + slotName + "]";
  }
}

package dev.arbor.api.safekeeper;

import dev.arbor.api.Lsn;
import java.util.List;

/**
 * Tells a safekeeper to stream WAL from the compute of {@code generation}: connect to {@code host:port} as the
 * replication role, using the physical slot {@code slotName}, starting at {@code startLsn} on {@code tli}.
 *
 * @param peers base URLs of the other safekeepers of the timeline: where this one fetches complete segments
 *     the compute no longer has when it fell too far behind (object storage is asked first); may be empty
 */
public record FollowRequest(long generation, int tli, Lsn startLsn, String host, int port, String user, String password, String slotName,
    List<String> peers) {

  public FollowRequest {
    peers = peers == null ? List.of() : List.copyOf(peers); // requests from before peers existed carry none
  }

  @Override
  public String toString() { // never log the password
    return "FollowRequest[generation=" + generation + ", tli=" + tli + ", startLsn=" + startLsn + ", host=" + host + ", port=" + port
        + ", user=" + user + ", slotName=" + slotName + ", peers=" + peers + "]";
  }
}

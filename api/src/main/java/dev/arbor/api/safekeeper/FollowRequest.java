package dev.arbor.api.safekeeper;

import com.fasterxml.jackson.annotation.JsonCreator;
import dev.arbor.api.Lsn;
import java.util.List;

/**
 * Tells a safekeeper to stream WAL from the compute of {@code generation}: connect to {@code host:port} as the
 * replication role, using the physical slot {@code slotName}, starting at {@code startLsn} on {@code tli}.
 *
 * @param peers base URLs of the other safekeepers of the timeline: where this one fetches complete segments
 *     the compute no longer has when it fell too far behind (object storage is asked first); may be empty
 * @param tls whether the compute serves TLS: the safekeeper then connects with verify-full (the compute's
 *     certificate must chain to the safekeeper's {@code --tls-ca} and be issued for {@code host}) and presents its
 *     own certificate ({@code --tls-cert}, {@code --tls-key}) as the client identity; a safekeeper without them
 *     refuses the request. False or absent: in the clear, as before TLS existed
 */
public record FollowRequest(long generation, int tli, Lsn startLsn, String host, int port, String user, String password, String slotName,
    List<String> peers, boolean tls) {

  @JsonCreator
  public FollowRequest {
    peers = peers == null ? List.of() : List.copyOf(peers); // requests from before peers existed carry none
  }

  /** A request to follow a compute in the clear. */
  public FollowRequest(long generation, int tli, Lsn startLsn, String host, int port, String user, String password, String slotName,
      List<String> peers) {
    this(generation, tli, startLsn, host, port, user, password, slotName, peers, false);
  }

  @Override
  public String toString() { // never log the password
    return "FollowRequest[generation=" + generation + ", tli=" + tli + ", startLsn=" + startLsn + ", host=" + host + ", port=" + port
        + ", user=" + user + ", slotName=" + slotName + ", peers=" + peers + ", tls=" + tls + "]";
  }
}

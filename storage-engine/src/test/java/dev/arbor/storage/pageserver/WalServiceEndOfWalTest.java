package dev.arbor.storage.pageserver;

import static dev.arbor.storage.pageserver.PageserverFixture.timelinePath;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.ObjectKeys;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The WAL service answers 404 only at the end of WAL. A file that the timeline's history says holds WAL
 * below a known end, and that no source can serve now (a safekeeper down, an offload in flight), is a 503:
 * restore_command then stops recovery instead of letting PostgreSQL promote early. And nobody is served
 * WAL of a TLI past where that TLI ended, whatever copy a source holds.
 *
 * <p>Each test has a fresh tenant whose root ran one generation: TLI 2, promoted from initdb's TLI 1 at
 * {@code S} (initdb's end of WAL, inside segment 1). The fixture's only safekeeper is unreachable.
 */
class WalServiceEndOfWalTest {
  private static final long SEGMENT_SIZE = Lsn.DEFAULT_SEGMENT_SIZE;

  @RegisterExtension
  static final PageserverFixture pageserver = new PageserverFixture();

  private String tenant;
  private String root;
  private Lsn switchPoint;

  @BeforeEach
  void tenantWithOneStartedGeneration() {
    JsonNode t = pageserver.createTenant();
    tenant = t.get("tenant_id").asText();
    root = t.get("root_timeline_id").asText();
    switchPoint = Lsn.parse(pageserver.timeline(tenant, root).get("created_lsn").asText());
    JsonNode reservation = pageserver.api().post(timelinePath(tenant, root) + "/generation", Map.of("generation", 1)).expect(200);
    assertThat(reservation.get("pg_tli").asInt()).isEqualTo(2);
    pageserver.api().post(timelinePath(tenant, root) + "/generation/1/started", Map.of("parent_tli", 1,
        "start_lsn", switchPoint.toString(), "history", "1\t" + switchPoint + "\tno recovery target specified\n")).expect(200);
  }

  private String segment(int tli, Lsn at) {
    return WalFileName.segment(tli, at.segmentNumber(SEGMENT_SIZE), SEGMENT_SIZE);
  }

  private RawApi.Reply wal(String file, String query) {
    return pageserver.api().get(timelinePath(tenant, root) + "/wal/" + file + query);
  }

  @Test
  void aSegmentBelowTheGivenEndThatNoSourceServesIsA503() {
    Lsn end = switchPoint.plus(4096);
    RawApi.Reply reply = wal(segment(2, switchPoint), "?until_lsn=" + end);
    assertThat(reply.status()).as(reply.text()).isEqualTo(503);
    assertThat(reply.text()).contains("not the end of WAL");
  }

  @Test
  void aSafekeeperThatCannotBeAskedIsA503NotTheEndOfWal() {
    RawApi.Reply reply = wal(segment(2, switchPoint), "");
    assertThat(reply.status()).as(reply.text()).isEqualTo(503);
    assertThat(reply.json().get("type").asText()).endsWith("safekeepers-unavailable");
  }

  /**
   * A compute promoted into TLI 2 and stopped before the safekeepers acknowledged any WAL of it; the next generation's
   * election ended TLI 2 where it began. Its segment holds nothing of its own and no source will ever serve one: the end
   * of WAL (PostgreSQL then reads TLI 1's segment), not a 503 that would stop every later start.
   */
  @Test
  void aTliThatEndedWhereItBeganHoldsNoWalOfItsOwn() {
    JsonNode reservation = pageserver.api().post(timelinePath(tenant, root) + "/generation", Map.of("generation", 2)).expect(200);
    assertThat(reservation.get("pg_tli").asInt()).isEqualTo(3);
    pageserver.api().post(timelinePath(tenant, root) + "/generation/2/started", Map.of("parent_tli", 2, "start_lsn",
        switchPoint.toString(), "history", "1\t" + switchPoint + "\tno recovery target specified\n2\t" + switchPoint
            + "\tno recovery target specified\n")).expect(200);
    RawApi.Reply reply = wal(segment(2, switchPoint), "");
    assertThat(reply.status()).as(reply.describe()).isEqualTo(404);
  }

  @Test
  void beyondTheGivenEndIsTheEndOfWal() {
    Lsn end = switchPoint.plus(4096);
    long next = end.segmentNumber(SEGMENT_SIZE) + 1;
    assertThat(wal(WalFileName.segment(2, next, SEGMENT_SIZE), "?until_lsn=" + end).status()).isEqualTo(404);
  }

  @Test
  void anEndedTliIsServedOnlyUpToItsSwitchPointWhateverTheArchiveHolds() throws IOException {
    // A copy of TLI 1's last segment that runs on past the switch point, as a safekeeper that still
    // followed the old compute would have offloaded it.
    String name = segment(1, switchPoint);
    Path object = objectPath(name);
    byte[] stored = Files.readAllBytes(object);
    byte[] pastSwitch = stored.clone();
    int cut = (int) (switchPoint.value() - switchPoint.segmentStart(SEGMENT_SIZE).value());
    Arrays.fill(pastSwitch, cut, pastSwitch.length, (byte) 0x5A);
    Files.write(object, pastSwitch);

    byte[] served = bytes(wal(name, ""));
    assertThat(served).hasSize((int) SEGMENT_SIZE);
    assertThat(Arrays.copyOfRange(served, 0, cut)).isEqualTo(Arrays.copyOfRange(stored, 0, cut));
    assertThat(Arrays.copyOfRange(served, cut, served.length)).as("bytes past the switch point").containsOnly((byte) 0);
  }

  @Test
  void anEndedTlisArchivedPartialTailIsServedUnderItsSegmentName() throws IOException {
    String name = segment(1, switchPoint);
    Path object = objectPath(name);
    byte[] stored = Files.readAllBytes(object);
    Files.move(object, objectPath(name + ".partial"));

    assertThat(bytes(wal(name, ""))).isEqualTo(stored);
  }

  @Test
  void untilCutsAnArchivedSegmentThatRunsPastIt() throws IOException {
    String name = segment(1, switchPoint);
    Lsn until = switchPoint.segmentStart(SEGMENT_SIZE).plus(8192);
    byte[] served = bytes(wal(name, "?until_lsn=" + until));
    byte[] stored = Files.readAllBytes(objectPath(name));
    assertThat(Arrays.copyOfRange(served, 0, 8192)).isEqualTo(Arrays.copyOfRange(stored, 0, 8192));
    assertThat(Arrays.copyOfRange(served, 8192, served.length)).containsOnly((byte) 0);
  }

  private static byte[] bytes(RawApi.Reply reply) {
    assertThat(reply.status()).as(reply.describe()).isEqualTo(200);
    return reply.body();
  }

  private Path objectPath(String walFile) {
    return pageserver.objectsRoot().resolve(ObjectKeys.wal(new TenantId(tenant), new TimelineId(root), walFile));
  }
}

package dev.arbor.storage.pageserver;

import dev.arbor.api.pageserver.Basebackup;

import static dev.arbor.storage.pageserver.PageserverFixture.timelinePath;
import static dev.arbor.storage.pageserver.PageserverFixture.timelines;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.image.SystemTar;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The pageserver keeps no state of its own: everything is in object storage, so a new pageserver on the
 * same store (new process state, new port, new work directory) finds every tenant and timeline with its
 * ancestry and LSNs, keeps enforcing the rules that depend on them, and streams basebackups.
 */
class PageserverRestartTest {

  @RegisterExtension
  static final PageserverFixture pageserver = new PageserverFixture();

  @Test
  void aNewPageserverOnTheSameObjectStoreFindsEverything() {
    JsonNode one = pageserver.createTenant();
    JsonNode two = pageserver.createTenant();
    String t1 = one.get("tenant_id").asText();
    String root1 = one.get("root_timeline_id").asText();
    String t2 = two.get("tenant_id").asText();
    String root2 = two.get("root_timeline_id").asText();
    String head = pageserver.timeline(t1, root1).get("last_durable_lsn").asText();

    String b1 = pageserver.createBranch(t1, Map.of("ancestor_timeline_id", root1)).get("timeline_id").asText();
    String b2 = pageserver.createBranch(t1, Map.of("ancestor_timeline_id", b1, "ancestor_lsn", head)).get("timeline_id").asText();
    String named = TimelineId.random().toString();
    pageserver.createBranch(t1, Map.of("ancestor_timeline_id", root1, "new_timeline_id", named));
    String c1 = pageserver.createBranch(t2, Map.of("ancestor_timeline_id", root2)).get("timeline_id").asText();

    State before = state();
    assertThat(before.timelines().get(t1).keySet()).containsExactlyInAnyOrder(root1, b1, b2, named);
    assertThat(before.timelines().get(t2).keySet()).containsExactlyInAnyOrder(root2, c1);
    DownloadedBasebackup backupBefore = DownloadedBasebackup.fetch(pageserver.api(), t1, b2, "", pageserver.directory(), "before");
    String oldUrl = pageserver.url();

    pageserver.restart();

    assertThat(pageserver.url()).isNotEqualTo(oldUrl);
    assertThatThrownBy(() -> new RawApi(oldUrl).get("/v1/status")).as("the old pageserver is gone")
        .isInstanceOf(UncheckedIOException.class).hasCauseInstanceOf(ConnectException.class);
    assertThat(state()).as("tenants and timelines seen by the new pageserver").isEqualTo(before);

    // What the new pageserver does with them still follows the ancestry it read.
    assertThat(pageserver.api().delete(timelinePath(t1, b1)).status()).as("b1 still has child b2").isEqualTo(409);
    assertThat(pageserver.api().post(timelines(t1), Map.of("ancestor_timeline_id", root1, "new_timeline_id", named)).expect(200))
        .as("a retried create is still recognized").isEqualTo(before.timelines().get(t1).get(named));
    String b3 = pageserver.createBranch(t1, Map.of("ancestor_timeline_id", b2)).get("timeline_id").asText();
    assertThat(pageserver.timeline(t1, b3).get("ancestor_lsn").asText()).isEqualTo(head);

    DownloadedBasebackup backupAfter = DownloadedBasebackup.fetch(pageserver.api(), t1, b2, "", pageserver.directory(), "after");
    assertThat(exceptRecoveryConf(backupAfter)).as("the same PGDATA as before the restart").isEqualTo(exceptRecoveryConf(backupBefore));
    assertThat(backupAfter.recoveryConf()).as("only the pageserver's address changed")
        .isEqualTo(backupBefore.recoveryConf().replace(oldUrl, pageserver.url()));
    assertThat(backupAfter.recoveryConf()).contains(pageserver.url() + timelinePath(t1, b2) + "/wal/%f");
    assertThat(backupAfter.recoveryWal()).isEqualTo(backupBefore.recoveryWal().replace(oldUrl, pageserver.url()));
  }

  /** Every tenant and every timeline (by id, as the API shows them) of one pageserver. */
  private record State(Map<String, JsonNode> tenants, Map<String, Map<String, JsonNode>> timelines) {}

  private static State state() {
    Map<String, JsonNode> tenants = new TreeMap<>();
    Map<String, Map<String, JsonNode>> timelines = new TreeMap<>();
    for (JsonNode t : elements(pageserver.api().get("/v1/tenant").expect(200))) {
      String id = t.get("tenant_id").asText();
      assertThat(pageserver.api().get("/v1/tenant/" + id).expect(200)).isEqualTo(t);
      tenants.put(id, t);
      Map<String, JsonNode> byId = new TreeMap<>();
      for (JsonNode tl : elements(pageserver.api().get(timelines(id)).expect(200))) {
        String timelineId = tl.get("timeline_id").asText();
        assertThat(pageserver.timeline(id, timelineId)).isEqualTo(tl);
        byId.put(timelineId, tl);
      }
      timelines.put(id, byId);
    }
    return new State(tenants, timelines);
  }

  /** The tar's entries (path, mode, owner, size, mtime) but those that name the pageserver's address. */
  private static List<SystemTar.Entry> exceptRecoveryConf(DownloadedBasebackup backup) {
    return backup.entries().stream().filter(e -> !e.path().equals(Basebackup.RECOVERY_CONF)
        && !e.path().equals(Basebackup.RECOVERY_WAL)).toList();
  }

  private static List<JsonNode> elements(JsonNode array) {
    assertThat(array.isArray()).isTrue();
    return new ArrayList<>(StreamSupport.stream(array.spliterator(), false).toList());
  }
}

package dev.arbor.storage.pageserver;

import static dev.arbor.storage.pageserver.PageserverFixture.timelinePath;
import static dev.arbor.storage.pageserver.PageserverFixture.timelines;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.ObjectKeys;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Branch creation is O(1) (invariant 3, copy-on-write): a branch is its {@code timeline.json} and nothing
 * else, at the parent's head or an explicit LSN, to any depth; a retried create is answered from what
 * exists; deleting a leaf removes exactly its objects.
 *
 * <p>The root never ran a compute here, so its head is its start (initdb's checkpoint): that is the only
 * LSN a branch of it can have, and every branch in this class is at it.
 */
class BranchCreationTest {
  /** What a branch may add to object storage: one small JSON document. */
  private static final long BRANCH_BYTES_LIMIT = 64 * 1024;

  @RegisterExtension
  static final PageserverFixture pageserver = new PageserverFixture();

  private static String tenant;
  private static String root;
  private static String head;

  @BeforeAll
  static void tenant() {
    JsonNode t = pageserver.createTenant();
    tenant = t.get("tenant_id").asText();
    root = t.get("root_timeline_id").asText();
    JsonNode rootTimeline = pageserver.timeline(tenant, root);
    head = rootTimeline.get("last_durable_lsn").asText();
    assertThat(rootTimeline.get("created_lsn").asText()).as("a root that never ran a compute ends where initdb ended").isEqualTo(head);
  }

  @Test
  void aBranchOfTheRootAtItsHeadIsOneSmallDocument() {
    JsonNode branch = createAddingOnlyItsTimelineJson(Map.of("ancestor_timeline_id", root));

    assertThat(branch.get("tenant_id").asText()).isEqualTo(tenant);
    assertThat(TimelineId.isValid(branch.get("timeline_id").asText())).isTrue();
    assertThat(branch.get("ancestor_timeline_id").asText()).isEqualTo(root);
    assertThat(branch.get("ancestor_lsn").asText()).isEqualTo(head);
    assertThat(branch.get("created_lsn").asText()).isEqualTo(head);
    assertThat(branch.get("last_durable_lsn").asText()).as("a branch that never ran begins and ends at its branch point").isEqualTo(head);
    assertThat(branch.get("pg_version").asInt()).isEqualTo(PageserverFixture.PG_MAJOR);
    assertThat(branch.get("state").asText()).isEqualTo("ACTIVE");
    assertThat(branch.get("current_pg_tli").asInt()).as("the root's TLI at the branch point").isEqualTo(1);
    assertThat(branch.has("latest_image_lsn")).as("a branch has no image of its own").isFalse();
    assertThat(pageserver.timeline(tenant, branch.get("timeline_id").asText())).isEqualTo(branch);
  }

  @Test
  void aBranchAtAnExplicitLsnKeepsThatLsn() {
    // The same LSN as the head, spelled with leading zeros and lowercase hex: the API compares LSNs, not text.
    String spelled = "00000000/" + String.format("%08x", Long.parseLong(head.substring(head.indexOf('/') + 1), 16));
    JsonNode branch = createAddingOnlyItsTimelineJson(Map.of("ancestor_timeline_id", root, "ancestor_lsn", spelled));

    assertThat(branch.get("ancestor_timeline_id").asText()).isEqualTo(root);
    assertThat(branch.get("ancestor_lsn").asText()).isEqualTo(head);
    assertThat(pageserver.timeline(tenant, branch.get("timeline_id").asText())).isEqualTo(branch);
  }

  @Test
  void aBranchOfABranchOfABranchHasItsAncestryInGet() {
    String first = createAddingOnlyItsTimelineJson(Map.of("ancestor_timeline_id", root)).get("timeline_id").asText();
    String second = createAddingOnlyItsTimelineJson(Map.of("ancestor_timeline_id", first)).get("timeline_id").asText();
    String third = createAddingOnlyItsTimelineJson(Map.of("ancestor_timeline_id", second, "ancestor_lsn", head))
        .get("timeline_id").asText();

    String[] chain = {root, first, second, third};
    for (int i = 1; i < chain.length; i++) {
      JsonNode t = pageserver.timeline(tenant, chain[i]);
      assertThat(t.get("ancestor_timeline_id").asText()).as("ancestor of level %d", i).isEqualTo(chain[i - 1]);
      assertThat(t.get("ancestor_lsn").asText()).isEqualTo(head);
      assertThat(t.get("created_lsn").asText()).isEqualTo(head);
      assertThat(t.get("current_pg_tli").asInt()).isEqualTo(1);
    }
    assertThat(pageserver.timeline(tenant, root).has("ancestor_timeline_id")).isFalse();
  }

  @Test
  void aRepeatedCreateWithTheSameIdAndAncestryReturnsTheSameTimelineAndWritesNothing() {
    String id = TimelineId.random().toString();
    JsonNode created = pageserver.createBranch(tenant, Map.of("ancestor_timeline_id", root, "new_timeline_id", id));
    assertThat(created.get("timeline_id").asText()).isEqualTo(id);

    ObjectStoreSnapshot before = pageserver.snapshot();
    JsonNode again = pageserver.api().post(timelines(tenant), Map.of("ancestor_timeline_id", root, "new_timeline_id", id)).expect(200);
    JsonNode explicit = pageserver.api().post(timelines(tenant),
        Map.of("ancestor_timeline_id", root, "ancestor_lsn", head, "new_timeline_id", id)).expect(200);
    ObjectStoreSnapshot after = pageserver.snapshot();

    assertThat(again).as("the same timeline, created_at included").isEqualTo(created);
    assertThat(explicit).isEqualTo(created);
    assertThat(after.entries()).as("a retried create writes nothing").isEqualTo(before.entries());
  }

  @Test
  void deletingALeafRemovesItsObjectsAndNothingElse() {
    String parent = pageserver.createBranch(tenant, Map.of("ancestor_timeline_id", root)).get("timeline_id").asText();
    String leaf = pageserver.createBranch(tenant, Map.of("ancestor_timeline_id", parent)).get("timeline_id").asText();
    String leafPrefix = ObjectKeys.timelinePrefix(new TenantId(tenant), new TimelineId(leaf));

    ObjectStoreSnapshot before = pageserver.snapshot();
    pageserver.api().delete(timelinePath(tenant, leaf)).expect(204);
    ObjectStoreSnapshot after = pageserver.snapshot();

    assertThat(after.addedOrChangedSince(before)).as("a delete writes nothing that stays").isEmpty();
    assertThat(after.removedSince(before).keySet()).contains(leafPrefix + "timeline.json").allMatch(k -> k.startsWith(leafPrefix));
    assertThat(after.entries().keySet()).noneMatch(k -> k.startsWith(leafPrefix));
    assertThat(pageserver.api().get(timelinePath(tenant, leaf)).status()).isEqualTo(404);
    assertThat(listedTimelines().keySet()).doesNotContain(leaf).contains(parent);

    // With its only child gone the parent is a leaf and can go too; a second delete finds nothing.
    pageserver.api().delete(timelinePath(tenant, parent)).expect(204);
    assertThat(pageserver.api().delete(timelinePath(tenant, leaf)).status()).isEqualTo(404);
    assertThat(listedTimelines().keySet()).doesNotContain(leaf, parent);
  }

  @Test
  void theListShowsEveryTimelineAsGetDoes() {
    String a = pageserver.createBranch(tenant, Map.of("ancestor_timeline_id", root)).get("timeline_id").asText();
    String b = pageserver.createBranch(tenant, Map.of("ancestor_timeline_id", a)).get("timeline_id").asText();
    String c = pageserver.createBranch(tenant, Map.of("ancestor_timeline_id", root)).get("timeline_id").asText();

    Map<String, JsonNode> listed = listedTimelines();
    assertThat(listed.keySet()).contains(root, a, b, c);
    assertThat(listed.get(b).get("ancestor_timeline_id").asText()).isEqualTo(a);
    assertThat(listed.get(c).get("ancestor_timeline_id").asText()).isEqualTo(root);
    for (var e : listed.entrySet()) {
      assertThat(e.getValue()).as("list entry of %s", e.getKey()).isEqualTo(pageserver.timeline(tenant, e.getKey()));
    }
    // And exactly the timelines object storage holds: the list is read from there, not from memory.
    List<String> stored = pageserver.snapshot().entries().keySet().stream()
        .filter(k -> k.startsWith(ObjectKeys.timelinesPrefix(new TenantId(tenant))) && k.endsWith("/timeline.json"))
        .map(k -> k.split("/")[3]).toList();
    assertThat(listed.keySet()).containsExactlyInAnyOrderElementsOf(stored);
  }

  /** Creates a branch and checks that object storage gained exactly its timeline.json, under the size limit. */
  private static JsonNode createAddingOnlyItsTimelineJson(Map<String, ?> body) {
    ObjectStoreSnapshot before = pageserver.snapshot();
    JsonNode branch = pageserver.createBranch(tenant, body);
    ObjectStoreSnapshot after = pageserver.snapshot();

    String key = ObjectKeys.timeline(new TenantId(tenant), new TimelineId(branch.get("timeline_id").asText()));
    assertThat(after.addedOrChangedSince(before).keySet()).as("objects a branch adds").containsExactly(key);
    assertThat(after.removedSince(before)).isEmpty();
    assertThat(after.totalBytes() - before.totalBytes()).as("bytes a branch adds").isPositive().isLessThan(BRANCH_BYTES_LIMIT);
    return branch;
  }

  private static Map<String, JsonNode> listedTimelines() {
    JsonNode list = pageserver.api().get(timelines(tenant)).expect(200);
    assertThat(list.isArray()).isTrue();
    Map<String, JsonNode> byId = new HashMap<>();
    StreamSupport.stream(list.spliterator(), false).forEach(t -> byId.put(t.get("timeline_id").asText(), t));
    assertThat(byId).as("no timeline listed twice").hasSize(list.size());
    return byId;
  }
}

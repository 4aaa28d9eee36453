package dev.arbor.storage.safekeeper;

import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.api.safekeeper.FenceResult;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.api.safekeeper.TimelineWalStatus;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.arbor.api.Lsn;
import dev.arbor.api.ApiProblem;
import dev.arbor.client.HttpJson;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The fence request's vote: a safekeeper answers with the WAL it holds, and one that holds none of a timeline
 * that has had started generations (its disk was wiped or replaced) refuses to vote rather than answer "nothing",
 * which could elect an end of WAL below acknowledged commits.
 */
class SafekeeperFenceTest {
  private final HttpJson http = SafekeeperData.http();
  private final TenantId tenant = TenantId.random();

  @Test
  void aSafekeeperWithoutWalOfATimelineWithHistoryRefusesToVote() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-fence-");
         Safekeeper sk = SafekeeperData.start("sk-f", dir.resolve("data"), new LocalObjectStore(dir.resolve("objects")))) {
      SafekeeperClient client = SafekeeperData.client(sk);
      TimelineId timeline = TimelineId.random();

      ApiProblem refused = catchThrowableOfType(ApiProblem.class, () -> client.fence(tenant, timeline, new FenceRequest(1, true)));
      assertMissingHere(refused);
      // It takes the generation nonetheless, so it never follows an older compute again and can follow this one.
      assertThat(client.timeline(tenant, timeline)).isEqualTo(new TimelineWalStatus("sk-f", 1, 0, Lsn.ZERO, false));
      client.follow(tenant, timeline,
          new FollowRequest(1, 2, new Lsn(SEG), "127.0.0.1", 1, "arbor_replication", "x", "arbor_sk_f", List.of()));
      // Until it holds WAL of the timeline, every vote is refused.
      assertMissingHere(catchThrowableOfType(ApiProblem.class, () -> client.fence(tenant, timeline, new FenceRequest(2, true))));
      // A caller that knows no generation ever streamed gets the empty answer: there is nothing to lose.
      assertThat(client.fence(tenant, timeline, new FenceRequest(3, false))).isEqualTo(new FenceResult("sk-f", 3, 0, Lsn.ZERO));
    }
  }

  @Test
  void aTimelineWithoutHistoryGetsTheEmptyVoteAsBefore() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-fence-");
         Safekeeper sk = SafekeeperData.start("sk-f", dir.resolve("data"), new LocalObjectStore(dir.resolve("objects")))) {
      TimelineId timeline = TimelineId.random();
      SafekeeperClient client = SafekeeperData.client(sk);
      assertThat(client.fence(tenant, timeline, new FenceRequest(1, false))).isEqualTo(new FenceResult("sk-f", 1, 0, Lsn.ZERO));
      // Callers from before the field existed send no "started".
      assertThat(client.fence(tenant, timeline, new FenceRequest(2, null))).isEqualTo(new FenceResult("sk-f", 2, 0, Lsn.ZERO));

      // Raw: a body the client cannot send.
      String url = SafekeeperData.timelineUrl(sk, tenant, timeline);
      ApiProblem bad = catchThrowableOfType(ApiProblem.class,
          () -> http.post(url + "/fence", Map.of("generation", 3, "started", "yes"), FenceResult.class));
      assertThat(bad.status()).isEqualTo(400);
      assertThat(bad.field()).isEqualTo("started");
    }
  }

  @Test
  void aSafekeeperWhoseDiskWasWipedRefusesToVoteWhereItVotedBefore() throws Exception {
    TimelineId timeline = TimelineId.random();
    try (var dir = TempDirectory.create("arbor-sk-fence-")) {
      Path data = dir.resolve("data");
      var objects = new LocalObjectStore(dir.resolve("objects"));
      SafekeeperData.writeWal(SafekeeperData.storeDir(data, tenant, timeline), 2, new Lsn(SEG), SafekeeperData.randomWal(SEG / 4, 3));
      try (Safekeeper sk = SafekeeperData.start("sk-f", data, objects)) {
        assertThat(SafekeeperData.client(sk).fence(tenant, timeline, new FenceRequest(1, true)))
            .isEqualTo(new FenceResult("sk-f", 1, 2, new Lsn(SEG + SEG / 4)));
      }
      TempDirectoryWipe.wipe(data); // the volume was replaced

      try (Safekeeper sk = SafekeeperData.start("sk-f", data, objects)) {
        assertMissingHere(catchThrowableOfType(ApiProblem.class,
            () -> SafekeeperData.client(sk).fence(tenant, timeline, new FenceRequest(2, true))));
      }
    }
  }

  private static void assertMissingHere(ApiProblem p) {
    assertThat(p).as("the fence's answer").isNotNull();
    assertThat(p.status()).isEqualTo(503);
    assertThat(p.type()).isEqualTo(ApiProblem.TYPE_BASE + "timeline-missing-here");
    assertThat(p.field()).isEqualTo("started");
    assertThat(p.getMessage()).contains("has no WAL of a timeline that has history").contains("catch up before it can vote");
  }

  /** Removes everything in a directory but the directory itself, as a fresh volume mounted there looks. */
  private static final class TempDirectoryWipe {
    static void wipe(Path dir) throws Exception {
      try (var paths = java.nio.file.Files.walk(dir)) {
        for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
          if (!p.equals(dir)) {
            java.nio.file.Files.delete(p);
          }
        }
      }
    }
  }
}

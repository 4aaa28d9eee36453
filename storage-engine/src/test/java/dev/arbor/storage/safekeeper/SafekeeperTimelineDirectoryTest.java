package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A safekeeper learns of a timeline at its first fence and creates the timeline's directory then: the
 * accepted generation it writes there must survive a power loss, so the directory's own entries must
 * too (POSIX makes an entry durable once its parent is fsynced).
 */
class SafekeeperTimelineDirectoryTest {

  @TempDir
  Path data;

  @Test
  void aNewTimelinesDirectoriesAreDurable() throws Exception {
    TenantId tenant = TenantId.random();
    TimelineId timeline = TimelineId.random();
    Path tenantDir = data.resolve(tenant.toString());
    Path timelineDir = tenantDir.resolve(timeline.toString());
    var events = FileIo.during(() -> SafekeeperTimeline.open("sk-test", tenant, timeline, timelineDir,
        new LocalObjectStore(data.resolve("objects")), Duration.ofSeconds(1), dev.arbor.client.auth.TokenSource.NONE,
        dev.arbor.client.tls.ClientTls.SYSTEM, WalReceiver.Listener.NONE, null).close());
    assertThat(FileIo.forced(events)).as("directories fsynced while the timeline was created")
        .contains(data, tenantDir, timelineDir);
  }
}

package dev.arbor.storage.safekeeper;

import dev.arbor.client.SafekeeperSet;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.FaultProxy;
import dev.arbor.testing.FaultProxy.Fault;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The WAL service's view of the safekeepers: every copy of a segment is the same, so a safekeeper that hangs
 * (paused, overloaded) must not hold up a read that another one can serve, whatever its place in the list.
 * The chaos run found starts stalled for minutes by one paused safekeeper asked first.
 */
class SafekeeperSetWalFileTest {
  private static final TenantId TENANT = new TenantId("0123456789abcdef0123456789abcdef");
  private static final TimelineId TIMELINE = new TimelineId("fedcba9876543210fedcba9876543210");

  @TempDir
  Path dir;

  /** A liveness bound, not a speed target: sk-a hangs until the read gives up (2 minutes) or the gate opens. */
  @Test
  @Timeout(60)
  void aHangingSafekeeperFirstInTheListDoesNotHoldUpACopyAnotherServes() throws Exception {
    byte[] wal = SafekeeperData.randomWal(SEG, 7);
    SafekeeperData.writeWal(SafekeeperData.storeDir(dir.resolve("b"), TENANT, TIMELINE), 2, Lsn.ZERO.plus(SEG), wal);
    try (Safekeeper a = SafekeeperData.start("sk-a", dir.resolve("a"), new LocalObjectStore(dir.resolve("objects")));
         Safekeeper b = SafekeeperData.start("sk-b", dir.resolve("b"), new LocalObjectStore(dir.resolve("objects")));
         FaultProxy toA = FaultProxy.start(a.url())) {
      FaultProxy.Gate hung = Fault.gate();
      toA.inject(".*", hung);
      try {
        var set = new SafekeeperSet(List.of(toA.url(), b.url()), Duration.ofSeconds(10));
        String name = WalFileName.segment(2, 1, SEG);
        Optional<InputStream> in = set.walFile(TENANT, TIMELINE, name, Lsn.ZERO.plus(2 * SEG));
        assertThat(in).as("served by sk-b while sk-a hangs").isPresent();
        try (InputStream s = in.get()) {
          assertThat(s.readAllBytes()).isEqualTo(wal);
        }
        assertThat(toA.faults(".*")).as("sk-a was asked too").isPositive();

        // None holds the next segment, and sk-a cannot be asked: not the end of WAL, a 503.
        hung.open();
        toA.clear();
        toA.inject(".*", Fault.status(500));
        assertThatThrownBy(() -> set.walFile(TENANT, TIMELINE, WalFileName.segment(2, 2, SEG), Lsn.ZERO.plus(3 * SEG)))
            .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).isEqualTo(503));
      } finally {
        hung.open();
      }
    }
  }
}

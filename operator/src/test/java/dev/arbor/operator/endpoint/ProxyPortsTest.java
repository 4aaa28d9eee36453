package dev.arbor.operator.endpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.operator.endpoint.ProxyPorts.Claim;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

class ProxyPortsTest {

  @Test
  void aNewEndpointGetsTheLowestPortThatNoStatusRecordsAndNoEarlierGrantHolds() {
    var ports = new ProxyPorts(20000, 20009);
    List<Claim> seen = List.of(new Claim("a", 20000), new Claim("b", 20002));
    assertThat(ports.assign("c", null, null, seen)).hasValue(20001);
    // c's grant is not in any status yet, and still taken.
    seen = List.of(new Claim("a", 20000), new Claim("b", 20002), new Claim("c", null), new Claim("d", null));
    assertThat(ports.assign("d", null, null, seen)).hasValue(20003);
    // Asked again before its status shows it, c gets the same port.
    assertThat(ports.assign("c", null, null, seen)).hasValue(20001);
  }

  @Test
  void anEndpointKeepsTheRecordedPortEvenOutsideAChangedRange() {
    var ports = new ProxyPorts(30000, 30009);
    assertThat(ports.assign("a", 20005, null, List.of(new Claim("a", 20005)))).hasValue(20005);
  }

  @Test
  void aPortRecordedByTwoEndpointsStaysWithTheOneSeenFirstAndTheOtherMoves() {
    var ports = new ProxyPorts(20000, 20009);
    List<Claim> seen = List.of(new Claim("a", 20000), new Claim("b", 20000));
    assertThat(ports.assign("a", 20000, null, seen)).hasValue(20000);
    assertThat(ports.assign("b", 20000, null, seen)).hasValue(20001);
  }

  @Test
  void aLostStatusTakesBackTheServicesTargetPortWhenItIsInTheRangeAndFree() {
    var ports = new ProxyPorts(20000, 20009);
    List<Claim> seen = List.of(new Claim("a", null), new Claim("b", null), new Claim("c", null));
    assertThat(ports.assign("a", null, 20007, seen)).hasValue(20007);
    assertThat(ports.assign("b", null, 5432, seen)).as("a target port outside the range is not adopted").hasValue(20000);
    assertThat(ports.assign("c", null, 20007, seen)).as("nor one another Endpoint holds").hasValue(20001);
  }

  @Test
  void theGrantOfADeletedEndpointIsFreeAgain() {
    var ports = new ProxyPorts(20000, 20000);
    assertThat(ports.assign("a", null, null, List.of())).hasValue(20000);
    assertThat(ports.assign("b", null, null, List.of(new Claim("a", 20000)))).isEmpty();
    // a is gone from the cache: neither its status nor its grant holds the port.
    assertThat(ports.assign("b", null, null, List.of())).hasValue(20000);
  }

  @Test
  void aFullRangeGivesNothing() {
    var ports = new ProxyPorts(20000, 20001);
    List<Claim> seen = List.of(new Claim("a", 20000), new Claim("b", 20001));
    assertThat(ports.assign("c", null, null, seen)).isEmpty();
    assertThat(ports.assign("a", 20000, null, seen)).as("the holders keep theirs").hasValue(20000);
  }

  @Test
  void endpointsReconciledAtOnceGetDistinctPorts() throws Exception {
    var ports = new ProxyPorts(20000, 29999);
    int threads = 8;
    int each = 200;
    Set<Integer> handedOut = ConcurrentHashMap.newKeySet();
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch go = new CountDownLatch(1);
    try {
      List<Future<?>> done = new ArrayList<>();
      // Every Endpoint is in the cache, and none has its port in its status yet: the cache shows none of the grants.
      List<Claim> seen = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        for (int i = 0; i < each; i++) {
          seen.add(new Claim(t + "-" + i, null));
        }
      }
      for (int t = 0; t < threads; t++) {
        int thread = t;
        done.add(pool.submit(() -> {
          go.await();
          for (int i = 0; i < each; i++) {
            OptionalInt p = ports.assign(thread + "-" + i, null, null, seen);
            assertThat(handedOut.add(p.orElseThrow())).as("port %s handed out twice", p).isTrue();
          }
          return null;
        }));
      }
      go.countDown();
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
    assertThat(handedOut).hasSize(threads * each);
  }

  @Test
  void aRangeIsFirstDashLast() {
    assertThat(ProxyPorts.parse("20000-29999").size()).isEqualTo(10000);
    assertThat(ProxyPorts.parse(" 7000 - 7000 ").range()).isEqualTo("7000-7000");
    assertThatThrownBy(() -> ProxyPorts.parse("20000")).hasMessageContaining("FIRST-LAST");
    assertThatThrownBy(() -> ProxyPorts.parse("a-b")).hasMessageContaining("FIRST-LAST");
    assertThatThrownBy(() -> ProxyPorts.parse("30000-20000")).hasMessageContaining("not a range");
    assertThatThrownBy(() -> ProxyPorts.parse("60000-70000")).hasMessageContaining("not a range");
  }
}

package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.auth.KeyDirectory;
import dev.arbor.client.auth.SigningKey;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The installation's signing key rotates while a compute commits, without restarting a daemon and without losing a
 * commit (issue 16, "rotation and refresh"): the public key set gains a new key, every token is minted again with it,
 * the old key is removed. A token of the old key is then refused; a safekeeper restarted afterwards catches up with
 * the pageserver token of the new key; the compute's next start (election, basebackup, restore_command) runs on its new
 * token and finds every acknowledged commit. No token and no private key reaches a log on the way.
 */
class KeyRotationTest {

  @Test
  void theSigningKeyRotatesWhileAComputeCommitsAndNothingIsLost() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-rotation-")) {
      TenantInfo tenant = storage.createTenant(15);
      RunningCompute main = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("main-1"));
      Sql.exec(main, CommitLedger.DDL);
      Set<String> secrets = secretsIn(storage.directory().resolve("auth")); // before the rotation replaces them
      Set<Long> acked;
      try (var ledger = new CommitLedger(4, Sql.connections(main))) {
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 200);

        SigningKey old = storage.rotateKeys("test-key-2");
        PageserverClient withOldKey = new PageserverClient(storage.pageserverUrl(), Duration.ofSeconds(10), RetryPolicy.NONE,
            TokenSource.fixed(old.mint(StorageProcesses.ISSUER, StorageGrant.of("old-admin", Scope.STORAGE_ADMIN), Duration.ofHours(1)))
                .allowPlainHttp());
        assertThat(withOldKey.timeline(tenant.tenantId(), tenant.rootTimelineId()).timelineId())
            .as("during the rotation both keys are accepted").isEqualTo(tenant.rootTimelineId());
        int during = ledger.count();
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= during + 200);

        storage.retireOldKeys();
        assertThatThrownBy(() -> withOldKey.timeline(tenant.tenantId(), tenant.rootTimelineId()))
            .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).as("a token of the removed key").isEqualTo(401));

        // A safekeeper that was down through the rotation catches up from its peers with the new pageserver token.
        storage.killSafekeeper("sk-2");
        int down = ledger.count();
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= down + 200);
        storage.startSafekeeper("sk-2");
        int back = ledger.count();
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= back + 200);
        main.kill();
        acked = ledger.acknowledged();
      }

      try (RunningCompute again = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("main-2"))) {
        Set<Long> present = new HashSet<>(Sql.longs(again, "SELECT id FROM ledger_rows"));
        assertThat(present).containsAll(acked);
      }
      secrets.addAll(secretsIn(storage.directory().resolve("auth")));
      // No token and no private key reached a log: the daemons', PostgreSQL's, or the computes'.
      for (Path root : List.of(storage.directory(), work.path())) {
        try (Stream<Path> files = Files.walk(root)) {
          for (Path log : files.filter(f -> f.toString().endsWith(".log") && Files.isRegularFile(f)).toList()) {
            String text = Files.readString(log, StandardCharsets.ISO_8859_1);
            assertThat(secrets).as("secrets in %s", log).noneMatch(text::contains);
          }
        }
      }
    }
  }

  /** The tokens in {@code auth}'s token files and the private part ("d") of its signing key. */
  private static Set<String> secretsIn(Path auth) throws IOException {
    Set<String> secrets = new HashSet<>();
    try (Stream<Path> files = Files.list(auth)) {
      for (Path f : files.toList()) {
        String text = Files.readString(f).strip();
        if (f.toString().endsWith(".token")) {
          secrets.add(text);
          secrets.add(text.substring(text.lastIndexOf('.') + 1)); // the signature alone
        } else if (f.getFileName().toString().equals(KeyDirectory.SIGNING_KEY)) {
          Matcher d = Pattern.compile("\"d\"\\s*:\\s*\"([^\"]+)\"").matcher(text);
          assertThat(d.find()).as("the private part of %s", f).isTrue();
          secrets.add(d.group(1));
        }
      }
    }
    assertThat(secrets).as("secrets found in %s", auth).hasSizeGreaterThan(3);
    return secrets;
  }
}

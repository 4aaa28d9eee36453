package dev.arbor.operator.storage;

import dev.arbor.api.ProblemTypes;

import dev.arbor.api.pageserver.CreateTenantRequest;
import dev.arbor.api.pageserver.CreateTimelineRequest;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.ServiceClient;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.operator.auth.CertificateIssuer;
import dev.arbor.operator.auth.TokenIssuer;
import dev.arbor.operator.config.OperatorConfig;
import dev.arbor.operator.config.Safekeepers;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * The operator's side of the pageserver API. Calls run in reconcile threads, which every controller shares, so a
 * call is made once, within {@code arbor.storage-engine.request-timeout}, and never sleeps there: an outage (no
 * answer, a 5xx) is a {@link StorageEngineUnavailableException} and JOSDK's retry does the backoff. Only a refused
 * connection, which never reached the pageserver, is tried again at once (a pageserver restarting): the
 * {@link PageserverClient} runs with a {@link RetryPolicy#refusedOnly() refused-only} policy of
 * {@code arbor.storage-engine.attempts} tries, pauses doubling from 100 ms. At most
 * {@code max-concurrent-calls} calls are in flight: a storage engine that does not answer cannot hold every
 * reconcile thread. A refusal (4xx problem+json) is returned to the caller as the {@link ApiProblem} it is.
 * Creations carry the id the operator chose (derived from the object's UID), so a repeat after a crash or a lost
 * answer finds the same tenant or timeline instead of a second one.
 *
 * <p>Every call sends the operator's {@code storage_admin} token, minted in memory ({@link TokenIssuer#adminTokens()}).
 *
 * <p>Every call goes to the pageserver's management URL ({@code arbor.storage-engine.pageserver-management-url},
 * else {@code pageserver-url}); {@link #pageserverUrl()}, what computes are given, may be another port.
 */
@ApplicationScoped
public class StorageEngine {
  private final String pageserverUrl;
  /** Where the operator's own calls go. */
  private final String managementUrl;
  /** The setting that named {@link #managementUrl}, for messages. */
  private final String managementSetting;
  private final Map<String, String> safekeepers;
  private final PageserverClient pageserver;
  private final Semaphore inFlight;
  private final int maxInFlight;

  @Inject
  public StorageEngine(OperatorConfig config, TokenIssuer tokens, CertificateIssuer certificates) {
    this(config, config.storageEngine().insecureHttp() ? tokens.adminTokens().allowPlainHttp() : tokens.adminTokens(),
        certificates.enabled() ? certificates.clientTls() : ClientTls.SYSTEM);
  }

  /**
   * @param tokens what every call sends: the operator's {@code storage_admin} token ({@link TokenIssuer#adminTokens()})
   * @param tls whom {@code https://} storage URLs are trusted from: the installation's CA ({@link CertificateIssuer#clientTls()})
   */
  public StorageEngine(OperatorConfig config, TokenSource tokens, ClientTls tls) {
    this.pageserverUrl = config.storageEngine().pageserverUrl().replaceAll("/+$", "");
    this.managementUrl = config.storageEngine().pageserverManagementUrl().map(u -> u.replaceAll("/+$", "")).orElse(pageserverUrl);
    this.managementSetting = config.storageEngine().pageserverManagementUrl().isPresent()
        ? "arbor.storage-engine.pageserver-management-url" : "arbor.storage-engine.pageserver-url";
    this.safekeepers = Safekeepers.parse(config.storageEngine().safekeepers());
    int attempts = Math.max(1, config.storageEngine().attempts());
    this.pageserver = new PageserverClient(managementUrl, config.storageEngine().requestTimeout(),
        new RetryPolicy(attempts, Duration.ofMillis(100), Duration.ofMillis(100L << Math.min(20, attempts))).refusedOnly(), tokens, tls);
    this.maxInFlight = Math.max(1, config.storageEngine().maxConcurrentCalls());
    this.inFlight = new Semaphore(maxInFlight);
  }

  /** The pageserver as computes reach it: what compute specs get. */
  public String pageserverUrl() {
    return pageserverUrl;
  }

  public Map<String, String> safekeepers() {
    return safekeepers;
  }

  public record Created<T>(T info, boolean created) {}

  /** Creates the tenant with this id, or finds it when a previous attempt already did. */
  public Created<TenantInfo> ensureTenant(TenantId tenant, int pgVersion) {
    Optional<TenantInfo> existing = tenant(tenant);
    if (existing.isPresent()) {
      return new Created<>(existing.get(), false);
    }
    var request = new CreateTenantRequest(tenant, pgVersion);
    return new Created<>(call("create tenant " + tenant, () -> pageserver.createTenant(request)), true);
  }

  public Optional<TenantInfo> tenant(TenantId tenant) {
    return notFoundAsEmpty(() -> pageserver.tenant(tenant), "get tenant " + tenant);
  }

  /** Deletes the tenant; a tenant that is already gone counts as deleted. */
  public void deleteTenant(TenantId tenant) {
    notFoundAsEmpty(() -> {
      pageserver.deleteTenant(tenant);
      return Boolean.TRUE;
    }, "delete tenant " + tenant);
  }

  public Optional<TimelineInfo> timeline(TenantId tenant, TimelineId timeline) {
    return notFoundAsEmpty(() -> pageserver.timeline(tenant, timeline), "get timeline " + timeline);
  }

  /**
   * Creates branch {@code id} of {@code ancestor} at {@code lsn} (null: the ancestor's head), or returns it when
   * it exists already. A timeline is looked up first: without an LSN, a repeated create would ask for the
   * head again, which has moved on, and the storage engine would rightly call that a conflict.
   */
  public Created<TimelineInfo> ensureBranch(TenantId tenant, TimelineId id, TimelineId ancestor, String lsn) {
    Optional<TimelineInfo> existing = timeline(tenant, id);
    if (existing.isPresent()) {
      return new Created<>(existing.get(), false);
    }
    var request = new CreateTimelineRequest(id, ancestor, lsn);
    try {
      return new Created<>(call("create timeline " + id, () -> pageserver.createTimeline(tenant, request)), true);
    } catch (ApiProblem p) {
      // A create whose answer was lost (a timeout after the pageserver made it) looks like this on the next try:
      // the timeline is there, so it is read, not reported as a refusal.
      if (p.status() == 409 && p.is("timeline-exists")) {
        Optional<TimelineInfo> made = timeline(tenant, id);
        if (made.isPresent()) {
          return new Created<>(made.get(), false);
        }
      }
      throw p;
    }
  }

  /** Deletes a timeline; one that is already gone counts as deleted. Refusals (e.g. it has children) propagate. */
  public void deleteTimeline(TenantId tenant, TimelineId timeline) {
    notFoundAsEmpty(() -> {
      pageserver.deleteTimeline(tenant, timeline);
      return Boolean.TRUE;
    }, "delete timeline " + timeline);
  }

  @FunctionalInterface
  private interface Call<T> {
    T run() throws IOException;
  }

  /**
   * Empty when the storage engine says the tenant or timeline does not exist. Only those two answers: a 404 for
   * anything else (a route served on the pageserver's other port, no such route at all) means the operator
   * talks to the wrong place, and taking it for "gone" would let a finalizer drop an object whose storage is
   * still there.
   */
  private <T> Optional<T> notFoundAsEmpty(Call<T> call, String what) {
    try {
      return Optional.ofNullable(call(what, call));
    } catch (ApiProblem p) {
      if (p.status() == 404 && (p.is("tenant-not-found") || p.is("timeline-not-found"))) {
        return Optional.empty();
      }
      if (p.status() == 404) {
        String fix = p.is(ProblemTypes.SERVED_ON_MANAGEMENT_PORT)
            ? "set arbor.storage-engine.pageserver-management-url to the URL of that port" : "check " + managementSetting;
        throw new ApiProblem(p.status(), p.type().substring(ApiProblem.TYPE_BASE.length()), p.title(), "the pageserver at "
            + managementUrl + " cannot " + what + ": " + p.getMessage() + "; " + fix, p.field());
      }
      throw p;
    }
  }

  private <T> T call(String what, Call<T> call) {
    try {
      if (!inFlight.tryAcquire(1, TimeUnit.SECONDS)) {
        throw new StorageEngineUnavailableException("the storage engine at " + managementUrl + " is slow to answer: " + maxInFlight
            + " calls are in flight (arbor.storage-engine.max-concurrent-calls), so this one (" + what + ") waits for a retry", null);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new StorageEngineUnavailableException("interrupted before calling the storage engine to " + what, e);
    }
    try {
      return attempt(what, call);
    } finally {
      inFlight.release();
    }
  }

  /** The client retries a refused connection ({@code attempts}); what still fails here is the caller's to back off. */
  private <T> T attempt(String what, Call<T> call) {
    try {
      return call.run();
    } catch (ApiProblem p) {
      if (p.status() >= 500) {
        throw new StorageEngineUnavailableException("the storage engine at " + managementUrl + " failed to " + what + ": "
            + p.getMessage(), p);
      }
      throw p;
    } catch (IOException e) {
      throw new StorageEngineUnavailableException("cannot reach the storage engine at " + managementUrl + " to " + what + " ("
          + ServiceClient.describe(e) + "); check " + managementSetting + " and that the pageserver is running", e);
    }
  }
}

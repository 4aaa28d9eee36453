package dev.arbor.client;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.Lsn;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The safekeepers of an installation, seen from a client (the pageserver, a starting compute). Holds the
 * quorum rule: with n safekeepers, a majority is n/2 + 1, and a WAL position is durable once a majority
 * has flushed it.
 *
 * <p>Each member is a {@link SafekeeperClient} that tries each call once ({@link RetryPolicy#NONE}): a fan-out
 * already tolerates a minority down, and waiting out one safekeeper's retries would hold every answer that
 * needs all of them; the callers' own loops (an election, a follow keeper) try again.
 */
public final class SafekeeperSet {
  private static final Logger log = LoggerFactory.getLogger(SafekeeperSet.class);
  private final List<SafekeeperClient> members;

  public SafekeeperSet(List<String> baseUrls, Duration timeout) {
    this(baseUrls, timeout, TokenSource.NONE);
  }

  /** @param tokens the token each call sends */
  public SafekeeperSet(List<String> baseUrls, Duration timeout, TokenSource tokens) {
    this(baseUrls, timeout, tokens, ClientTls.SYSTEM);
  }

  /** @param tls whom {@code https://} URLs are trusted from (the storage engine's CA) */
  public SafekeeperSet(List<String> baseUrls, Duration timeout, TokenSource tokens, ClientTls tls) {
    if (baseUrls.isEmpty()) {
      throw new IllegalArgumentException("at least one safekeeper is needed");
    }
    this.members = baseUrls.stream().map(url -> new SafekeeperClient(url, timeout, RetryPolicy.NONE, tokens, tls)).toList();
  }

  public List<String> urls() {
    return members.stream().map(SafekeeperClient::baseUrl).toList();
  }

  /** The member whose base URL is {@code baseUrl}, as given to the constructor. */
  public SafekeeperClient member(String baseUrl) {
    String wanted = baseUrl.replaceAll("/+$", "");
    return members.stream().filter(m -> m.baseUrl().equals(wanted)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException(baseUrl + " is not one of the safekeepers " + urls()));
  }

  public int size() {
    return members.size();
  }

  public int quorum() {
    return members.size() / 2 + 1;
  }

  /**
   * Deletes a timeline's WAL on every safekeeper, in parallel and best effort: one that is down keeps its copy.
   * Each failure is logged, and a refusal because the URL is a safekeeper's compute port says what to fix: such a
   * copy would otherwise stay for good without a trace.
   */
  public void deleteTimeline(TenantId tenant, TimelineId timeline) {
    onEach(sk -> {
      try {
        sk.deleteTimeline(tenant, timeline);
        return Boolean.TRUE;
      } catch (IOException | RuntimeException e) {
        boolean computePort = e instanceof ApiProblem p && p.is(ProblemTypes.SERVED_ON_MANAGEMENT_PORT);
        log.warn("event=safekeeper_delete_failed safekeeper={} tenant={} timeline={} error=\"{}\"{}", sk.baseUrl(), tenant, timeline,
            String.valueOf(e.getMessage()).replace('"', '\'').replace('\n', ' '), computePort
                ? " fix=\"this is the safekeeper's compute port: give the pageserver the safekeepers' management URLs (--safekeepers)\"" : "");
        throw e;
      }
    });
  }

  /** The status of every safekeeper that answered (in parallel); the unreachable ones are left out. */
  public List<TimelineWalStatus> statuses(TenantId tenant, TimelineId timeline) {
    return onEach(sk -> sk.timeline(tenant, timeline));
  }

  /**
   * The newest position durable on a majority: the quorum-th highest (TLI, flush LSN) among the answers.
   * Fails with 503 when fewer than a majority answer, since then nothing can be said.
   */
  public Optional<TimelineWalStatus> durablePosition(TenantId tenant, TimelineId timeline) {
    List<TimelineWalStatus> answers = new ArrayList<>(statuses(tenant, timeline));
    if (answers.size() < quorum()) {
      throw ApiProblem.unavailable(ProblemTypes.SAFEKEEPERS_UNAVAILABLE, "only " + answers.size() + " of " + size()
          + " safekeepers answered; a majority (" + quorum() + ") is needed to know the durable end of WAL");
    }
    answers.sort(Comparator.comparing((TimelineWalStatus s) -> s, TimelineWalStatus::comparePositions).reversed());
    TimelineWalStatus s = answers.get(quorum() - 1);
    return s.tli() == 0 ? Optional.empty() : Optional.of(s);
  }

  /**
   * A WAL file from a safekeeper that has it with flush at or past {@code needFlush}: every copy serves the
   * same bytes, so all are asked at once and the first copy wins (one safekeeper that hangs, paused or
   * overloaded, costs nothing while another has the file). Empty only when every safekeeper answered that
   * it does not have it; when any of them could not be asked (down, timed out, a server error), the answer
   * is a 503: that one may hold the file, and taking "not found" for the end of WAL would end a recovery
   * early.
   */
  public Optional<InputStream> walFile(TenantId tenant, TimelineId timeline, String fileName, Lsn needFlush) {
    CompletionService<Optional<InputStream>> asked = new ExecutorCompletionService<>(ASKERS);
    Map<Future<Optional<InputStream>>, String> urlOf = new HashMap<>();
    for (SafekeeperClient sk : members) {
      urlOf.put(asked.submit(() -> sk.walFile(tenant, timeline, fileName, needFlush, Duration.ofMinutes(2))), sk.baseUrl());
    }
    List<String> failed = new ArrayList<>();
    for (int answered = 0; answered < members.size(); answered++) {
      Future<Optional<InputStream>> next;
      try {
        next = asked.take();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw ApiProblem.unavailable(ProblemTypes.SAFEKEEPERS_UNAVAILABLE, "interrupted while asking the safekeepers for " + fileName);
      }
      try {
        Optional<InputStream> in = next.get();
        if (in.isPresent()) {
          closeLateCopies(asked, members.size() - answered - 1);
          return in;
        }
      } catch (ExecutionException e) {
        failed.add(urlOf.get(next) + " (" + e.getCause().getMessage() + ")");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw ApiProblem.unavailable(ProblemTypes.SAFEKEEPERS_UNAVAILABLE, "interrupted while asking the safekeepers for " + fileName);
      }
    }
    if (!failed.isEmpty()) {
      throw ApiProblem.unavailable(ProblemTypes.SAFEKEEPERS_UNAVAILABLE, "no safekeeper served " + fileName + ", and " + failed.size()
          + " of " + size() + " could not be asked: " + String.join("; ", failed) + ". One of them may hold it, so this is "
          + "not the end of WAL; retry once they answer");
    }
    return Optional.empty();
  }

  /** Asks that answer after a copy was taken: their streams hold connections, so close them when they come. */
  private static void closeLateCopies(CompletionService<Optional<InputStream>> asked, int pending) {
    if (pending == 0) {
      return;
    }
    ASKERS.execute(() -> {
      for (int i = 0; i < pending; i++) {
        try {
          asked.take().get().ifPresent(in -> {
            try {
              in.close();
            } catch (IOException ignored) {
              // the connection is dropped either way
            }
          });
        } catch (ExecutionException failedLate) {
          // nothing to close
        } catch (InterruptedException e) {
          return;
        }
      }
    });
  }

  /** Asks run on virtual threads that outlive a call when a safekeeper hangs (bounded by the read timeout). */
  private static final ExecutorService ASKERS = Executors.newVirtualThreadPerTaskExecutor();

  @FunctionalInterface
  public interface Call<T> {
    T call(SafekeeperClient safekeeper) throws IOException;
  }

  /**
   * Calls every safekeeper in parallel and returns once a majority answered (or every call ended): what a
   * majority says is all an election needs (any two majorities intersect), and a safekeeper that hangs,
   * paused or partitioned without resets, must not hold a start for its timeouts. The calls still pending
   * go on in the background and end within their timeouts.
   */
  public <T> List<T> onQuorum(Call<T> call) {
    CompletionService<T> asked = new ExecutorCompletionService<>(ASKERS);
    members.forEach(sk -> asked.submit(() -> call.call(sk)));
    List<T> out = new ArrayList<>();
    for (int ended = 0; ended < members.size() && out.size() < quorum(); ended++) {
      try {
        T value = asked.take().get();
        if (value != null) {
          out.add(value);
        }
      } catch (ExecutionException e) {
        // unreachable or refusing: not part of this answer
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    return out;
  }

  /** The statuses of the first majority of safekeepers to answer ({@link #onQuorum}). */
  public List<TimelineWalStatus> quorumStatuses(TenantId tenant, TimelineId timeline) {
    return onQuorum(sk -> sk.timeline(tenant, timeline));
  }

  /** Calls every safekeeper in parallel and keeps the answers of those that answered. */
  public <T> List<T> onEach(Call<T> call) {
    try (var executor = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<T>> futures = members.stream().map(sk -> executor.submit(() -> call.call(sk))).toList();
      List<T> out = new ArrayList<>();
      for (Future<T> f : futures) {
        try {
          T value = f.get();
          if (value != null) {
            out.add(value);
          }
        } catch (ExecutionException e) {
          // unreachable or refusing: not part of this answer
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
      return out;
    }
  }
}

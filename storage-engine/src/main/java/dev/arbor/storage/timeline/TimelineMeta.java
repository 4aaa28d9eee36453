package dev.arbor.storage.timeline;

import dev.arbor.api.pageserver.TimelineState;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code timeline.json}: ancestry, PostgreSQL version, where the timeline's history starts, and the TLIs
 * its generations use. A branch is exactly this document: creating one copies no data.
 *
 * @param ancestorTli the ancestor's PostgreSQL TLI at {@code ancestorLsn}; TLIs at or below it resolve to
 *     the ancestor's WAL, TLIs above it to this timeline's own
 * @param createdLsn the root's initdb end of WAL, or the branch point
 * @param maxTli the highest TLI ever reserved on this timeline; the next start takes {@code maxTli + 1}
 */
public record TimelineMeta(
    int formatVersion,
    TenantId tenantId,
    TimelineId timelineId,
    TimelineId ancestorTimelineId,
    Lsn ancestorLsn,
    Integer ancestorTli,
    int pgVersion,
    Lsn createdLsn,
    int maxTli,
    List<Generation> generations,
    TimelineState state,
    Instant createdAt) {

  public static final int FORMAT_VERSION = 1;

  public TimelineMeta {
    generations = List.copyOf(generations == null ? List.of() : generations);
  }

  public static TimelineMeta root(TenantId tenant, TimelineId timeline, int pgVersion, Lsn initdbEnd, int initdbTli) {
    return new TimelineMeta(FORMAT_VERSION, tenant, timeline, null, null, null, pgVersion, initdbEnd,
        initdbTli, List.of(), TimelineState.ACTIVE, Instant.now());
  }

  public static TimelineMeta branch(TenantId tenant, TimelineId timeline, TimelineMeta ancestor, Lsn at, int ancestorTli) {
    return new TimelineMeta(FORMAT_VERSION, tenant, timeline, ancestor.timelineId(), at, ancestorTli,
        ancestor.pgVersion(), at, ancestorTli, List.of(), TimelineState.ACTIVE, Instant.now());
  }

  public boolean isRoot() {
    return ancestorTimelineId == null;
  }

  /** The newest generation that streamed WAL (the one whose TLI new computes follow), if any. */
  public Optional<Generation> latestStarted() {
    for (int i = generations.size() - 1; i >= 0; i--) {
      if (generations.get(i).started()) {
        return Optional.of(generations.get(i));
      }
    }
    return Optional.empty();
  }

  public Optional<Generation> generation(long number) {
    return generations.stream().filter(g -> g.generation() == number).findFirst();
  }

  public Optional<Generation> generationOfTli(int tli) {
    return generations.stream().filter(g -> g.tli() == tli).findFirst();
  }

  /** The TLI where this timeline's own history begins: the ancestor's TLI at the branch point, or initdb's 1. */
  public int baseTli() {
    return isRoot() ? 1 : ancestorTli;
  }

  /**
   * The generations on the history a new compute follows, oldest first: from the newest started
   * generation back through the TLIs each one replayed. Generations that were shadowed (their WAL was on
   * a minority and a later start did not follow it) are not on it.
   */
  public List<Generation> chain() {
    var chain = new ArrayList<Generation>();
    Optional<Generation> g = latestStarted();
    while (g.isPresent()) {
      chain.add(0, g.get());
      int parent = g.get().parentTli();
      g = parent <= baseTli() ? Optional.empty() : generationOfTli(parent).filter(Generation::started);
    }
    return chain;
  }

  /** The TLI a compute follows to reach this timeline's newest WAL. */
  public int currentTli() {
    return latestStarted().map(Generation::tli).orElse(baseTli());
  }

  /** The TLI of this timeline's history at {@code lsn} (what a branch made at that LSN replays). */
  public int tliAt(Lsn lsn) {
    int tli = baseTli();
    for (Generation g : chain()) {
      if (!g.startLsn().isAfter(lsn)) {
        tli = g.tli();
      }
    }
    return tli;
  }

  public TimelineMeta withGeneration(Generation g) {
    var list = new ArrayList<>(generations.stream().filter(x -> x.generation() != g.generation()).toList());
    list.add(g);
    list.sort(java.util.Comparator.comparingLong(Generation::generation));
    return new TimelineMeta(formatVersion, tenantId, timelineId, ancestorTimelineId, ancestorLsn, ancestorTli,
        pgVersion, createdLsn, Math.max(maxTli, g.tli()), list, state, createdAt);
  }

  public TimelineMeta withState(TimelineState newState) {
    return new TimelineMeta(formatVersion, tenantId, timelineId, ancestorTimelineId, ancestorLsn, ancestorTli,
        pgVersion, createdLsn, maxTli, generations, newState, createdAt);
  }
}

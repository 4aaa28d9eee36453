package dev.arbor.api.safekeeper;

/**
 * Asks a safekeeper to accept {@code generation} of a timeline: from then on it follows no compute of an older
 * generation (fencing).
 *
 * @param started whether any generation of the timeline ever started streaming WAL (the caller knows from the
 *     pageserver): a safekeeper that holds none of such a timeline's WAL lost it and joins without a vote. Absent
 *     (null), as from callers older than the field, the safekeeper reads false.
 */
public record FenceRequest(long generation, Boolean started) {}

package dev.arbor.api.pageserver;

import dev.arbor.api.Lsn;

/**
 * The answer to a {@link ReserveGenerationRequest}: {@code pgTli} is the PostgreSQL TLI the compute promotes into
 * (never used before on this timeline), {@code maxTliBefore} the highest TLI used before it.
 * {@code latestStartedTli} is the TLI of the newest generation that promoted before this one (0: none), and
 * {@code latestStartedLsn} where it began: WAL that a safekeeper holds on an older TLI past that point was
 * superseded by that generation's history, whatever the safekeepers' positions say.
 */
public record GenerationReservation(long generation, int pgTli, int maxTliBefore, int latestStartedTli, Lsn latestStartedLsn) {}

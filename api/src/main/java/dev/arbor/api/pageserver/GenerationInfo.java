package dev.arbor.api.pageserver;

import dev.arbor.api.Lsn;
import java.time.Instant;

/**
 * One read-write compute start on a timeline, as the pageserver answers a {@link GenerationStartedRequest}.
 * {@code parentTli} and {@code startLsn} say where {@code tli} branches off; both are null until the compute
 * reported that it promoted.
 */
public record GenerationInfo(long generation, int tli, Integer parentTli, Lsn startLsn, Instant reservedAt) {}

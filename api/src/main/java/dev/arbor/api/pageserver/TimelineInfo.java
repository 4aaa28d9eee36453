package dev.arbor.api.pageserver;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.time.Instant;

/**
 * A timeline as the pageserver API shows it. {@code lastDurableLsn} is null (with {@code walStatus} saying
 * why) when a majority of safekeepers cannot be asked. {@code startedGenerations} counts the computes that
 * promoted and streamed WAL (information for operators; a starting compute learns whether the timeline has
 * WAL to lose from the safekeepers' own answers).
 */
public record TimelineInfo(
    TenantId tenantId,
    TimelineId timelineId,
    TimelineId ancestorTimelineId,
    Lsn ancestorLsn,
    int pgVersion,
    TimelineState state,
    Lsn createdLsn,
    Lsn lastDurableLsn,
    Lsn latestImageLsn,
    int currentPgTli,
    int startedGenerations,
    String walStatus,
    Instant createdAt) {}

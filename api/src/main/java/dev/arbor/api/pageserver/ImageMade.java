package dev.arbor.api.pageserver;

import dev.arbor.api.Lsn;

/**
 * What one image took and stored ({@code POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/image}): the image
 * is at {@code lsn}, replays from {@code redoLsn}, and {@code walBytes} of WAL were replayed into its working
 * copy; {@code newChunks} and {@code newBytes} count what was not stored already.
 */
public record ImageMade(String tenantId, String timelineId, Lsn lsn, Lsn redoLsn, long walBytes, long bytes, long chunks,
    long newChunks, long newBytes, long durationMs) {}

package dev.arbor.api.pageserver;

import dev.arbor.api.TimelineId;

/**
 * {@code POST /v1/tenant/{tenant_id}/timeline}: a branch of {@code ancestorTimelineId} at {@code ancestorLsn}
 * (null: the ancestor's last durable LSN). {@code ancestorLsn} is the text a user gave, as PostgreSQL prints an
 * LSN ({@code 0/16B5A50}): the pageserver validates it and names the field when it is not one. With a
 * {@code newTimelineId} the create is idempotent for the same ancestry; without one the pageserver picks an id.
 */
public record CreateTimelineRequest(TimelineId newTimelineId, TimelineId ancestorTimelineId, String ancestorLsn) {}

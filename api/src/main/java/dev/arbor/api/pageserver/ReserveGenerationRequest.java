package dev.arbor.api.pageserver;

/**
 * {@code POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/generation}: reserves a read-write compute start.
 * {@code generation} must be above every generation recorded on the timeline (else 409 {@code stale-generation}).
 */
public record ReserveGenerationRequest(long generation) {}

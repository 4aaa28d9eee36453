package dev.arbor.api.pageserver;

import dev.arbor.api.Lsn;

/**
 * {@code POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/generation/{generation}/started}: the compute promoted
 * into its reserved TLI at {@code startLsn} after replaying {@code parentTli}; {@code history} is PostgreSQL's
 * history file of the new TLI. Repeating the report answers the same generation.
 */
public record GenerationStartedRequest(int parentTli, Lsn startLsn, String history) {}

package dev.arbor.api.pageserver;

/** {@code GET /v1/status}: {@code {"component": "pageserver", "status": "ok"}} while the pageserver serves. */
public record PageserverStatus(String component, String status) {}

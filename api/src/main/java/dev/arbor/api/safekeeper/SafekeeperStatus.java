package dev.arbor.api.safekeeper;

/**
 * A safekeeper's answer to {@code GET /v1/status}: it runs, with how many timelines it holds and how many it
 * could not load at start (quarantined: served by none of its routes).
 */
public record SafekeeperStatus(String component, String id, int timelines, int quarantined) {}

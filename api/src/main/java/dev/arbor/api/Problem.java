package dev.arbor.api;

/** The problem+json body (RFC 9457) with Arbor's {@code field} extension member. */
public record Problem(String type, String title, int status, String detail, String instance, String field) {}

package dev.arbor.api.pageserver;

public enum TimelineState {
  ACTIVE,
  /** Deletion started; the timeline is no longer usable and disappears once its objects are removed. */
  DELETING
}

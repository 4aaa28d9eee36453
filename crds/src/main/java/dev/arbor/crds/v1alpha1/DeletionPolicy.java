package dev.arbor.crds.v1alpha1;

/** What deleting a Project or Branch does to its storage in the storage engine. */
public enum DeletionPolicy {
  /** The finalizer deletes the tenant (Project) or timeline (Branch), then lets the object go. */
  Delete,
  /** The finalizer lets the object go and keeps the tenant or timeline, which can be adopted again by id. */
  Retain
}

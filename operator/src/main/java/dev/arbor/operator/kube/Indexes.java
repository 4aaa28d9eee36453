package dev.arbor.operator.kube;

import java.util.List;

/**
 * Keys of the informer indexes that mappers use to find the objects an event concerns (the Branches of a Project,
 * the children of a Branch, the Endpoints of a Branch) without scanning a namespace on every event.
 */
public final class Indexes {
  public static final String BY_PROJECT = "by-project";
  public static final String BY_PARENT = "by-parent";
  public static final String BY_BRANCH = "by-branch";

  private Indexes() {}

  /** The key of a name within a namespace: references (projectRef, parent, branchRef) are namespace-local. */
  public static String key(String namespace, String name) {
    return namespace + "/" + name;
  }

  /** One key, or none when the reference is absent. */
  public static List<String> keyOf(String namespace, String name) {
    return name == null ? List.of() : List.of(key(namespace, name));
  }
}

package dev.arbor.operator.kube;

import java.util.LinkedHashMap;
import java.util.Map;

/** Labels on what the operator creates: the recommended app.kubernetes.io set plus Arbor's own. */
public final class Labels {
  private Labels() {}

  public static final String MANAGED_BY = "app.kubernetes.io/managed-by";
  public static final String OPERATOR = "arbor-operator";
  public static final String INSTANCE = "app.kubernetes.io/instance";
  public static final String PROJECT = "arbor.dev/project";
  public static final String BRANCH = "arbor.dev/branch";
  public static final String ENDPOINT = "arbor.dev/endpoint";

  /** Labels of a compute's objects; {@link #selector} is the subset that selects its pod. */
  public static Map<String, String> compute(String endpoint, String branch, String project) {
    Map<String, String> m = new LinkedHashMap<>(selector(endpoint));
    m.put("app.kubernetes.io/component", "compute");
    m.put("app.kubernetes.io/part-of", "arbor");
    m.put(MANAGED_BY, OPERATOR);
    m.put(PROJECT, project);
    m.put(BRANCH, branch);
    return m;
  }

  public static Map<String, String> selector(String endpoint) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("app.kubernetes.io/name", "arbor-compute");
    m.put(INSTANCE, endpoint);
    m.put(ENDPOINT, endpoint);
    return m;
  }

  public static Map<String, String> project(String project) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("app.kubernetes.io/name", "arbor-project");
    m.put(INSTANCE, project);
    m.put("app.kubernetes.io/part-of", "arbor");
    m.put(MANAGED_BY, OPERATOR);
    m.put(PROJECT, project);
    return m;
  }
}

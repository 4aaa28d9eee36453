package dev.arbor.cli.home;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** Projects and branches by the names people use, mapped to the storage engine's tenant and timeline ids. */
public record LocalState(int formatVersion, Map<String, Project> projects) {
  public static final int FORMAT_VERSION = 1;

  public record Project(String tenantId, int pgVersion, String defaultBranch, Map<String, Branch> branches) {
    public Project {
      branches = new LinkedHashMap<>(branches == null ? Map.of() : branches);
    }
  }

  /** @param parent the parent branch's name; null for the project's root branch */
  public record Branch(String timelineId, String parent) {}

  public LocalState {
    projects = new LinkedHashMap<>(projects == null ? Map.of() : projects);
  }

  public static LocalState empty() {
    return new LocalState(FORMAT_VERSION, Map.of());
  }

  public Optional<Project> project(String name) {
    return Optional.ofNullable(projects.get(name));
  }
}

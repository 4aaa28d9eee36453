package dev.arbor.cli.command;

import dev.arbor.cli.CliException;
import dev.arbor.cli.home.LocalState;
import dev.arbor.api.pageserver.TenantInfo;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "project", description = "Create, list and delete projects (a project is a tenant with its own branches).",
    subcommands = {ProjectCommand.Create.class, ProjectCommand.ListProjects.class, ProjectCommand.Delete.class})
public final class ProjectCommand {

  @Command(name = "create", description = "Create a project with its root branch.")
  static final class Create implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "NAME") String name;
    @Option(names = "--pg-version", defaultValue = "15", description = "PostgreSQL major version (default: ${DEFAULT-VALUE}).") int pgVersion;
    @Option(names = "--default-branch", defaultValue = "main", description = "Name of the root branch (default: ${DEFAULT-VALUE}).") String defaultBranch;
    @Mixin Output output;

    @Override
    public Integer call() {
      var inst = new Installation();
      Names.check("project", name);
      Names.check("branch", defaultBranch);
      if (inst.state().project(name).isPresent()) {
        throw new CliException("project '" + name + "' already exists; list projects with: ./arbor project list");
      }
      LocalState.Project project = create(inst, name, pgVersion, defaultBranch);
      output.print(System.out, Map.of("name", name, "tenant_id", project.tenantId(), "pg_version", pgVersion, "default_branch", defaultBranch),
          "project " + name + " created (tenant " + project.tenantId() + ", PostgreSQL " + pgVersion + ", branch " + defaultBranch + ")");
      return 0;
    }

    static LocalState.Project create(Installation inst, String name, int pgVersion, String defaultBranch) {
      TenantInfo tenant = inst.pageserver().createTenant(pgVersion);
      var project = new LocalState.Project(tenant.tenantId().toString(), pgVersion, defaultBranch,
          Map.of(defaultBranch, new LocalState.Branch(tenant.rootTimelineId().toString(), null)));
      LocalState state = inst.state();
      state.projects().put(name, project);
      inst.home.saveState(state);
      return project;
    }
  }

  @Command(name = "list", description = "List projects.")
  static final class ListProjects implements Callable<Integer> {
    @Mixin Output output;

    @Override
    public Integer call() {
      var state = new Installation().state();
      List<Map<String, Object>> rows = state.projects().entrySet().stream().map(e -> {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", e.getKey());
        m.put("tenant_id", e.getValue().tenantId());
        m.put("pg_version", e.getValue().pgVersion());
        m.put("branches", e.getValue().branches().size());
        return m;
      }).toList();
      StringBuilder text = new StringBuilder(String.format("%-20s %-34s %-4s %s%n", "NAME", "TENANT", "PG", "BRANCHES"));
      rows.forEach(r -> text.append(String.format("%-20s %-34s %-4s %s%n", r.get("name"), r.get("tenant_id"), r.get("pg_version"), r.get("branches"))));
      output.print(System.out, rows, text.toString().stripTrailing());
      return 0;
    }
  }

  @Command(name = "delete", description = "Delete a project with all its branches and data (refused while an endpoint runs).")
  static final class Delete implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "NAME") String name;

    @Override
    public Integer call() {
      var inst = new Installation();
      LocalState state = inst.state();
      LocalState.Project project = state.project(name).orElseThrow(() -> new CliException("no project '" + name + "'"));
      List<String> running = Endpoints.running(inst, name);
      if (!running.isEmpty()) {
        throw new CliException("project '" + name + "' has running endpoints on " + running + "; stop them first: ./arbor endpoint stop BRANCH --project " + name);
      }
      // Suspended endpoints are stopped for good first, so no connection wakes one while the tenant goes.
      for (String branch : project.branches().keySet()) {
        Endpoints.stop(inst, name, branch, Endpoints.STOPPED);
      }
      inst.pageserver().deleteTenant(project.tenantId());
      state.projects().remove(name);
      inst.home.saveState(state);
      Endpoints.removeProjectDirectories(inst, name);
      System.out.println("project " + name + " deleted");
      return 0;
    }
  }
}

package dev.arbor.cli.command;

import dev.arbor.cli.CliException;
import dev.arbor.cli.home.LocalState;
import dev.arbor.api.Lsn;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.pageserver.TimelineInfo;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "branch", description = "Create, list and delete branches. A branch pins its parent's LSN; nothing is copied.",
    subcommands = {BranchCommand.Create.class, BranchCommand.ListBranches.class, BranchCommand.Delete.class})
public final class BranchCommand {

  @Command(name = "create", description = "Create a branch of PARENT (default: the project's root branch) at --lsn (default: its head).")
  static final class Create implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "NAME") String name;
    @Option(names = "--parent", paramLabel = "BRANCH", description = "The branch to branch from.") String parent;
    @Option(names = "--lsn", paramLabel = "LSN", description = "Where on the parent, as X/Y (e.g. 0/16B5A50); default: the parent's head.") String lsn;
    @Mixin ProjectOption project;
    @Mixin Output output;

    @Override
    public Integer call() {
      var inst = new Installation();
      Names.check("branch", name);
      if (lsn != null && !Lsn.isValid(lsn)) {
        throw new CliException("--lsn '" + lsn + "' is not an LSN: expected X/Y in hex as PostgreSQL prints it (e.g. 0/16B5A50); "
            + "read one with ./arbor lsn BRANCH");
      }
      LocalState state = inst.state();
      LocalState.Project p = project.require(state);
      if (p.branches().containsKey(name)) {
        throw new CliException("branch '" + name + "' already exists in project " + project.name + "; list branches with: ./arbor branch list");
      }
      String parentName = parent != null ? parent : p.defaultBranch();
      LocalState.Branch parentBranch = p.branches().get(parentName);
      if (parentBranch == null) {
        throw new CliException("--parent: no branch '" + parentName + "' in project " + project.name + "; branches: " + String.join(", ", p.branches().keySet()));
      }
      TimelineInfo t;
      try {
        t = inst.pageserver().branch(p.tenantId(), parentBranch.timelineId(), lsn);
      } catch (ApiProblem problem) {
        throw new CliException("cannot create branch " + name + ": " + problem.getMessage()
            .replace("timeline " + parentBranch.timelineId(), "branch " + parentName));
      }
      p.branches().put(name, new LocalState.Branch(t.timelineId().toString(), parentName));
      inst.home.saveState(state);
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("name", name);
      out.put("timeline_id", t.timelineId().toString());
      out.put("parent", parentName);
      out.put("lsn", t.ancestorLsn().toString());
      output.print(System.out, out, "branch " + name + " (" + t.timelineId() + ") created from " + parentName + " at " + t.ancestorLsn());
      return 0;
    }
  }

  @Command(name = "list", description = "The branch tree with branch points and heads.")
  static final class ListBranches implements Callable<Integer> {
    @Mixin ProjectOption project;
    @Mixin Output output;

    @Override
    public Integer call() {
      var inst = new Installation();
      LocalState.Project p = project.require(inst.state());
      Map<String, TimelineInfo> byId = new LinkedHashMap<>();
      inst.pageserver().timelines(p.tenantId()).forEach(t -> byId.put(t.timelineId().toString(), t));
      List<String> running = Endpoints.running(inst, project.name);
      List<Map<String, Object>> rows = new ArrayList<>();
      StringBuilder text = new StringBuilder();
      tree(p, p.defaultBranch(), 0, byId, running, rows, text);
      output.print(System.out, rows, text.toString().stripTrailing());
      return 0;
    }

    private static void tree(LocalState.Project p, String name, int depth, Map<String, TimelineInfo> byId, List<String> running,
        List<Map<String, Object>> rows, StringBuilder text) {
      LocalState.Branch b = p.branches().get(name);
      TimelineInfo t = byId.get(b.timelineId());
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("name", name);
      row.put("timeline_id", b.timelineId());
      row.put("parent", b.parent());
      row.put("branch_lsn", t == null || t.ancestorLsn() == null ? null : t.ancestorLsn().toString());
      row.put("head_lsn", t == null || t.lastDurableLsn() == null ? null : t.lastDurableLsn().toString());
      row.put("endpoint", running.contains(name) ? "running" : "stopped");
      rows.add(row);
      text.append("  ".repeat(depth)).append(depth == 0 ? "" : "└─ ").append(name)
          .append(row.get("branch_lsn") == null ? "" : " @ " + row.get("branch_lsn"))
          .append("  head ").append(row.get("head_lsn") == null ? "?" : row.get("head_lsn"))
          .append(running.contains(name) ? "  [endpoint running]" : "").append('\n');
      p.branches().entrySet().stream().filter(e -> name.equals(e.getValue().parent()))
          .forEach(e -> tree(p, e.getKey(), depth + 1, byId, running, rows, text));
    }
  }

  @Command(name = "delete", description = "Delete a branch (refused while it has children or a running endpoint).")
  static final class Delete implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "NAME") String name;
    @Mixin ProjectOption project;

    @Override
    public Integer call() {
      var inst = new Installation();
      LocalState state = inst.state();
      LocalState.Project p = project.require(state);
      LocalState.Branch b = ProjectOption.branch(p, project.name, name);
      if (name.equals(p.defaultBranch())) {
        throw new CliException("branch " + name + " is the root of project " + project.name + "; delete the project instead: ./arbor project delete " + project.name);
      }
      List<String> children = p.branches().entrySet().stream().filter(e -> name.equals(e.getValue().parent())).map(Map.Entry::getKey).toList();
      if (!children.isEmpty()) {
        throw new CliException("branch " + name + " has child branches " + children + "; delete them first");
      }
      if (Endpoints.running(inst, project.name).contains(name)) {
        throw new CliException("branch " + name + " has a running endpoint; stop it first: ./arbor endpoint stop " + name
            + (project.name.equals("default") ? "" : " --project " + project.name));
      }
      // A suspended endpoint is stopped for good first, so no connection wakes it while its timeline goes.
      Endpoints.stop(inst, project.name, name, Endpoints.STOPPED);
      try {
        inst.pageserver().deleteTimeline(p.tenantId(), b.timelineId());
      } catch (ApiProblem problem) {
        throw new CliException("cannot delete branch " + name + ": " + problem.getMessage());
      }
      p.branches().remove(name);
      inst.home.saveState(state);
      Endpoints.removeBranchDirectory(inst, project.name, name);
      System.out.println("branch " + name + " deleted");
      return 0;
    }
  }
}

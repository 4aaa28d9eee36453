package dev.arbor.cli.command;

import dev.arbor.cli.CliException;
import dev.arbor.api.Lsn;
import dev.arbor.api.compute.DurationText;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "endpoint", description = "Start, stop and list computes (endpoints) of branches.",
    subcommands = {EndpointCommand.Start.class, EndpointCommand.Stop.class, EndpointCommand.ListEndpoints.class})
public final class EndpointCommand {

  @Command(name = "start", description = "Start a compute for BRANCH and print its connection URI.")
  static final class Start implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "BRANCH") String branch;
    @Option(names = "--read-only", description = "A read-only compute: a static snapshot at --lsn (default: the branch's current head).") boolean readOnly;
    @Option(names = "--lsn", paramLabel = "LSN", description = "With --read-only: serve the branch exactly as it was at this LSN (X/Y).") String lsn;
    @Option(names = "--suspend-timeout", paramLabel = "DURATION", description = "Suspend the compute after this long without "
        + "activity (e.g. 10s, 5m, 1h; 0 = never, the default); a client connecting to the URI wakes it.") String suspendTimeout;
    @Mixin ProjectOption project;
    @Mixin Output output;

    @Override
    public Integer call() {
      if (lsn != null && !readOnly) {
        throw new CliException("--lsn needs --read-only: a read-write compute always starts at the branch's head "
            + "(to write from a past point, create a branch there: ./arbor branch create NAME --parent " + branch + " --lsn " + lsn + ")");
      }
      if (lsn != null && !Lsn.isValid(lsn)) {
        throw new CliException("--lsn '" + lsn + "' is not an LSN: expected X/Y in hex (e.g. 0/16B5A50)");
      }
      Duration suspendAfter = suspendTimeout(suspendTimeout);
      var inst = new Installation();
      var p = project.require(inst.state());
      if (readOnly && lsn == null) {
        // A read-only compute is a static snapshot; without --lsn, of the branch as it is now.
        var b = ProjectOption.branch(p, project.name, branch);
        var head = inst.pageserver().timeline(p.tenantId(), b.timelineId()).lastDurableLsn();
        if (head == null) {
          throw new CliException("the head of " + branch + " is unknown (safekeepers unreachable); pass --lsn");
        }
        lsn = head.toString();
      }
      var e = Endpoints.start(inst, project.name, branch, readOnly, lsn, suspendAfter, System.err);
      output.print(System.out, Map.of("branch", branch, "mode", e.mode(), "uri", Endpoints.uri(inst, e)), Endpoints.uri(inst, e));
      return 0;
    }
  }

  static Duration suspendTimeout(String text) {
    if (text == null) {
      return Duration.ZERO;
    }
    try {
      Duration d = DurationText.parse(text);
      if (d.isNegative()) {
        throw new IllegalArgumentException("negative");
      }
      return d;
    } catch (RuntimeException e) {
      throw new CliException("--suspend-timeout '" + text + "' is not a duration: expected a number with s, m or h (e.g. 10s, 5m), or 0 for never");
    }
  }

  @Command(name = "stop", description = "Stop the compute of BRANCH (PostgreSQL shuts down cleanly; data stays). Connections "
      + "are refused until it is started again.")
  static final class Stop implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "BRANCH") String branch;
    @Mixin ProjectOption project;

    @Override
    public Integer call() {
      var inst = new Installation();
      ProjectOption.branch(project.require(inst.state()), project.name, branch);
      var info = Endpoints.info(inst, project.name, branch);
      boolean wasRunning = Endpoints.stop(inst, project.name, branch, Endpoints.STOPPED);
      if (!wasRunning && (info.isEmpty() || Endpoints.STOPPED.equals(info.get().state()))) {
        throw new CliException("branch " + branch + " has no running endpoint");
      }
      System.out.println("endpoint of " + branch + " stopped");
      return 0;
    }
  }

  @Command(name = "list", description = "Endpoints with their state and connection URIs.")
  static final class ListEndpoints implements Callable<Integer> {
    @Mixin ProjectOption project;
    @Mixin Output output;

    @Override
    public Integer call() {
      var inst = new Installation();
      project.require(inst.state());
      List<String> running = Endpoints.running(inst, project.name);
      List<Map<String, Object>> rows = new ArrayList<>();
      StringBuilder text = new StringBuilder(String.format("%-20s %-10s %-10s %-8s %s%n", "BRANCH", "MODE", "STATE", "SUSPEND", "URI"));
      for (var e : Endpoints.all(inst)) {
        if (!e.project().equals(project.name)) {
          continue;
        }
        String state = Endpoints.displayState(e, running.contains(e.branch()));
        boolean reachable = !state.equals(Endpoints.STOPPED);
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("branch", e.branch());
        row.put("mode", e.mode());
        row.put("state", state);
        row.put("suspend_timeout", e.suspendTimeout());
        row.put("uri", reachable ? Endpoints.uri(inst, e) : null);
        rows.add(row);
        text.append(String.format("%-20s %-10s %-10s %-8s %s%n", e.branch(), e.mode(), state,
            e.suspendTimeout() == null ? "never" : e.suspendTimeout(), reachable ? row.get("uri") : "-"));
      }
      output.print(System.out, rows, text.toString().stripTrailing());
      return 0;
    }
  }
}

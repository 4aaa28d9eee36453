package dev.arbor.cli.command;

import dev.arbor.cli.CliException;
import dev.arbor.cli.home.LocalConfig;
import dev.arbor.cli.home.LocalState;
import dev.arbor.cli.process.Daemons;
import dev.arbor.cli.process.Ports;
import dev.arbor.client.ServiceLaunch;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.compute.AgentCommand;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.postgres.ServerUser;
import dev.arbor.client.ComputeSpecJson;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.compute.AgentStatus;
import dev.arbor.client.ComputeAgentClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.Json;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Local endpoints: one compute agent process per branch, started in the background with a spec the CLI
 * writes. Each start gets an empty work directory — a compute is stateless; its data is in the storage
 * engine. People connect as role {@code arbor} to database {@code arbor} with a password kept in the home.
 */
final class Endpoints {
  static final String ROLE = "arbor";
  static final String DATABASE = "arbor";

  /** What the CLI remembers of a started endpoint ({@code endpoint.json}). */
  record EndpointInfo(String project, String branch, String mode, String lsn, int port, int httpPort) {}

  private Endpoints() {}

  static String daemonName(String project, String branch) {
    return "endpoint-" + project + "-" + branch;
  }

  /** Branch names of the project with a running endpoint. */
  static List<String> running(Installation inst, String project) {
    Path dir = inst.home.endpoints().resolve(project);
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    var daemons = new Daemons(inst.home);
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString())
          .filter(b -> daemons.pid(daemonName(project, b)).isPresent()).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Optional<EndpointInfo> info(Installation inst, String project, String branch) {
    Path file = inst.home.endpoint(project, branch).resolve("endpoint.json");
    try {
      return Files.exists(file) ? Optional.of(Json.read(Files.readAllBytes(file), EndpointInfo.class)) : Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String uri(Installation inst, EndpointInfo e) {
    return "postgresql://" + ROLE + ":" + password(inst, e.project()) + "@127.0.0.1:" + e.port() + "/" + DATABASE;
  }

  /** Starts an endpoint for the branch and waits until it serves queries; returns it. */
  static EndpointInfo start(Installation inst, String project, String branch, boolean readOnly, String lsn, PrintStream progress) {
    LocalConfig config = inst.config();
    LocalState.Project p = inst.state().project(project).orElseThrow(() -> new CliException("no project '" + project + "'"));
    LocalState.Branch b = ProjectOption.branch(p, project, branch);
    var daemons = new Daemons(inst.home);
    String name = daemonName(project, branch);
    if (daemons.pid(name).isPresent()) {
      throw new CliException("branch " + branch + " already has a running endpoint: " + uri(inst, info(inst, project, branch).orElseThrow())
          + "\nstop it first to start another: ./arbor endpoint stop " + branch);
    }
    Path dir = inst.home.endpoint(project, branch);
    inst.home.createPostgresRoot();
    Path work = inst.home.computeWorkDir(project, branch);
    try {
      deleteRecursively(work); // a compute starts from storage into an empty directory
      ServerUser.current().createReachable(work);
      Files.createDirectories(dir);
      Path passwordFile = passwordFile(inst, project);
      var info = new EndpointInfo(project, branch, (readOnly ? Mode.READ_ONLY : Mode.READ_WRITE).text(), lsn, Ports.any(), Ports.any());
      Path specFile = dir.resolve("spec.json");
      Files.write(specFile, ComputeSpecJson.write(computeSpec(p, b, config, info, work, passwordFile)));
      Files.write(dir.resolve("endpoint.json"), Json.write(info));
      ServerUser.current().handOver(work);

      long t0 = System.nanoTime();
      progress.print("starting endpoint for " + branch + (readOnly ? " (read-only" + (lsn == null ? "" : " at " + lsn) + ")" : "") + " ... ");
      progress.flush();
      // One try per poll: Daemons.start polls until the deadline.
      var agent = ComputeAgentClient.at("127.0.0.1", info.httpPort(), Duration.ofSeconds(2), RetryPolicy.NONE);
      daemons.start(name, Daemons.java(ServiceLaunch.COMPUTE_AGENT, List.of(AgentCommand.SPEC_OPTION, specFile.toString())), Duration.ofMinutes(10),
          () -> running(agent));
      progress.printf("ok (%.1f s)%n", (System.nanoTime() - t0) / 1e9);
      return info;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The spec of a local endpoint: the branch's timeline in the project's tenant, the local storage engine, loopback
   * ports, and role {@value #ROLE} (password from the project's file) owning database {@value #DATABASE}. A
   * read-write compute gets every safekeeper; a read-only one is a snapshot at {@code info.lsn()}.
   */
  static ComputeAgentSpec computeSpec(LocalState.Project project, LocalState.Branch branch, LocalConfig config, EndpointInfo info,
      Path workDir, Path passwordFile) {
    boolean readOnly = info.mode().equals(Mode.READ_ONLY.text());
    return new ComputeAgentSpec(ComputeAgentSpec.FORMAT_VERSION, new TenantId(project.tenantId()), new TimelineId(branch.timelineId()),
        readOnly ? Mode.READ_ONLY : Mode.READ_WRITE,
        info.lsn() == null ? null : Lsn.parse(info.lsn()),
        config.pageserverUrl(),
        readOnly ? Map.of() : config.safekeeperUrls(),
        project.pgVersion(),
        "127.0.0.1", info.port(), info.httpPort(),
        workDir,
        Map.of(),
        List.of(new ComputeAgentSpec.Role(ROLE, passwordFile.toString(), null, true, true, true)),
        List.of(new ComputeAgentSpec.Database(DATABASE, ROLE)),
        null);
  }

  private static boolean running(ComputeAgentClient agent) {
    AgentStatus status;
    try {
      status = agent.status();
    } catch (IOException | ApiProblem e) {
      return false; // not serving yet
    }
    if (status.phase() == AgentStatus.Phase.FAILED) {
      throw new CliException("the endpoint failed to start: " + status.error());
    }
    return status.phase() == AgentStatus.Phase.RUNNING;
  }

  static boolean stop(Installation inst, String project, String branch) {
    return new Daemons(inst.home).stop(daemonName(project, branch), Duration.ofSeconds(90));
  }

  /** Every endpoint directory of every project, running or not. */
  static List<EndpointInfo> all(Installation inst) {
    List<EndpointInfo> out = new ArrayList<>();
    for (String project : inst.state().projects().keySet()) {
      for (String branch : inst.state().projects().get(project).branches().keySet()) {
        info(inst, project, branch).ifPresent(out::add);
      }
    }
    return out;
  }

  static void removeBranchDirectory(Installation inst, String project, String branch) {
    deleteRecursively(inst.home.computeWorkDir(project, branch).getParent());
    deleteRecursively(inst.home.endpoint(project, branch));
  }

  static void removeProjectDirectories(Installation inst, String project) {
    deleteRecursively(inst.home.computeWorkDirs(project));
    deleteRecursively(inst.home.endpoints().resolve(project));
  }

  private static String password(Installation inst, String project) {
    try {
      return Files.readString(passwordFile(inst, project)).strip();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The project's password for role arbor, generated once, readable by its owner only. */
  private static Path passwordFile(Installation inst, String project) throws IOException {
    Path file = inst.home.root().resolve("secrets").resolve(project + ".password");
    if (!Files.exists(file)) {
      Files.createDirectories(file.getParent());
      byte[] b = new byte[18];
      new SecureRandom().nextBytes(b);
      Files.writeString(file, Base64.getUrlEncoder().withoutPadding().encodeToString(b) + "\n");
      Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
    }
    return file;
  }


  private static void deleteRecursively(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}

package dev.arbor.cli.command;

import dev.arbor.cli.home.ArborHome;
import dev.arbor.api.auth.StorageGrant;
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
import dev.arbor.api.compute.DurationText;
import dev.arbor.postgres.ServerUser;
import dev.arbor.client.ComputeSpecJson;
import dev.arbor.client.tls.Pem;
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
 * engine. People connect as role {@code arbor} to database {@code arbor} with a password kept in the home,
 * through the local proxy ({@link LocalProxy}) on the endpoint's port, which stays the same across stops,
 * suspends and wakes; the compute's PostgreSQL listens on a port of its own behind it.
 */
final class Endpoints {
  static final String ROLE = "arbor";
  static final String DATABASE = "arbor";

  /** The endpoint's compute runs, or is to run (a connection starts it again if it is not). */
  static final String RUNNING = "running";
  /** Suspended by the proxy after its suspend timeout without activity; a connection wakes it. */
  static final String SUSPENDED = "suspended";
  /** Stopped by {@code ./arbor endpoint stop}; connections are refused until it is started again. */
  static final String STOPPED = "stopped";

  /**
   * What the CLI remembers of an endpoint ({@code endpoint.json}).
   *
   * @param port where clients connect: the local proxy's listener for this endpoint
   * @param computePort where the compute's PostgreSQL listens (null in an endpoint.json of an Arbor before the proxy)
   * @param suspendTimeout idle time after which the proxy suspends the compute, as DurationText writes it; null = never
   * @param state {@link #RUNNING}, {@link #SUSPENDED} or {@link #STOPPED}
   */
  record EndpointInfo(String project, String branch, String mode, String lsn, int port, int httpPort, Integer computePort,
      String suspendTimeout, String state) {

    EndpointInfo with(String newState) {
      return new EndpointInfo(project, branch, mode, lsn, port, httpPort, computePort, suspendTimeout, newState);
    }

    /** The key the proxy knows this endpoint by. */
    String key() {
      return project + "/" + branch;
    }

    Duration suspendAfter() {
      if (suspendTimeout == null) {
        return Duration.ZERO;
      }
      return DurationText.parse(suspendTimeout);
    }
  }

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

  /**
   * Starts an endpoint for the branch and waits until it serves queries; returns it. The endpoint keeps the
   * client port of an earlier start, so its URI stays the same.
   */
  static EndpointInfo start(Installation inst, String project, String branch, boolean readOnly, String lsn, Duration suspendTimeout,
      PrintStream progress) {
    try (var lock = EndpointLock.take(inst, project, branch)) {
      var daemons = new Daemons(inst.home);
      if (daemons.pid(daemonName(project, branch)).isPresent()) {
        throw new CliException("branch " + branch + " already has a running endpoint: " + uri(inst, info(inst, project, branch).orElseThrow())
            + "\nstop it first to start another: ./arbor endpoint stop " + branch);
      }
      int port = info(inst, project, branch).filter(e -> e.computePort() != null).map(EndpointInfo::port).orElseGet(Ports::stable);
      var info = new EndpointInfo(project, branch, (readOnly ? Mode.READ_ONLY : Mode.READ_WRITE).text(), lsn, port, Ports.any(),
          Ports.any(), suspendTimeout == null || suspendTimeout.isZero() ? null : DurationText.format(suspendTimeout), RUNNING);
      launch(inst, info, progress);
    }
    LocalProxy.ensureRunning(inst);
    return info(inst, project, branch).orElseThrow();
  }

  /**
   * Starts the compute of {@code info} (its mode, snapshot LSN and ports) and records it as running; the caller
   * holds the endpoint's lock. Waits until the compute serves queries.
   */
  static void launch(Installation inst, EndpointInfo info, PrintStream progress) {
    String project = info.project();
    String branch = info.branch();
    LocalConfig config = inst.config();
    LocalState.Project p = inst.state().project(project).orElseThrow(() -> new CliException("no project '" + project + "'"));
    LocalState.Branch b = ProjectOption.branch(p, project, branch);
    var daemons = new Daemons(inst.home);
    Path dir = inst.home.endpoint(project, branch);
    inst.home.createPostgresRoot();
    Path work = inst.home.computeWorkDir(project, branch);
    boolean readOnly = info.mode().equals(Mode.READ_ONLY.text());
    try {
      if (readOnly) {
        deleteRecursively(work); // a snapshot starts from storage into an empty directory
      } // a read-write compute's agent reuses the PGDATA of its clean stop, or replaces it (docs/compute-agent.md)
      ServerUser.current().createReachable(work);
      Files.createDirectories(dir);
      Path passwordFile = passwordFile(inst, project);
      Path specFile = dir.resolve("spec.json");
      Path tokenFile = inst.home.keys().mintInto(dir.resolve("storage.token"),
          StorageGrant.compute("endpoint-" + project + "-" + branch, new TenantId(p.tenantId()), new TimelineId(b.timelineId())),
          ArborHome.TOKEN_TTL);
      Path computeTls = dir.resolve("tls");
      inst.home.certificates().ensureCompute(computeTls);
      Files.write(specFile, ComputeSpecJson.write(computeSpec(p, b, config, info, work, passwordFile, tokenFile,
          inst.home.certificates().caFile(), computeTls)));
      save(inst, info.with(RUNNING));
      ServerUser.current().handOver(work);

      long t0 = System.nanoTime();
      progress.print("starting endpoint for " + branch + (readOnly ? " (read-only" + (info.lsn() == null ? "" : " at " + info.lsn()) + ")" : "") + " ... ");
      progress.flush();
      // One try per poll: Daemons.start polls until the deadline.
      var agent = agent(info);
      daemons.start(daemonName(project, branch), Daemons.java(ServiceLaunch.COMPUTE_AGENT, List.of(AgentCommand.SPEC_OPTION, specFile.toString())),
          Duration.ofMinutes(10), () -> running(agent));
      progress.printf("ok (%.1f s)%n", (System.nanoTime() - t0) / 1e9);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The compute agent of a local endpoint; one try per call. */
  static ComputeAgentClient agent(EndpointInfo info) {
    return ComputeAgentClient.at("127.0.0.1", info.httpPort(), Duration.ofSeconds(2), RetryPolicy.NONE);
  }

  static void save(Installation inst, EndpointInfo info) {
    try {
      Path file = inst.home.endpoint(info.project(), info.branch()).resolve("endpoint.json");
      Files.createDirectories(file.getParent());
      Path tmp = file.resolveSibling("endpoint.json.tmp");
      Files.write(tmp, Json.write(info));
      Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * What {@code endpoint list} shows: running (its compute runs), suspended (a connection wakes it), or stopped.
   * An endpoint whose compute is gone without a stop (after {@code down}, or a crash) is shown suspended: the
   * proxy starts it on the next connection.
   */
  static String displayState(EndpointInfo e, boolean computeRunning) {
    if (computeRunning) {
      return RUNNING;
    }
    if (e.computePort() == null || STOPPED.equals(e.state())) {
      return STOPPED;
    }
    return SUSPENDED;
  }

  /** Whether the endpoint's compute process runs. */
  static boolean computeRunning(Installation inst, EndpointInfo info) {
    return new Daemons(inst.home).pid(daemonName(info.project(), info.branch())).isPresent();
  }

  /**
   * The spec of a local endpoint: the branch's timeline in the project's tenant, the local storage engine over HTTPS
   * trusting the home's CA ({@code storageCaFile}) only, PostgreSQL's certificate of that CA in {@code computeTls},
   * loopback ports, and role {@value #ROLE} (password from the project's file) owning database {@value #DATABASE}. A
   * read-write compute gets every safekeeper; a read-only one is a snapshot at {@code info.lsn()}.
   */
  static ComputeAgentSpec computeSpec(LocalState.Project project, LocalState.Branch branch, LocalConfig config, EndpointInfo info,
      Path workDir, Path passwordFile, Path storageTokenFile, Path storageCaFile, Path computeTls) {
    boolean readOnly = info.mode().equals(Mode.READ_ONLY.text());
    return new ComputeAgentSpec(ComputeAgentSpec.FORMAT_VERSION, new TenantId(project.tenantId()), new TimelineId(branch.timelineId()),
        readOnly ? Mode.READ_ONLY : Mode.READ_WRITE,
        info.lsn() == null ? null : Lsn.parse(info.lsn()),
        config.pageserverUrl(),
        readOnly ? Map.of() : config.safekeeperUrls(),
        project.pgVersion(),
        "127.0.0.1", info.computePort(), info.httpPort(),
        workDir,
        Map.of(),
        // CREATEROLE only where it stays inside the roles the user made (PostgreSQL 16 and later; ComputeAgentSpec says why)
        List.of(new ComputeAgentSpec.Role(ROLE, passwordFile.toString(), null, true, true,
            project.pgVersion() >= ComputeAgentSpec.CREATEROLE_CONFINED_SINCE)),
        List.of(new ComputeAgentSpec.Database(DATABASE, ROLE)),
        info.suspendAfter().isZero() ? null : info.suspendAfter(), storageTokenFile.toString(),
        // The local daemons serve HTTPS with a certificate of the home's CA (LocalCertificates); the compute trusts only it,
        // serves PostgreSQL over TLS with a certificate of that CA for localhost, and takes the safekeepers' as theirs.
        storageCaFile.toString(), null,
        new ComputeAgentSpec.Tls(computeTls.resolve(Pem.CERT).toString(), computeTls.resolve(Pem.KEY).toString(),
            storageCaFile.toString(), "localhost"));
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

  /**
   * Stops the endpoint's compute and records {@code state}: {@link #STOPPED} (by hand: connections are refused)
   * or {@link #SUSPENDED} (a connection wakes it), or null to keep the recorded state (down: the next
   * connection after up starts it again). Returns whether a compute was running.
   */
  static boolean stop(Installation inst, String project, String branch, String state) {
    try (var lock = EndpointLock.take(inst, project, branch)) {
      if (state != null) {
        info(inst, project, branch).ifPresent(e -> save(inst, e.with(state)));
      }
      return new Daemons(inst.home).stop(daemonName(project, branch), Duration.ofSeconds(90));
    }
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

package dev.arbor.postgres;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The OS user PostgreSQL processes run as. PostgreSQL refuses to run as root, so when Arbor itself runs
 * as root (CI, containers built that way) its PostgreSQL processes drop to an unprivileged user
 * ({@code postgres} unless {@code ARBOR_POSTGRES_OS_USER} says otherwise) with {@code setpriv}, which
 * execs in place: the child process we hold is the PostgreSQL process itself, so signals reach it
 * directly. As a normal user nothing changes.
 *
 * <p>That user must be able to enter every directory on the path to its data, socket and scratch
 * directories, and the directory it is started in: PostgreSQL's programs change back to their working
 * directory after locating their own executable, and print {@code could not change directory to ...} when
 * they cannot. So every program runs from {@code /} ({@link #processBuilder}), and directories meant for
 * PostgreSQL are made with {@link #createReachable}, which refuses a path the user cannot reach in one line.
 */
public final class ServerUser {

  private static final String REACHABLE_MODE = "rwx--x--x"; // others pass through, they cannot list

  private final String dropTo; // null: run as the current user

  private ServerUser(String dropTo) {
    this.dropTo = dropTo;
  }

  public static ServerUser current() {
    if (!isRoot()) {
      return new ServerUser(null);
    }
    String name = System.getenv().getOrDefault("ARBOR_POSTGRES_OS_USER", "postgres");
    return new ServerUser(name);
  }

  public boolean dropsPrivileges() {
    return dropTo != null;
  }

  /** The name of the OS user PostgreSQL runs as. */
  public String name() {
    return dropTo != null ? dropTo : System.getProperty("user.name");
  }

  /** The command line that runs {@code command} as this user. */
  public List<String> wrap(List<String> command) {
    if (dropTo == null) {
      return command;
    }
    var wrapped = new ArrayList<String>(List.of("setpriv", "--reuid=" + dropTo, "--regid=" + dropTo, "--init-groups", "--"));
    wrapped.addAll(command);
    return wrapped;
  }

  /**
   * A process builder for {@code command} as this user, with {@code /} as its working directory: every user
   * can enter it, whatever directory Arbor was started from. Paths in {@code command} must be absolute.
   */
  public ProcessBuilder processBuilder(List<String> command) {
    var builder = new ProcessBuilder(wrap(command)).directory(new File("/"));
    // A clean environment: nothing of Arbor's (role passwords, the agent's spec, tokens) reaches PostgreSQL, where
    // a role's SQL could find it. Only the program search path and the locale and time zone settings pass.
    builder.environment().keySet().removeIf(name -> !PASSED_ENVIRONMENT.contains(name) && !name.startsWith("LC_"));
    return builder;
  }

  /** The environment variables PostgreSQL and its tools get from Arbor's process, besides {@code LC_*}. */
  public static final java.util.Set<String> PASSED_ENVIRONMENT = java.util.Set.of("PATH", "LANG", "LANGUAGE", "TZ", "TZDIR");

  /** What a program printed, apart: a warning on stderr is never part of the answer on stdout. */
  public record Output(int exitCode, String stdout, String stderr) {
    /** The non-blank lines of stderr joined into one line, for an error message. */
    public String stderrLine() {
      return String.join(" / ", stderr.lines().map(String::strip).filter(l -> !l.isEmpty()).toList());
    }
  }

  /** Runs {@code command} as this user from {@code /} with no input, and waits for it to end. */
  public Output run(List<String> command, Duration timeout) throws IOException {
    Process p = processBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    CompletableFuture<String> stdout = readFully(p.getInputStream());
    CompletableFuture<String> stderr = readFully(p.getErrorStream());
    String program = Path.of(command.getFirst()).getFileName().toString();
    try {
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        throw new IOException(program + " did not finish within " + timeout.toSeconds() + " s");
      }
      return new Output(p.exitValue(), stdout.get(), stderr.get());
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running " + program, e);
    } catch (ExecutionException e) {
      throw new IOException("cannot read the output of " + program + ": " + e.getCause().getMessage(), e.getCause());
    }
  }

  private static CompletableFuture<String> readFully(InputStream in) {
    var result = new CompletableFuture<String>();
    Thread.ofVirtual().start(() -> {
      try (in) {
        result.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      } catch (IOException | RuntimeException e) {
        result.completeExceptionally(e);
      }
    });
    return result;
  }

  /**
   * Whether this user can enter {@code dir}, which takes search permission on it and on every directory
   * above it. When PostgreSQL runs as another user the kernel answers: {@code test -x} runs as that user.
   */
  public boolean canEnter(Path dir) throws IOException {
    Path abs = dir.toAbsolutePath().normalize();
    if (dropTo == null) {
      return Files.isDirectory(abs) && Files.isExecutable(abs);
    }
    return run(wrapTest(abs), Duration.ofSeconds(30)).exitCode() == 0;
  }

  private static List<String> wrapTest(Path dir) {
    return List.of("test", "-d", dir.toString(), "-a", "-x", dir.toString());
  }

  /**
   * Creates {@code dir} and its missing parents so that this user can reach it, and returns its absolute path.
   * Directories this creates are mode 0711 when PostgreSQL runs as another user (it may pass through, not
   * list); directories that already exist are never changed, since they are not Arbor's to open up. When one
   * of them bars the way, this throws an {@link UnreachableDirectoryException} that names it.
   */
  public Path createReachable(Path dir) throws IOException {
    Path abs = dir.toAbsolutePath().normalize();
    Deque<Path> missing = new ArrayDeque<>();
    for (Path p = abs; p != null && !Files.exists(p, LinkOption.NOFOLLOW_LINKS); p = p.getParent()) {
      missing.push(p);
    }
    while (!missing.isEmpty()) {
      Path created = Files.createDirectory(missing.pop());
      if (dropTo != null) {
        Files.setPosixFilePermissions(created, PosixFilePermissions.fromString(REACHABLE_MODE));
      }
    }
    if (dropTo != null && !canEnter(abs)) {
      throw unreachable(abs);
    }
    return abs;
  }

  private UnreachableDirectoryException unreachable(Path target) throws IOException {
    Path inTheWay = target;
    Path walked = target.getRoot();
    for (Path part : target) {
      walked = walked.resolve(part);
      if (!canEnter(walked)) {
        inTheWay = walked;
        break;
      }
    }
    String what;
    try {
      PosixFileAttributes attrs = Files.readAttributes(inTheWay, PosixFileAttributes.class);
      what = inTheWay + " (mode " + PosixFilePermissions.toString(attrs.permissions()) + ", owner " + attrs.owner().getName() + ")";
    } catch (IOException e) {
      what = inTheWay.toString();
    }
    return new UnreachableDirectoryException("PostgreSQL runs as OS user '" + dropTo + "' (Arbor runs as root) and cannot enter "
        + what + ", so it cannot use " + target + ": put that under a directory '" + dropTo + "' can enter, "
        + "or set ARBOR_POSTGRES_OS_USER to a user that can");
  }

  /** Gives {@code dir} and everything below it to this user, so PostgreSQL can own its data directory. */
  public void handOver(Path dir) throws IOException {
    if (dropTo == null) {
      return;
    }
    var lookup = FileSystems.getDefault().getUserPrincipalLookupService();
    UserPrincipal user;
    GroupPrincipal group;
    try {
      user = lookup.lookupPrincipalByName(dropTo);
      group = lookup.lookupPrincipalByGroupName(dropTo);
    } catch (UserPrincipalNotFoundException e) {
      throw new MissingPrerequisiteException("running as root, PostgreSQL needs an unprivileged OS user '" + dropTo
          + "' to run as. Installing Debian's postgresql package creates it ('apt-get install postgresql-15'), "
          + "or set ARBOR_POSTGRES_OS_USER to an existing user.");
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) paths::iterator) {
        var view = Files.getFileAttributeView(p, PosixFileAttributeView.class);
        view.setOwner(user);
        view.setGroup(group);
      }
    }
  }

  private static boolean isRoot() {
    return new com.sun.security.auth.module.UnixSystem().getUid() == 0;
  }
}

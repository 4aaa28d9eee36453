package dev.arbor.postgres;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The OS user PostgreSQL processes run as. PostgreSQL refuses to run as root, so when Arbor itself runs
 * as root (CI, containers built that way) its PostgreSQL processes drop to an unprivileged user
 * ({@code postgres} unless {@code ARBOR_POSTGRES_OS_USER} says otherwise) with {@code setpriv}, which
 * execs in place: the child process we hold is the PostgreSQL process itself, so signals reach it
 * directly. As a normal user nothing changes.
 */
public final class ServerUser {

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

  /** The command line that runs {@code command} as this user. */
  public List<String> wrap(List<String> command) {
    if (dropTo == null) {
      return command;
    }
    var wrapped = new ArrayList<String>(List.of("setpriv", "--reuid=" + dropTo, "--regid=" + dropTo, "--init-groups", "--"));
    wrapped.addAll(command);
    return wrapped;
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

package dev.arbor.storage.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** GNU tar as the independent judge of the archives we write: what it lists and unpacks is what a compute gets. */
public final class SystemTar {

  /** One line of {@code tar -tv --full-time}: {@code -rw------- 0/0  5 2024-05-01 12:00:00 path}. */
  public record Entry(String permissions, String owner, long size, String mtime, String path) {
    public boolean isDirectory() {
      return permissions.startsWith("d");
    }
  }

  private static final Pattern LINE = Pattern.compile("^(\\S{10}) (\\S+)\\s+(\\d+) (\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d) (.+)$");

  private SystemTar() {}

  public static List<Entry> list(Path archive) throws IOException {
    String out = run(List.of("tar", "--full-time", "-tvf", archive.toString()));
    List<Entry> entries = new ArrayList<>();
    for (String line : out.split("\n")) {
      if (line.isBlank()) {
        continue;
      }
      Matcher m = LINE.matcher(line);
      if (!m.matches()) {
        throw new AssertionError("unexpected line from tar -tv: " + line);
      }
      entries.add(new Entry(m.group(1), m.group(2), Long.parseLong(m.group(3)), m.group(4), m.group(5)));
    }
    return entries;
  }

  /** Unpacks with the archive's modes ({@code -p}), as a compute's agent does. */
  public static void extract(Path archive, Path dir) throws IOException {
    run(List.of("tar", "-xpf", archive.toString(), "-C", dir.toString()));
  }

  private static String run(List<String> command) throws IOException {
    Path errors = Files.createTempFile("arbor-tar-", ".err");
    try {
      Process p;
      try {
        var builder = new ProcessBuilder(command).redirectError(errors.toFile());
        builder.environment().put("TZ", "UTC");
        builder.environment().put("LC_ALL", "C");
        p = builder.start();
      } catch (IOException e) {
        throw new IOException("GNU tar is needed to check archives; install it with 'apt-get install tar'", e);
      }
      p.getOutputStream().close();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(2, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IOException(command + " did not finish within 2 minutes");
      }
      String err = Files.readString(errors);
      // tar also warns with exit 0 (e.g. after skipping a bad header): any message means a broken archive.
      if (p.exitValue() != 0 || !err.isBlank()) {
        throw new AssertionError(command + " exited " + p.exitValue() + ":\n" + err);
      }
      return out;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    } finally {
      Files.deleteIfExists(errors);
    }
  }
}

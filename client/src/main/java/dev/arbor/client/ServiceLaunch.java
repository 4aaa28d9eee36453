package dev.arbor.client;

import dev.arbor.api.compute.AgentCommand;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How a checkout runs one of Arbor's services as a JVM of its own (./arbor, the CLI, test fixtures): the
 * service's module writes its runtime classpath to {@code MODULE/target/classpath.txt} when it builds, and the
 * launcher runs the main class with {@code MODULE/target/classes} and that classpath. Nothing that launches a
 * service depends on the service's module, so the module graph stays what the architecture says (the CLI and
 * the operator talk to services over HTTP).
 *
 * <p>The checkout is the {@code arbor.repo.root} system property (./arbor and the build set it);
 * {@code arbor.classpath.MODULE} overrides one module's classpath.
 */
public enum ServiceLaunch {
  STORAGE_ENGINE("storage-engine", "dev.arbor.storage.StorageMain"),
  COMPUTE_AGENT("compute", AgentCommand.MAIN_CLASS),
  /** The CLI itself, for the daemons it runs (the local proxy: {@code arbor proxy-daemon}). */
  CLI("cli", "dev.arbor.cli.ArborCli");

  private final String module;
  private final String mainClass;

  ServiceLaunch(String module, String mainClass) {
    this.module = module;
    this.mainClass = mainClass;
  }

  public String module() {
    return module;
  }

  public String mainClass() {
    return mainClass;
  }

  /**
   * {@code java [jvmOptions] -cp CLASSPATH MAINCLASS [args]} with this JVM's {@code java}.
   *
   * @throws IllegalStateException when the module is not built, saying how to build it
   */
  public List<String> command(List<String> jvmOptions, List<String> args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.addAll(jvmOptions);
    cmd.add("-cp");
    cmd.add(classpath());
    cmd.add(mainClass);
    cmd.addAll(args);
    return cmd;
  }

  /** The module's classes and runtime dependencies. */
  public String classpath() {
    String override = System.getProperty("arbor.classpath." + module);
    if (override != null && !override.isBlank()) {
      return override;
    }
    String root = System.getProperty("arbor.repo.root");
    if (root == null || root.isBlank()) {
      throw new IllegalStateException("cannot find the " + module + " module to run " + mainClass
          + ": the system property arbor.repo.root (the checkout) is not set; run through ./arbor or ./mvnw");
    }
    Path target = Path.of(root, module, "target");
    Path file = target.resolve("classpath.txt");
    if (!Files.isRegularFile(file)) {
      throw new IllegalStateException(module + " is not built (no " + file + "): build it with ./mvnw -B package -pl "
          + module + " -am -DskipTests (./arbor does this by itself; a test run through ./mvnw builds it before the modules"
          + " that launch it)");
    }
    try {
      return target.resolve("classes") + java.io.File.pathSeparator + Files.readString(file).strip();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }
}

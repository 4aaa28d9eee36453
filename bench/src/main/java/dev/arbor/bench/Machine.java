package dev.arbor.bench;

import java.nio.file.Files;
import java.nio.file.Path;

/** One line describing the machine a benchmark ran on, for docs/benchmarks.md. */
final class Machine {
  private Machine() {}

  static String describe() {
    String cpu = "unknown CPU";
    try {
      cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
          .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse(cpu);
    } catch (Exception ignored) {
      // not Linux
    }
    long memGiB = Math.round(((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
        .getOperatingSystemMXBean()).getTotalMemorySize() / (1024.0 * 1024 * 1024));
    return Runtime.getRuntime().availableProcessors() + " cores (" + cpu + "), " + memGiB + " GiB";
  }
}

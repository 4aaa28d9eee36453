package dev.arbor.cli.command;

import dev.arbor.storage.json.Json;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine.Option;

/** {@code -o json} for commands that print data: JSON for scripts, text for people. */
public final class Output {
  @Option(names = {"-o", "--output"}, description = "Output format: text (default) or json.", defaultValue = "text")
  String format;

  boolean json() {
    if (!format.equals("text") && !format.equals("json")) {
      throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(new Object()),
          "-o must be text or json, not '" + format + "'");
    }
    return format.equals("json");
  }

  /** Prints {@code data} as JSON, or {@code text} for people. */
  void print(PrintStream out, Object data, String text) {
    if (json()) {
      out.println(new String(Json.write(data), StandardCharsets.UTF_8));
    } else {
      out.println(text);
    }
  }
}

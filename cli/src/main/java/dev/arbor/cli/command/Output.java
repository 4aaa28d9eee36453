package dev.arbor.cli.command;

import dev.arbor.client.Json;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code -o json} for commands that print data: JSON for scripts, text for people. */
public final class Output {
  @Option(names = {"-o", "--output"}, description = "Output format: text (default) or json.", defaultValue = "text")
  String format;

  @Spec(Spec.Target.MIXEE) CommandSpec command; // the command this is mixed into, for a usage error that names it

  boolean json() {
    if (!format.equals("text") && !format.equals("json")) {
      throw new picocli.CommandLine.ParameterException(command.commandLine(), "-o must be text or json, not '" + format + "'");
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

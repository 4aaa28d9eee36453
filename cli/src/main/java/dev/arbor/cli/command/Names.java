package dev.arbor.cli.command;

import dev.arbor.cli.CliException;
import java.util.regex.Pattern;

/** Names of projects and branches: they become directory names and Kubernetes object names later. */
final class Names {
  private static final Pattern NAME = Pattern.compile("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");

  private Names() {}

  static String check(String kind, String name) {
    if (!NAME.matcher(name).matches()) {
      throw new CliException("'" + name + "' is not a valid " + kind + " name: use lowercase letters, digits and '-', "
          + "starting and ending with a letter or digit, at most 63 characters (e.g. dev-1)");
    }
    return name;
  }
}

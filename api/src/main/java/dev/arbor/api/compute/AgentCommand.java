package dev.arbor.api.compute;

/**
 * How a compute agent is started: its main class on the compute classpath, with the spec in a file
 * ({@code --spec FILE}) or, in a pod, as JSON in the environment variable {@value #SPEC_ENV}. Callers name the
 * class by this string, so that starting an agent does not put the agent's code on their compile classpath.
 */
public final class AgentCommand {
  private AgentCommand() {}

  public static final String MAIN_CLASS = "dev.arbor.compute.agent.ComputeAgent";
  public static final String SPEC_OPTION = "--spec";
  public static final String SPEC_ENV = "ARBOR_COMPUTE_SPEC";
}

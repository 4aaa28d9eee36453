package dev.arbor.cli.command;

import dev.arbor.cli.home.LocalConfig;
import dev.arbor.cli.home.LocalState;
import dev.arbor.cli.process.LocalStorage;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "up", description = "Start the storage engine, create project 'default' with branch 'main' if absent, "
    + "start an endpoint for main and print its connection URI. When already up, prints the status and the URI.")
public final class UpCommand implements Callable<Integer> {
  static final String DEFAULT_PROJECT = "default";

  @Option(names = "--safekeepers", paramLabel = "N", description = "Safekeepers to run (default 3; fixed at the first up).") Integer safekeepers;
  @Option(names = "--object-store", paramLabel = "s3://BUCKET/PREFIX|DIR", description = "Where the data lives (default: "
      + "objects/ in ARBOR_HOME; fixed at the first up). S3 takes AWS_ENDPOINT_URL, AWS_REGION and the AWS credential chain "
      + "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles, web identity).") String objectStore;
  @Mixin Output output;

  @Override
  public Integer call() {
    var inst = new Installation();
    var storage = new LocalStorage(inst.home);
    LocalConfig config = storage.configure(safekeepers, objectStore);
    storage.start(config, System.err);

    LocalState.Project project = inst.state().project(DEFAULT_PROJECT).orElseGet(() -> {
      System.err.print("creating project default (initdb) ... ");
      long t0 = System.nanoTime();
      var p = ProjectCommand.Create.create(inst, DEFAULT_PROJECT, 15, "main");
      System.err.printf("ok (%.1f s)%n", (System.nanoTime() - t0) / 1e9);
      return p;
    });
    String main = project.defaultBranch();
    Endpoints.EndpointInfo endpoint;
    if (Endpoints.running(inst, DEFAULT_PROJECT).contains(main)) {
      LocalProxy.ensureRunning(inst);
      StatusCommand.print(inst, System.err);
      endpoint = Endpoints.info(inst, DEFAULT_PROJECT, main).orElseThrow();
    } else {
      endpoint = Endpoints.start(inst, DEFAULT_PROJECT, main, false, null, Duration.ZERO, System.err);
    }
    String uri = Endpoints.uri(inst, endpoint);
    output.print(System.out, Map.of("project", DEFAULT_PROJECT, "branch", main, "uri", uri), uri);
    return 0;
  }
}

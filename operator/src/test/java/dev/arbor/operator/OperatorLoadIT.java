package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.testing.AgentProcess;
import dev.arbor.crds.v1alpha1.ArborStatus;
import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.BranchSpec;
import dev.arbor.crds.v1alpha1.BranchStatus;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointMode;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import dev.arbor.crds.v1alpha1.EndpointSpec;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.crds.v1alpha1.ProjectStatus;
import dev.arbor.operator.kube.Labels;
import dev.arbor.operator.storage.BlackHole;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceQuotaBuilder;
import io.fabric8.kubernetes.api.model.ResourceQuotaStatusBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The operator under load and in outages (review items 5, 15 and 19): how often it reconciles and writes statuses
 * while computes write, what its conditions say while the storage engine is down, and whether a storage engine
 * that never answers leaves it threads for Endpoints. The class's operator watches only this class's namespaces;
 * the black-hole test runs a second operator of its own on another namespace and Lease.
 */
class OperatorLoadIT extends OperatorTestBase {
  private static final String LOAD = "load";
  private static final String OUTAGE = "outage-ready";
  private static final String BLACK_HOLE = "black-hole";
  private static final String REFUSED = "refused";
  private static final String SIBLINGS = "siblings";
  private static final Pattern METRIC = Pattern.compile("^reconciliations_started_total\\{([^}]*)}\\s+(\\S+)$", Pattern.MULTILINE);

  @BeforeAll
  static void watchOnlyThisClassesNamespaces() throws IOException {
    operator.close();
    operator = startOperator(Map.of("QUARKUS_OPERATOR_SDK_NAMESPACES", LOAD + "," + OUTAGE + "," + SIBLINGS));
  }

  /**
   * A Project, a Branch of its root, and a compute on each writing for 60 s: the operator reconciles each Branch a
   * few times a minute (its one-minute re-read), not at the rate of commits, and their statuses are hardly
   * written. A third Branch asks for an LSN beyond the root's head: it waits (Reconciling, not Stalled), and its
   * status stays as it is while the root is idle and while it writes.
   */
  @Test
  void writingComputesCauseAFewReconcilesPerMinuteNotAStorm() throws Exception {
    readyProjectWithDatabase(LOAD, "ld");
    branch(LOAD, "ld-dev", "ld", null, false);
    awaitBranchReady(LOAD, "ld-dev");
    var ahead = new BranchSpec();
    ahead.setProjectRef("ld");
    ahead.setParentLsn("F/0");
    var aheadBranch = new Branch();
    aheadBranch.getMetadata().setName("ld-ahead");
    aheadBranch.getMetadata().setNamespace(LOAD);
    aheadBranch.setSpec(ahead);
    client().resource(aheadBranch).create();
    awaitOnlyTrue(Branch.class, LOAD, "ld-ahead", Condition.RECONCILING, "WaitingForParentLsn", "spec.parentLsn F/0", "ld-main");

    endpoint(LOAD, "ld-main-rw", "ld-main");
    endpoint(LOAD, "ld-dev-rw", "ld-dev");
    for (String sts : List.of("ld-main-rw", "ld-dev-rw")) {
      await().atMost(WAIT).until(() -> client().apps().statefulSets().inNamespace(LOAD).withName(sts).get() != null);
    }

    Map<String, AtomicInteger> writes = new ConcurrentHashMap<>();
    Watch watch = countWrites(Branch.class, LOAD, writes);
    try (var pods = TempDirectory.create("arbor-load-pods-"); watch) {
      List<AgentProcess> agents = new ArrayList<>();
      List<Connection> connections = new ArrayList<>();
      ExecutorService writers = Executors.newFixedThreadPool(2);
      try {
        for (String ep : List.of("ld-main-rw", "ld-dev-rw")) {
          LocalPod pod = LocalPod.of(client(), LOAD, ep, pods.resolve(ep + "-0"));
          AgentProcess agent = pod.start();
          agents.add(agent);
          agent.awaitRunning();
          Connection c = connect(pod, secretData(LOAD, ep + "-connection"));
          connections.add(c);
          try (Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS load_" + ep.replace('-', '_') + " (n int, payload text)");
          }
        }
        String aheadVersion = get(Branch.class, LOAD, "ld-ahead").getMetadata().getResourceVersion();
        Map<String, Double> before = reconcilesStarted(operator, LOAD);
        assertThat(before).as("reconcile counts before the load").containsKeys("branch", "project", "endpoint");
        writes.clear();
        Instant start = Instant.now();
        Instant end = start.plus(Duration.ofSeconds(60));
        List<Future<Integer>> inserted = new ArrayList<>();
        for (int i = 0; i < connections.size(); i++) {
          Connection c = connections.get(i);
          String table = "load_" + List.of("ld-main-rw", "ld-dev-rw").get(i).replace('-', '_');
          inserted.add(writers.submit(() -> {
            int n = 0;
            try (Statement st = c.createStatement()) {
              while (Instant.now().isBefore(end)) {
                st.execute("INSERT INTO " + table + " SELECT g, repeat('x', 200) FROM generate_series(1, 50) g");
                n++;
              }
            }
            return n;
          }));
        }
        List<Integer> statements = new ArrayList<>();
        for (Future<Integer> f : inserted) {
          statements.add(f.get());
        }
        double minutes = Duration.between(start, Instant.now()).toMillis() / 60000.0;
        Map<String, Double> after = reconcilesStarted(operator, LOAD);
        double branchRate = (after.getOrDefault("branch", 0.0) - before.getOrDefault("branch", 0.0)) / 3 / minutes;
        double projectRate = (after.getOrDefault("project", 0.0) - before.getOrDefault("project", 0.0)) / minutes;
        double endpointRate = (after.getOrDefault("endpoint", 0.0) - before.getOrDefault("endpoint", 0.0)) / 2 / minutes;
        System.out.printf("event=load_figures minutes=%.2f insert_statements=%s reconciles_per_branch_per_minute=%.1f "
                + "project_reconciles_per_minute=%.1f reconciles_per_endpoint_per_minute=%.1f branch_writes=%s before=%s after=%s%n",
            minutes, statements, branchRate, projectRate, endpointRate, writes, before, after);

        assertThat(statements).as("both computes wrote throughout").allMatch(n -> n > 20);
        assertThat(branchRate).as("Branch reconciles per Branch per minute").isLessThanOrEqualTo(5);
        assertThat(projectRate).as("Project reconciles per minute").isLessThanOrEqualTo(5);
        assertThat(endpointRate).as("Endpoint reconciles per Endpoint per minute").isLessThanOrEqualTo(5);
        assertThat(writes.getOrDefault("ld-main", new AtomicInteger()).get()).as("status writes of ld-main").isLessThanOrEqualTo(2);
        assertThat(writes.getOrDefault("ld-dev", new AtomicInteger()).get()).as("status writes of ld-dev").isLessThanOrEqualTo(2);
        assertThat(writes.get("ld-ahead")).as("writes of ld-ahead, waiting on a head that moves").isNull();
        assertThat(get(Branch.class, LOAD, "ld-ahead").getMetadata().getResourceVersion()).isEqualTo(aheadVersion);
      } finally {
        writers.shutdownNow();
        for (Connection c : connections) {
          c.close();
        }
        for (AgentProcess a : agents) {
          a.close();
        }
      }
    }
  }

  /**
   * A read-write and two read-only Endpoints of one Branch, each with a suspend timeout and a running compute busy
   * for 60 s: each is reconciled about once per look at its activity, not each time a sibling's status changes.
   * Every look used to write {@code status.lastActive}, which woke the siblings (the writer election watches
   * them), whose own writes woke it back.
   */
  @Test
  void activeEndpointsOfOneBranchDoNotWakeEachOther() throws Exception {
    readyProjectWithDatabase(SIBLINGS, "sb");
    awaitBranchReady(SIBLINGS, "sb-main");
    List<String> names = List.of("sb-rw", "sb-ro1", "sb-ro2");
    try (var volumes = TempDirectory.create("arbor-siblings-pods-")) {
      List<AgentProcess> agents = new ArrayList<>();
      List<Connection> connections = new ArrayList<>();
      ExecutorService clients = Executors.newFixedThreadPool(names.size());
      try {
        String lsn = null;
        for (String name : names) {
          // The snapshots are taken where the writer has made its roles, so that their app role can log in.
          siblingEndpoint(name, lsn);
          awaitStatefulSet(SIBLINGS, name);
          LocalPod pod = LocalPod.of(client(), SIBLINGS, name, volumes.resolve(name));
          AgentProcess agent = pod.start();
          agents.add(agent);
          agent.awaitRunning();
          Connection c = connect(pod, secretData(SIBLINGS, name + "-connection"));
          connections.add(c);
          if (lsn == null) {
            try (Statement st = c.createStatement(); var rs = st.executeQuery("SELECT pg_current_wal_lsn()")) {
              rs.next();
              lsn = rs.getString(1);
            }
          }
          OperatorEndpointIT.runPod(SIBLINGS, name, pod);
        }
        for (String name : names) {
          await().atMost(WAIT).until(() -> get(Endpoint.class, SIBLINGS, name).getStatus().getPhase() == EndpointPhase.Running);
        }

        Map<String, AtomicInteger> writes = new ConcurrentHashMap<>();
        try (Watch watch = countWrites(Endpoint.class, SIBLINGS, writes)) {
          Map<String, Double> before = reconcilesStarted(operator, SIBLINGS);
          assertThat(before).as("reconcile counts before the activity").containsKeys("branch", "project", "endpoint");
          Instant start = Instant.now();
          Instant end = start.plus(Duration.ofSeconds(60));
          List<Future<Integer>> queries = new ArrayList<>();
          for (Connection c : connections) {
            queries.add(clients.submit(() -> {
              int n = 0;
              try (Statement st = c.createStatement()) {
                while (Instant.now().isBefore(end)) {
                  st.execute("SELECT count(*) FROM pg_class");
                  n++;
                  Thread.sleep(200);
                }
              }
              return n;
            }));
          }
          List<Integer> statements = new ArrayList<>();
          for (Future<Integer> f : queries) {
            statements.add(f.get());
          }
          double minutes = Duration.between(start, Instant.now()).toMillis() / 60000.0;
          Map<String, Double> after = reconcilesStarted(operator, SIBLINGS);
          double endpointRate = (after.get("endpoint") - before.get("endpoint")) / names.size() / minutes;
          System.out.printf("event=sibling_figures minutes=%.2f statements=%s reconciles_per_endpoint_per_minute=%.1f "
              + "endpoint_writes=%s before=%s after=%s%n", minutes, statements, endpointRate, writes, before, after);

          assertThat(statements).as("every compute was busy throughout").allMatch(n -> n > 100);
          assertThat(endpointRate).as("Endpoint reconciles per Endpoint per minute").isLessThanOrEqualTo(5);
          for (String name : names) {
            assertThat(writes.getOrDefault(name, new AtomicInteger()).get()).as("status writes of %s in a minute", name)
                .isLessThanOrEqualTo(3);
            assertThat(get(Endpoint.class, SIBLINGS, name).getStatus().getPhase()).as(name).isEqualTo(EndpointPhase.Running);
          }
        }
      } finally {
        clients.shutdownNow();
        for (Connection c : connections) {
          c.close();
        }
        for (AgentProcess a : agents) {
          a.close();
        }
      }
    }
  }

  /** Counts the writes (MODIFIED events) of each object of a kind in the namespace while the watch is open. */
  private static <T extends HasMetadata> Watch countWrites(Class<T> kind, String ns, Map<String, AtomicInteger> writes) {
    return client().resources(kind).inNamespace(ns).watch(new Watcher<>() {
      @Override
      public void eventReceived(Action action, T o) {
        if (action == Action.MODIFIED) {
          writes.computeIfAbsent(o.getMetadata().getName(), n -> new AtomicInteger()).incrementAndGet();
        }
      }

      @Override
      public void onClose(WatcherException cause) {
      }
    });
  }

  /** A ReadWrite Endpoint of sb-main, or with an LSN a ReadOnly one at it; suspend timeout 1m. */
  private static void siblingEndpoint(String name, String lsn) {
    var spec = new EndpointSpec();
    spec.setBranchRef("sb-main");
    spec.setSuspendTimeout("1m");
    if (lsn != null) {
      spec.setMode(EndpointMode.ReadOnly);
      spec.setLsn(lsn);
    }
    var e = new Endpoint();
    e.getMetadata().setName(name);
    e.getMetadata().setNamespace(SIBLINGS);
    e.setSpec(spec);
    client().resource(e).create();
  }

  /**
   * The pageserver is down for longer than a Branch's one-minute re-read of the storage engine: the Ready Branch
   * stays Ready (its computes keep serving) while Reconciling says what is retried, and that clears once the
   * pageserver is back.
   */
  @Test
  void aReadyBranchStaysReadyWhileTheStorageEngineIsDown() throws Exception {
    namespace(OUTAGE);
    project(OUTAGE, "or", List.of());
    awaitProjectReady(OUTAGE, "or");
    awaitBranchReady(OUTAGE, "or-main");
    List<String> notReady = new CopyOnWriteArrayList<>();
    storage.killPageserver();
    try {
      Instant down = Instant.now();
      await().atMost(Duration.ofSeconds(100)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
        Branch b = get(Branch.class, OUTAGE, "or-main");
        if (!isTrue(b, Condition.READY)) {
          notReady.add(Duration.between(down, Instant.now()).toSeconds() + "s: " + b.getStatus().getConditions());
        }
        assertThat(condition(b, Condition.RECONCILING)).isNotNull().satisfies(c -> {
          assertThat(c.getStatus()).isEqualTo("True");
          assertThat(c.getReason()).isEqualTo("StorageEngineUnavailable");
          assertThat(c.getMessage()).contains(storage.pageserverManagementUrl());
        });
      });
      System.out.printf("event=outage_seen after_seconds=%d%n", Duration.between(down, Instant.now()).toSeconds());
      Instant until = Instant.now().plusSeconds(10);
      while (Instant.now().isBefore(until) || Duration.between(down, Instant.now()).toSeconds() < 70) {
        Branch b = get(Branch.class, OUTAGE, "or-main");
        if (!isTrue(b, Condition.READY)) {
          notReady.add(Duration.between(down, Instant.now()).toSeconds() + "s: " + b.getStatus().getConditions());
        }
        Thread.sleep(1000);
      }
      assertThat(notReady).as("moments or-main was not Ready during the outage").isEmpty();
      assertThat(isTrue(get(Project.class, OUTAGE, "or"), Condition.READY)).as("Project or Ready").isTrue();
    } finally {
      storage.startPageserver();
    }
    await().atMost(WAIT).untilAsserted(() -> {
      Branch b = get(Branch.class, OUTAGE, "or-main");
      assertThat(isTrue(b, Condition.READY)).isTrue();
      assertThat(condition(b, Condition.RECONCILING).getStatus()).isEqualTo("False");
    });
  }

  /**
   * A write the Kubernetes API refuses (403 here: a ResourceQuota of no Secrets forbids the Project's
   * role-passwords Secret) needs a person: Stalled KubernetesApiRefused naming
   * the Secret and quoting the API, one log line and no stack trace. It is still retried, so removing the quota is
   * enough for the Project to become Ready.
   */
  @Test
  void aWriteTheKubernetesApiRefusesIsStalledAndRetried() throws IOException {
    namespace(REFUSED);
    client().resourceQuotas().inNamespace(REFUSED).resource(new ResourceQuotaBuilder().withNewMetadata().withName("no-secrets")
        .endMetadata().withNewSpec().addToHard("count/secrets", new Quantity("0")).endSpec().build()).create();
    // Admission checks the usage in the quota's status, which the controller-manager would compute.
    client().resourceQuotas().inNamespace(REFUSED).withName("no-secrets").editStatus(q -> {
      q.setStatus(new ResourceQuotaStatusBuilder().addToHard("count/secrets", new Quantity("0"))
          .addToUsed("count/secrets", new Quantity("0")).build());
      return q;
    });
    project(REFUSED, "rf", List.of(loginRole("app")));
    // An operator of its own: the class's operator log must show no refusal, which would be one of the chart's RBAC.
    Map<String, String> env = new HashMap<>(operatorEnvironment());
    env.put("QUARKUS_OPERATOR_SDK_NAMESPACES", REFUSED);
    env.put("ARBOR_LEADER_ELECTION_LEASE_NAME", "arbor-operator-refused");
    try (OperatorProcess refusing = OperatorProcess.start(env, work.resolve("operator-refused.log"), FreePort.pick())) {
      awaitOnlyTrue(Project.class, REFUSED, "rf", Condition.STALLED, "KubernetesApiRefused",
          "the Kubernetes API refused secrets rf-role-passwords (HTTP 403)", "exceeded quota: no-secrets");
      assertThat(refusing.logText().lines().filter(l -> l.contains("event=kubernetes_api_refused") && l.contains("name=rf")))
          .as("log lines of the refusal").isNotEmpty();
      assertThat(refusing.logText()).as("no stack trace for it").doesNotContain("KubernetesClientException: Failure executing");

      client().resourceQuotas().inNamespace(REFUSED).withName("no-secrets").delete();
      awaitProjectReady(REFUSED, "rf");
    }
  }

  /**
   * A pageserver that accepts connections and never answers (a partition that drops packets) and 30 Branches that
   * need it: an Endpoint's suspend and resume, which need no storage engine, still take effect within seconds.
   * The operator runs with 20 reconcile threads, fewer than the Branches (as 60 Branches would against the
   * default 50); its objects' statuses are set by hand, as the storage engine would have made them.
   */
  @Test
  void aStorageEngineThatNeverAnswersLeavesThreadsForEndpoints() throws Exception {
    namespace(BLACK_HOLE);
    try (BlackHole hole = new BlackHole()) {
      Project project = project(BLACK_HOLE, "bh", List.of(loginRole("app")));
      client().resources(Project.class).inNamespace(BLACK_HOLE).withName("bh").editStatus(p -> {
        var s = new ProjectStatus();
        s.setTenantId("0123456789abcdef0123456789abcdef");
        s.setPostgresVersion(15);
        s.setObservedGeneration(p.getMetadata().getGeneration());
        s.setConditions(readyConditions(p.getMetadata().getGeneration()));
        p.setStatus(s);
        return p;
      });
      var rootSpec = new BranchSpec();
      rootSpec.setProjectRef("bh");
      var root = new Branch();
      root.getMetadata().setName("bh-main");
      root.getMetadata().setNamespace(BLACK_HOLE);
      root.getMetadata().setOwnerReferences(List.of(new OwnerReferenceBuilder().withApiVersion("arbor.dev/v1alpha1").withKind("Project")
          .withName("bh").withUid(project.getMetadata().getUid()).withController(true).build()));
      root.setSpec(rootSpec);
      client().resource(root).create();
      client().resources(Branch.class).inNamespace(BLACK_HOLE).withName("bh-main").editStatus(b -> {
        var s = new BranchStatus();
        s.setTimelineId("fedcba9876543210fedcba9876543210");
        s.setLsn("0/1000000");
        s.setObservedGeneration(b.getMetadata().getGeneration());
        s.setConditions(readyConditions(b.getMetadata().getGeneration()));
        b.setStatus(s);
        return b;
      });
      client().resource(new SecretBuilder().withNewMetadata().withName("bh-role-passwords").withNamespace(BLACK_HOLE)
          .withLabels(Labels.project("bh")).endMetadata()
          .withData(Map.of("app", Base64.getEncoder().encodeToString("pw".getBytes(StandardCharsets.UTF_8)))).build()).create();
      endpoint(BLACK_HOLE, "bh-rw", "bh-main");
      for (int i = 0; i < 30; i++) {
        branch(BLACK_HOLE, String.format("bh-b%02d", i), "bh", null, false);
      }

      Map<String, String> env = new HashMap<>(operatorEnvironment());
      env.put("ARBOR_STORAGE_ENGINE_PAGESERVER_URL", hole.url());
      env.put("ARBOR_STORAGE_ENGINE_PAGESERVER_MANAGEMENT_URL", hole.url());
      env.put("QUARKUS_OPERATOR_SDK_NAMESPACES", BLACK_HOLE);
      env.put("QUARKUS_OPERATOR_SDK_CONCURRENT_RECONCILIATION_THREADS", "20");
      env.put("ARBOR_LEADER_ELECTION_LEASE_NAME", "arbor-operator-black-hole");
      try (OperatorProcess second = OperatorProcess.start(env, work.resolve("operator-black-hole.log"), FreePort.pick())) {
        try {
          var sts = client().apps().statefulSets().inNamespace(BLACK_HOLE).withName("bh-rw");
          await().atMost(WAIT).until(() -> sts.get() != null && sts.get().getSpec().getReplicas() == 1);
          // Long enough for every Branch to have tried the storage engine and be retrying.
          await().atMost(WAIT).until(() -> hole.connections() >= 10);
          Thread.sleep(15_000);
          Duration suspend = toggle(sts, true, 0);
          Duration resume = toggle(sts, false, 1);
          System.out.printf("event=black_hole_figures connections=%d suspend_ms=%d resume_ms=%d%n", hole.connections(), suspend.toMillis(),
              resume.toMillis());
          assertThat(suspend).as("time until the suspended Endpoint's StatefulSet had 0 replicas").isLessThan(Duration.ofSeconds(10));
          assertThat(resume).as("time until the resumed Endpoint's StatefulSet had 1 replica").isLessThan(Duration.ofSeconds(10));
        } finally {
          System.out.println("--- black-hole operator log (tail) ---\n" + tail(second.logText(), 60));
        }
      }
    }
  }

  private static Duration toggle(io.fabric8.kubernetes.client.dsl.RollableScalableResource<StatefulSet> sts, boolean suspended,
      int replicas) {
    Instant start = Instant.now();
    client().resources(Endpoint.class).inNamespace(BLACK_HOLE).withName("bh-rw").edit(e -> {
      e.getSpec().setSuspended(suspended);
      return e;
    });
    await().atMost(WAIT).pollInterval(Duration.ofMillis(100)).until(() -> sts.get().getSpec().getReplicas() == replicas);
    return Duration.between(start, Instant.now());
  }

  /** Waits until {@code type} is the one kstatus condition that is True, with this reason and a message with these parts. */
  private static <T extends CustomResource<?, ? extends ArborStatus>> void awaitOnlyTrue(Class<T> kind, String ns, String name, String type,
      String reason, String... message) {
    await().atMost(WAIT).untilAsserted(() -> {
      T r = get(kind, ns, name);
      assertThat(condition(r, type)).as("%s of %s", type, name).isNotNull().satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getReason()).isEqualTo(reason);
        assertThat(c.getMessage()).contains(message);
      });
      for (String other : List.of(Condition.READY, Condition.RECONCILING, Condition.STALLED)) {
        if (!other.equals(type)) {
          assertThat(condition(r, other).getStatus()).as("%s of %s", other, name).isEqualTo("False");
        }
      }
    });
  }

  private static List<Condition> readyConditions(long generation) {
    String now = Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString();
    return List.of(new Condition(Condition.READY, "True", "Ready", "set by the test", now, generation),
        new Condition(Condition.RECONCILING, "False", "Ready", "", now, generation),
        new Condition(Condition.STALLED, "False", "Ready", "", now, generation));
  }

  /** JOSDK's reconciliations_started_total of one namespace, summed per controller. */
  private static Map<String, Double> reconcilesStarted(OperatorProcess op, String namespace) throws IOException, InterruptedException {
    Map<String, Double> out = new HashMap<>();
    Matcher m = METRIC.matcher(op.get("/q/metrics"));
    while (m.find()) {
      Map<String, String> labels = new HashMap<>();
      for (String pair : m.group(1).split(",")) {
        int eq = pair.indexOf('=');
        if (eq > 0) {
          labels.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim().replace("\"", ""));
        }
      }
      if (namespace.equals(labels.get("namespace"))) {
        out.merge(labels.get("controller_name"), Double.parseDouble(m.group(2)), Double::sum);
      }
    }
    return out;
  }

  private static String tail(String text, int lines) {
    List<String> all = text.lines().toList();
    return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
  }
}

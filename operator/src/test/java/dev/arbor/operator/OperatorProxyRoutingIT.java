package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Endpoint;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Routing through arbor-proxy as the operator sets it up: every Endpoint's Service has no selector and sends its port to
 * the Endpoint's {@code status.proxyPort}, and the operator's EndpointSlice lists the proxy pods (label-selected in the
 * operator's namespace, {@value ChartRbac#NAMESPACE} here). No kubelet runs here, so the proxy pods are Pod objects
 * whose status (IP, Ready) this test writes as a kubelet would; no proxy process is needed for what the operator does.
 */
class OperatorProxyRoutingIT extends OperatorTestBase {
  private static final String PROXY_NAMESPACE = ChartRbac.NAMESPACE;
  private static final Map<String, String> PROXY_LABELS = Map.of("app.kubernetes.io/name", "arbor", "app.kubernetes.io/instance",
      "arbor", "app.kubernetes.io/component", "proxy");

  @Test
  void theServiceSendsItsPortToTheProxyPortOfTheReadyProxyPodsWhichTheSliceFollows() {
    String ns = "routing";
    OperatorEndpointIT.projectIn(ns, "rt");
    endpoint(ns, "rt-rw", "rt-main");
    Endpoint e = awaitProxyPort(ns, "rt-rw");
    int proxyPort = e.getStatus().getProxyPort();
    assertThat(proxyPort).isBetween(20000, 29999);

    // The Service: same name, port and Secret as ever; no selector; its target is the proxy port.
    Service service = client().services().inNamespace(ns).withName("rt-rw").get();
    assertOwnedAndLabelled(service, e);
    assertThat(service.getSpec().getSelector()).isNullOrEmpty();
    assertThat(service.getSpec().getPorts()).singleElement().satisfies(p -> {
      assertThat(p.getName()).isEqualTo("postgres");
      assertThat(p.getPort()).isEqualTo(5432);
      assertThat(p.getTargetPort()).isEqualTo(new IntOrString(proxyPort));
    });
    assertThat(e.getStatus().getHost()).isEqualTo("rt-rw.routing.svc");
    assertThat(e.getStatus().getPort()).isEqualTo(5432);
    assertThat(secretData(ns, "rt-rw-connection")).containsEntry("host", "rt-rw.routing.svc").containsEntry("port", "5432");

    // The compute is ready when its agent says it runs, not when PostgreSQL's port opens.
    Probe readiness = awaitStatefulSet(ns, "rt-rw").getSpec().getTemplate().getSpec().getContainers().getFirst().getReadinessProbe();
    assertThat(readiness.getTcpSocket()).isNull();
    assertThat(readiness.getHttpGet().getPath()).isEqualTo("/ready");
    assertThat(readiness.getHttpGet().getPort()).isEqualTo(new IntOrString("http"));

    // No proxy pod yet: an empty slice, and the Endpoint says why clients cannot connect.
    EndpointSlice slice = awaitSlice(ns, "rt-rw", Map.of());
    assertOwnedAndLabelled(slice, e);
    assertThat(slice.getMetadata().getLabels()).containsEntry("kubernetes.io/service-name", "rt-rw")
        .containsEntry("endpointslice.kubernetes.io/managed-by", "arbor-operator");
    assertThat(slice.getAddressType()).isEqualTo("IPv4");
    assertThat(slice.getPorts()).singleElement().satisfies(p -> {
      assertThat(p.getName()).isEqualTo("postgres");
      assertThat(p.getPort()).isEqualTo(proxyPort);
      assertThat(p.getProtocol()).isEqualTo("TCP");
    });
    OperatorEndpointIT.reportRolledOut(ns, "rt-rw");
    await().atMost(WAIT).untilAsserted(() -> assertThat(condition(get(Endpoint.class, ns, "rt-rw"), Condition.READY))
        .extracting(Condition::getStatus, Condition::getReason, Condition::getMessage)
        .containsExactly("True", "Running", "read-write compute of Branch rt-main is running; connect with Secret rt-rw-connection "
            + "(no arbor-proxy pod is ready in namespace default, so clients cannot connect through the Service yet)"));

    List<String> pods = new ArrayList<>();
    try {
      pods.add(proxyPod("arbor-proxy-a", "10.244.0.11", true));
      pods.add(proxyPod("arbor-proxy-b", "10.244.0.12", true));
      awaitSlice(ns, "rt-rw", Map.of("10.244.0.11", true, "10.244.0.12", true));
      await().atMost(WAIT).untilAsserted(() -> assertThat(condition(get(Endpoint.class, ns, "rt-rw"), Condition.READY).getMessage())
          .isEqualTo("read-write compute of Branch rt-main is running; connect with Secret rt-rw-connection"));
      // A pod of another component in the namespace is not a proxy.
      pods.add(pod("arbor-operator-x", Map.of("app.kubernetes.io/name", "arbor", "app.kubernetes.io/component", "operator"),
          "10.244.0.13", true));

      setProxyPodStatus("arbor-proxy-b", "10.244.0.12", false);
      awaitSlice(ns, "rt-rw", Map.of("10.244.0.11", true, "10.244.0.12", false));
      client().pods().inNamespace(PROXY_NAMESPACE).withName("arbor-proxy-a").withGracePeriod(0).delete();
      awaitSlice(ns, "rt-rw", Map.of("10.244.0.12", false));
      setProxyPodStatus("arbor-proxy-b", "10.244.0.12", true);
      awaitSlice(ns, "rt-rw", Map.of("10.244.0.12", true));
      assertThat(get(Endpoint.class, ns, "rt-rw").getStatus().getProxyPort()).as("the proxy port never changes").isEqualTo(proxyPort);
    } finally {
      pods.forEach(p -> client().pods().inNamespace(PROXY_NAMESPACE).withName(p).withGracePeriod(0).delete());
    }
    awaitSlice(ns, "rt-rw", Map.of());
  }

  @Test
  void proxyPortsAreUniqueAndStayAcrossReconcilesRestartsAndALostStatus() throws Exception {
    String ns = "ports";
    OperatorEndpointIT.projectIn(ns, "pt");
    List<String> names = List.of("pt-a", "pt-b", "pt-c", "pt-d");
    for (String name : names) {
      branch(ns, name, "pt", "pt-main", false);
    }
    for (String name : names) {
      endpoint(ns, name + "-rw", name);
    }
    Map<String, Integer> ports = new LinkedHashMap<>();
    for (String name : names) {
      ports.put(name + "-rw", awaitProxyPort(ns, name + "-rw").getStatus().getProxyPort());
    }
    assertThat(new HashSet<>(ports.values())).as("proxy ports of %s", ports).hasSize(names.size());
    // Unique over every Endpoint the operator sees, the other tests' ones included.
    List<Integer> all = client().resources(Endpoint.class).inAnyNamespace().list().getItems().stream()
        .filter(x -> x.getStatus() != null && x.getStatus().getProxyPort() != null).map(x -> x.getStatus().getProxyPort()).toList();
    assertThat(all).doesNotHaveDuplicates();

    // A spec change reconciles them again; nothing moves.
    client().resources(Endpoint.class).inNamespace(ns).withName("pt-a-rw")
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"postgresParameters\":{\"work_mem\":\"8MB\"}}}");
    await().atMost(WAIT).until(() -> {
      Endpoint a = get(Endpoint.class, ns, "pt-a-rw");
      return a.getStatus().getObservedGeneration().equals(a.getMetadata().getGeneration());
    });

    // The operator restarts, and one Endpoint has lost the port from its status meanwhile: it takes it back from its Service.
    operator.close();
    client().resources(Endpoint.class).inNamespace(ns).withName("pt-b-rw").subresource("status")
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"status\":{\"proxyPort\":null}}");
    assertThat(get(Endpoint.class, ns, "pt-b-rw").getStatus().getProxyPort()).isNull();
    operator = startOperator();
    // A new Endpoint after the restart takes none of theirs.
    branch(ns, "pt-e", "pt", "pt-main", false);
    endpoint(ns, "pt-e-rw", "pt-e");
    int fresh = awaitProxyPort(ns, "pt-e-rw").getStatus().getProxyPort();
    await().atMost(WAIT).untilAsserted(() -> {
      for (var entry : ports.entrySet()) {
        Endpoint x = get(Endpoint.class, ns, entry.getKey());
        assertThat(x.getStatus().getProxyPort()).as("proxy port of %s", entry.getKey()).isEqualTo(entry.getValue());
      }
    });
    assertThat(ports.values()).doesNotContain(fresh);
  }

  @Test
  void anExhaustedPortRangeStallsTheEndpointAndSaysHowToFixIt() throws Exception {
    String ns = "exhausted";
    OperatorEndpointIT.projectIn(ns, "ex");
    branch(ns, "ex-b", "ex", "ex-main", false);
    branch(ns, "ex-c", "ex", "ex-main", false);
    operator.close();
    try {
      operator = startOperator(Map.of("ARBOR_PROXY_PORT_RANGE", "21000-21001"));
      endpoint(ns, "ex-a-rw", "ex-main");
      endpoint(ns, "ex-b-rw", "ex-b");
      Set<Integer> given = Set.of(awaitProxyPort(ns, "ex-a-rw").getStatus().getProxyPort(),
          awaitProxyPort(ns, "ex-b-rw").getStatus().getProxyPort());
      assertThat(given).containsExactlyInAnyOrder(21000, 21001);
      endpoint(ns, "ex-c-rw", "ex-c");
      await().atMost(WAIT).untilAsserted(() -> {
        Endpoint c = get(Endpoint.class, ns, "ex-c-rw");
        assertThat(condition(c, Condition.STALLED)).isNotNull().extracting(Condition::getStatus, Condition::getReason, Condition::getMessage)
            .containsExactly("True", "ProxyPortsExhausted", "every port of arbor.proxy.port-range 21000-21001 (2 ports) is held by "
                + "another Endpoint, so this one gets no proxy port and no Service; widen the operator's arbor.proxy.port-range, "
                + "or delete Endpoints that are no longer used");
        assertThat(c.getStatus().getProxyPort()).isNull();
      });
      assertThat(client().services().inNamespace(ns).withName("ex-c-rw").get()).isNull();
    } finally {
      operator.close();
      operator = startOperator();
    }
    // With the usual range, it gets one.
    assertThat(awaitProxyPort(ns, "ex-c-rw").getStatus().getProxyPort()).isBetween(20000, 29999);
  }

  private static Endpoint awaitProxyPort(String ns, String name) {
    await().atMost(WAIT).pollInterval(Duration.ofMillis(300)).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, name);
      assertThat(e.getStatus()).as("status of Endpoint %s", name).isNotNull();
      assertThat(e.getStatus().getProxyPort()).as("proxy port of Endpoint %s; conditions %s", name, e.getStatus().getConditions())
          .isNotNull();
    });
    return get(Endpoint.class, ns, name);
  }

  /** Waits until the Endpoint's slice lists exactly these proxy IPs, with these ready conditions. */
  private static EndpointSlice awaitSlice(String ns, String name, Map<String, Boolean> readyByIp) {
    var slices = client().discovery().v1().endpointSlices().inNamespace(ns).withName(name);
    await().atMost(WAIT).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
      EndpointSlice s = slices.get();
      assertThat(s).as("EndpointSlice " + name).isNotNull();
      Map<String, Boolean> listed = new LinkedHashMap<>();
      // The API server leaves out an empty list.
      (s.getEndpoints() == null ? List.<io.fabric8.kubernetes.api.model.discovery.v1.Endpoint>of() : s.getEndpoints()).forEach(ep -> ep.getAddresses().forEach(a -> listed.put(a, ep.getConditions().getReady())));
      assertThat(listed).isEqualTo(readyByIp);
    });
    return slices.get();
  }

  private static String proxyPod(String name, String ip, boolean ready) {
    return pod(name, PROXY_LABELS, ip, ready);
  }

  private static String pod(String name, Map<String, String> labels, String ip, boolean ready) {
    if (client().serviceAccounts().inNamespace(PROXY_NAMESPACE).withName("default").get() == null) {
      // A pod needs its ServiceAccount to exist (admission); no controller-manager makes "default" here.
      client().serviceAccounts().inNamespace(PROXY_NAMESPACE).resource(new ServiceAccountBuilder().withNewMetadata().withName("default")
          .endMetadata().build()).create();
    }
    client().pods().inNamespace(PROXY_NAMESPACE).resource(new PodBuilder().withNewMetadata().withName(name).withLabels(labels)
        .endMetadata().withNewSpec().withAutomountServiceAccountToken(false).addNewContainer().withName("proxy")
        .withImage("arbor-proxy:test").endContainer().endSpec().build()).create();
    setProxyPodStatus(name, ip, ready);
    return name;
  }

  /** What the kubelet reports: the pod runs on its IP, Ready or not. */
  private static void setProxyPodStatus(String name, String ip, boolean ready) {
    client().pods().inNamespace(PROXY_NAMESPACE).withName(name).editStatus(p -> {
      p.setStatus(new PodStatusBuilder().withPhase("Running").withPodIP(ip).addNewPodIP().withIp(ip).endPodIP()
          .addNewCondition().withType("Ready").withStatus(ready ? "True" : "False").endCondition().build());
      return p;
    });
  }
}

package dev.arbor.crds;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.Project;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.crdv2.generator.CRDGenerator;
import io.fabric8.crdv2.generator.CRDPostProcessor;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.CustomResource;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The CRD YAML of the model classes, as committed under {@code crds/generated/} and {@code helm/arbor/crds/}.
 *
 * <p>Runs fabric8's crd-generator (API v2) in-process rather than through its Maven plugin, because the
 * generator sorts printer columns by JSONPath ({@code .metadata.creationTimestamp} first, so Age would be the
 * first column); a post-processor puts them back in the order the annotations declare.
 */
public final class CrdYaml {
  private CrdYaml() {}

  /** The model's custom resources; a new kind is added here and then gets a committed CRD. */
  public static final List<Class<? extends CustomResource<?, ?>>> KINDS = List.of(Project.class, Branch.class, Endpoint.class);

  static final String REGENERATE = "crds/update";

  private static final String HEADER = "# Generated from the model classes in crds/src/main/java/dev/arbor/crds/v1alpha1 "
      + "by '" + REGENERATE + "'. Do not edit: change the model and regenerate.\n";

  /** File name (kubebuilder style, {@code <group>_<plural>.yaml}) to YAML, for every kind. */
  public static Map<String, String> generate() {
    Map<String, ByteArrayOutputStream> outputs = new TreeMap<>();
    new CRDGenerator()
        .customResourceClasses(List.copyOf(KINDS))
        .forCRDVersions("v1")
        .withParallelGenerationEnabled(false)
        .withPostProcessor(new CRDPostProcessor() {
          @Override
          public HasMetadata process(HasMetadata crd, String crdSpecVersion) {
            return printerColumnsInDeclaredOrder(crd);
          }
        })
        .withOutput(new CRDGenerator.AbstractCRDOutput<ByteArrayOutputStream>() {
          @Override
          protected ByteArrayOutputStream createStreamFor(String crdName) {
            return outputs.computeIfAbsent(crdName, n -> new ByteArrayOutputStream());
          }
        })
        .generate();
    Map<String, String> files = new TreeMap<>();
    outputs.forEach((crdName, out) -> {
      String yaml = out.toString(StandardCharsets.UTF_8);
      // Replace the generator's own header with one that says how to regenerate.
      yaml = HEADER + yaml.substring(yaml.indexOf('\n') + 1);
      // The generator names outputs <plural>.<group>-<crd spec version>, e.g. branches.arbor.dev-v1.
      String name = crdName.substring(0, crdName.lastIndexOf('-'));
      int dot = name.indexOf('.');
      files.put(name.substring(dot + 1) + "_" + name.substring(0, dot) + ".yaml", yaml);
    });
    return files;
  }

  private static HasMetadata printerColumnsInDeclaredOrder(HasMetadata resource) {
    var crd = (CustomResourceDefinition) resource;
    Class<?> kind = KINDS.stream()
        .filter(k -> k.getSimpleName().equals(crd.getSpec().getNames().getKind()))
        .findFirst().orElseThrow();
    List<String> declared = Arrays.stream(kind.getAnnotationsByType(AdditionalPrinterColumn.class))
        .map(AdditionalPrinterColumn::name).toList();
    for (var version : crd.getSpec().getVersions()) {
      var columns = new ArrayList<>(version.getAdditionalPrinterColumns());
      columns.sort(Comparator.comparingInt((CustomResourceColumnDefinition c) -> {
        int i = declared.indexOf(c.getName());
        return i < 0 ? Integer.MAX_VALUE : i;
      }));
      version.setAdditionalPrinterColumns(columns);
    }
    return crd;
  }
}

package dev.arbor.crds.v1alpha1;

import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.List;

/**
 * Schema customizer for the CRD generator: the array properties named in the input (comma-separated) become
 * list maps keyed by {@code name} ({@code x-kubernetes-list-type: map}), so the API server refuses two entries
 * of one name and server-side apply merges entries by name. (fabric8's MergePatchCustomizer would replace the
 * whole {@code properties} map instead of merging into it.)
 */
public final class ListMapsByName implements SchemaCustomizer.Customizer {
  @Override
  public JSONSchemaProps apply(JSONSchemaProps schema, String input, KubernetesSerialization serialization) {
    for (String property : input.split(",")) {
      JSONSchemaProps list = schema.getProperties() == null ? null : schema.getProperties().get(property.strip());
      if (list == null || !"array".equals(list.getType())) {
        throw new IllegalArgumentException("@SchemaCustomizer(ListMapsByName): '" + property.strip() + "' is not an array property");
      }
      list.setXKubernetesListType("map");
      list.setXKubernetesListMapKeys(List.of("name"));
    }
    return schema;
  }
}

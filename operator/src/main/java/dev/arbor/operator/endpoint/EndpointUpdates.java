package dev.arbor.operator.endpoint;

import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointWake;
import io.javaoperatorsdk.operator.processing.event.source.filter.OnUpdateFilter;
import java.util.Objects;

/**
 * The updates of an Endpoint that reconcile it: a new generation (its spec), a changed wake request
 * ({@value EndpointWake#REQUESTED_AT}) and its deletion. Not the operator's own status writes, nor other metadata.
 */
public class EndpointUpdates implements OnUpdateFilter<Endpoint> {
  @Override
  public boolean accept(Endpoint newResource, Endpoint oldResource) {
    return !Objects.equals(newResource.getMetadata().getGeneration(), oldResource.getMetadata().getGeneration())
        || !Objects.equals(wakeRequest(newResource), wakeRequest(oldResource))
        || newResource.isMarkedForDeletion();
  }

  private static String wakeRequest(Endpoint e) {
    return e.getMetadata().getAnnotations() == null ? null : e.getMetadata().getAnnotations().get(EndpointWake.REQUESTED_AT);
  }
}

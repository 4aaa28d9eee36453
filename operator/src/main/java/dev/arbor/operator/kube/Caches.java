package dev.arbor.operator.kube;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Reads another object by name from the reconciler's informer for its type. A mapper whose answer depends on
 * the primary cache (e.g. "the Branches of this Project") is only as fresh as that cache was when the event
 * came, so a reconciler looks the object up by the name its own spec gives instead.
 */
public final class Caches {
  private Caches() {}

  public static <R extends HasMetadata, P extends HasMetadata> Optional<R> get(Context<P> context, Class<R> type, String name,
      String namespace) {
    @SuppressWarnings("unchecked")
    var source = (InformerEventSource<R, P>) context.eventSourceRetriever().getEventSourceFor(type);
    return source.get(new ResourceID(name, namespace));
  }

  /** The same from the named informer, when a reconciler has more than one for the type. */
  public static <R extends HasMetadata, P extends HasMetadata> Optional<R> get(Context<P> context, Class<R> type, String source,
      String name, String namespace) {
    @SuppressWarnings("unchecked")
    var informer = (InformerEventSource<R, P>) context.eventSourceRetriever().getEventSourceFor(type, source);
    return informer.get(new ResourceID(name, namespace));
  }

  /** Every object of the type in the namespace, as the reconciler's informer for that type has them. */
  public static <R extends HasMetadata, P extends HasMetadata> Stream<R> list(Context<P> context, Class<R> type, String namespace) {
    @SuppressWarnings("unchecked")
    var source = (InformerEventSource<R, P>) context.eventSourceRetriever().getEventSourceFor(type);
    return source.list(namespace);
  }
}

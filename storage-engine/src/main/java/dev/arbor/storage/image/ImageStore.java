package dev.arbor.storage.image;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.objectstore.ObjectStore;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The image manifests of a timeline in object storage. Chunks are not this class's business: deleting
 * a manifest leaves its chunks to GC, which alone knows whether another image still names them.
 */
public final class ImageStore {

  /** {@code ObjectKeys.image} names: the LSN in 16 hex digits, so that names sort in LSN order. */
  private static final Pattern IMAGE_NAME = Pattern.compile("^[0-9A-F]{16}\\.json$");

  private final ObjectStore store;

  public ImageStore(ObjectStore store) {
    this.store = store;
  }

  /** The LSNs of the timeline's images, oldest first. */
  public List<Lsn> list(TenantId tenant, TimelineId timeline) throws IOException {
    String prefix = ObjectKeys.imagesPrefix(tenant, timeline);
    return store.list(prefix).stream()
        .filter(key -> IMAGE_NAME.matcher(key.substring(prefix.length())).matches())
        .map(ObjectKeys::imageLsn)
        .sorted()
        .toList();
  }

  /** The manifest of the image at exactly {@code lsn}, if there is one. */
  public Optional<ImageManifest> read(TenantId tenant, TimelineId timeline, Lsn lsn) throws IOException {
    String key = ObjectKeys.image(tenant, timeline, lsn);
    Optional<byte[]> json = store.getBytes(key);
    if (json.isEmpty()) {
      return Optional.empty();
    }
    ImageManifest manifest;
    try {
      manifest = ImageManifest.fromJson(json.get());
    } catch (IOException e) {
      throw new IOException("image manifest " + key + " cannot be read: " + e.getMessage(), e);
    }
    if (!manifest.tenant().equals(tenant) || !manifest.timeline().equals(timeline) || !manifest.lsn().equals(lsn)) {
      throw new IOException("image manifest " + key + " describes tenant " + manifest.tenant() + ", timeline "
          + manifest.timeline() + " at " + manifest.lsn() + ": it was stored under the wrong key");
    }
    return Optional.of(manifest);
  }

  /**
   * The newest image of this timeline at or below {@code lsn}: where a basebackup for {@code lsn} starts
   * before replaying WAL. Ancestor timelines are the caller's to try next.
   */
  public Optional<ImageManifest> newestAtOrBelow(TenantId tenant, TimelineId timeline, Lsn lsn) throws IOException {
    List<Lsn> lsns = list(tenant, timeline);
    for (int i = lsns.size() - 1; i >= 0; i--) {
      if (lsns.get(i).isAfter(lsn)) {
        continue;
      }
      // GC may delete a manifest between the listing and the read; the next older image serves as well.
      Optional<ImageManifest> manifest = read(tenant, timeline, lsns.get(i));
      if (manifest.isPresent()) {
        return manifest;
      }
    }
    return Optional.empty();
  }

  /** Removes the image's manifest (deleting a missing one is not an error); its chunks stay for GC. */
  public void delete(TenantId tenant, TimelineId timeline, Lsn lsn) throws IOException {
    store.delete(ObjectKeys.image(tenant, timeline, lsn));
  }
}

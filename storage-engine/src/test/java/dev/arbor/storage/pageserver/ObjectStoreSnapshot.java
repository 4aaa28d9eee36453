package dev.arbor.storage.pageserver;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Every file under a local object store's root, with its size and SHA-256: what "nothing changed" and "a
 * branch adds one small document" are checked against. It walks the filesystem rather than
 * {@code ObjectStore.list}, so a temporary file left behind by an aborted write counts as a change too.
 *
 * <p>Small files (metadata documents) are hashed every time. Digests of large ones (WAL segments, image
 * chunks) are cached under inode, size, mtime and ctime, so tests can take hundreds of snapshots of a
 * store holding whole PGDATAs: the kernel moves ctime on every write, and the object store replaces an
 * object by renaming a new file (a new inode) over it.
 */
record ObjectStoreSnapshot(SortedMap<String, Entry> entries) {

  record Entry(long size, String sha256) {}

  private record FileVersion(Path file, Object inode, long size, Object mtime, Object ctime) {}

  private static final long ALWAYS_HASHED_BELOW = 1 << 20;
  private static final Map<FileVersion, String> DIGESTS = new ConcurrentHashMap<>();

  static ObjectStoreSnapshot of(Path root) {
    SortedMap<String, Entry> entries = new TreeMap<>();
    try (Stream<Path> files = Files.walk(root)) {
      for (Path file : files.filter(Files::isRegularFile).toList()) {
        Map<String, Object> attrs = Files.readAttributes(file, "unix:ino,size,lastModifiedTime,ctime");
        var version = new FileVersion(file, attrs.get("ino"), (Long) attrs.get("size"), attrs.get("lastModifiedTime"), attrs.get("ctime"));
        String digest = version.size() < ALWAYS_HASHED_BELOW ? sha256(file) : DIGESTS.get(version);
        if (digest == null) {
          digest = sha256(file);
          DIGESTS.put(version, digest);
        }
        entries.put(root.relativize(file).toString(), new Entry(version.size(), digest));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the object store under " + root, e);
    }
    return new ObjectStoreSnapshot(entries);
  }

  long totalBytes() {
    return entries.values().stream().mapToLong(Entry::size).sum();
  }

  /** Keys that are new or whose bytes differ from {@code before}. */
  SortedMap<String, Entry> addedOrChangedSince(ObjectStoreSnapshot before) {
    SortedMap<String, Entry> out = new TreeMap<>();
    for (Map.Entry<String, Entry> e : entries.entrySet()) {
      if (!e.getValue().equals(before.entries.get(e.getKey()))) {
        out.put(e.getKey(), e.getValue());
      }
    }
    return out;
  }

  /** Keys of {@code before} that are gone now. */
  SortedMap<String, Entry> removedSince(ObjectStoreSnapshot before) {
    SortedMap<String, Entry> out = new TreeMap<>(before.entries);
    out.keySet().removeAll(entries.keySet());
    return out;
  }

  private static String sha256(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        digest.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(digest.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}

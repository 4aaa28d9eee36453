package dev.arbor.storage.image;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.objectstore.ObjectStore;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a stopped PGDATA into an image: its files cut into fixed-size chunks stored once per tenant under
 * their sha256 ({@code ObjectKeys.chunk}), and a manifest that lists them, written last. A manifest
 * therefore never names a chunk that is not stored, and an interrupted write leaves only unreferenced
 * chunks for GC. Runtime files are left out (see {@link PgdataExclusions}).
 *
 * <p>Chunk boundaries are at fixed offsets, so a page that changes in place changes exactly the one chunk
 * around it, and the next image of the timeline (or of a branch) stores only those chunks again.
 *
 * <p>The server on {@code pgdata} must be stopped; a file whose size changes while it is read fails the
 * write. Files are streamed: memory is one chunk, whatever the size of the database.
 */
public final class ImageWriter {

  /** 16 PostgreSQL pages: small enough that a scattered change rewrites little, large enough to keep manifests small. */
  public static final int DEFAULT_CHUNK_SIZE = 128 * 1024;
  public static final int MAX_CHUNK_SIZE = 64 * 1024 * 1024;

  private static final Logger log = LoggerFactory.getLogger(ImageWriter.class);
  private static final HexFormat HEX = HexFormat.of();

  private final ObjectStore store;
  private final int chunkSize;

  public ImageWriter(ObjectStore store) {
    this(store, DEFAULT_CHUNK_SIZE);
  }

  /** {@code chunkSize} should be a multiple of the 8 KiB PostgreSQL page so chunks align with pages. */
  public ImageWriter(ObjectStore store, int chunkSize) {
    if (chunkSize <= 0 || chunkSize > MAX_CHUNK_SIZE) {
      throw new IllegalArgumentException("chunk size must be between 1 byte and " + MAX_CHUNK_SIZE + " bytes, not " + chunkSize);
    }
    this.store = store;
    this.chunkSize = chunkSize;
  }

  /**
   * What a write stored. {@code newChunks}/{@code newBytes} count chunks this write uploaded because no
   * image of the tenant had them yet; the rest of {@code chunks}/{@code totalBytes} was shared.
   */
  public record Result(ImageManifest manifest, long totalBytes, long chunks, long newChunks, long newBytes) {}

  /** {@link #write(TenantId, TimelineId, Lsn, Lsn, int, Path, Set)} of a PGDATA whose recovery begins at {@code lsn}. */
  public Result write(TenantId tenant, TimelineId timeline, Lsn lsn, int pgMajor, Path pgdata) throws IOException {
    return write(tenant, timeline, lsn, lsn, pgMajor, pgdata, Set.of());
  }

  /**
   * Writes an image of {@code pgdata} as {@code timeline} at {@code lsn}, replacing one at the same LSN.
   *
   * @param redoLsn where recovery from this PGDATA begins to read WAL (its checkpoint's REDO point)
   * @param storedChunks ids of chunks known to be stored already (those of the image this PGDATA was made
   *     from): not looked up again, which saves a request per chunk on S3
   */
  public Result write(TenantId tenant, TimelineId timeline, Lsn lsn, Lsn redoLsn, int pgMajor, Path pgdata,
      Set<String> storedChunks) throws IOException {
    Instant started = Instant.now();
    checkPgVersion(pgdata, pgMajor);
    var walk = new Walk(tenant, pgdata, storedChunks);
    walk.directory(pgdata, "");
    var manifest = new ImageManifest(ImageManifest.FORMAT_VERSION, tenant, timeline, lsn, redoLsn, pgMajor, started, chunkSize,
        walk.directories, walk.files);
    store.put(ObjectKeys.image(tenant, timeline, lsn), manifest.toJson());
    var result = new Result(manifest, manifest.totalBytes(), walk.chunks, walk.newChunks, walk.newBytes);
    log.info("event=image_written tenant={} timeline={} lsn={} files={} bytes={} chunks={} new_chunks={} new_bytes={} duration_ms={}",
        tenant, timeline, lsn, walk.files.size(), result.totalBytes(), result.chunks(), result.newChunks(),
        result.newBytes(), Duration.between(started, Instant.now()).toMillis());
    return result;
  }

  private static void checkPgVersion(Path pgdata, int pgMajor) throws IOException {
    String version;
    try {
      version = Files.readString(pgdata.resolve("PG_VERSION"), StandardCharsets.US_ASCII).strip();
    } catch (NoSuchFileException e) {
      throw new IOException(pgdata + " is not a PostgreSQL data directory: it has no PG_VERSION file");
    }
    if (!version.equals(Integer.toString(pgMajor))) {
      throw new IOException(pgdata + " belongs to PostgreSQL " + version + " (PG_VERSION), but the image was asked for "
          + "PostgreSQL " + pgMajor);
    }
  }

  /** One write's traversal: entries in walk order (names sorted, parents before children) and its counts. */
  private final class Walk {
    private final TenantId tenant;
    private final Path pgdata;
    private final Set<String> storedChunks;
    private final List<ImageManifest.DirectoryEntry> directories = new ArrayList<>();
    private final List<ImageManifest.FileEntry> files = new ArrayList<>();
    private final byte[] buffer = new byte[chunkSize];
    private final MessageDigest sha256 = sha256();
    private long chunks;
    private long newChunks;
    private long newBytes;

    Walk(TenantId tenant, Path pgdata, Set<String> storedChunks) {
      this.tenant = tenant;
      this.pgdata = pgdata;
      this.storedChunks = storedChunks;
    }

    void directory(Path dir, String relative) throws IOException {
      List<Path> children;
      try (Stream<Path> list = Files.list(dir)) {
        children = list.sorted(Comparator.comparing(p -> p.getFileName().toString())).toList();
      }
      for (Path child : children) {
        String path = relative.isEmpty() ? child.getFileName().toString() : relative + "/" + child.getFileName();
        var attrs = Files.readAttributes(child, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (PgdataExclusions.excludes(path, attrs.isDirectory())) {
          continue;
        }
        if (attrs.isDirectory()) {
          directories.add(new ImageManifest.DirectoryEntry(path, PosixModes.toMode(attrs.permissions())));
          directory(child, path);
        } else if (attrs.isRegularFile()) {
          files.add(file(child, path, attrs));
        } else if (attrs.isSymbolicLink()) {
          throw new IOException("'" + path + "' in " + pgdata + " is a symbolic link; images hold only regular files and "
              + "directories (tablespaces and a relocated pg_wal are not supported)");
        } else {
          throw new IOException("'" + path + "' in " + pgdata + " is neither a regular file nor a directory");
        }
      }
    }

    private ImageManifest.FileEntry file(Path file, String path, PosixFileAttributes attrs) throws IOException {
      List<String> ids = new ArrayList<>();
      long size = 0;
      try (InputStream in = Files.newInputStream(file)) {
        int n;
        while ((n = in.readNBytes(buffer, 0, chunkSize)) > 0) {
          String id = HEX.formatHex(digest(n));
          store(id, n);
          ids.add(id);
          size += n;
        }
      }
      if (size != attrs.size()) {
        throw new IOException("'" + path + "' in " + pgdata + " changed size while it was read (" + attrs.size() + " then "
            + size + " bytes): images are written from a stopped server only");
      }
      return new ImageManifest.FileEntry(path, size, PosixModes.toMode(attrs.permissions()), ids);
    }

    private byte[] digest(int length) {
      sha256.update(buffer, 0, length);
      return sha256.digest();
    }

    /** A chunk's key is its content's hash, so an existing object already holds these bytes. */
    private void store(String id, int length) throws IOException {
      chunks++;
      String key = ObjectKeys.chunk(tenant, id);
      if (storedChunks.contains(id) || store.exists(key)) {
        return;
      }
      if (store.putIfAbsent(key, Arrays.copyOf(buffer, length))) {
        newChunks++;
        newBytes += length;
      }
    }
  }

  static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime provides SHA-256", e);
    }
  }
}

package dev.arbor.storage.image;

import dev.arbor.storage.objectstore.ObjectStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Turns an image back into a PGDATA: as a tar stream (what a basebackup sends to a compute) or as files
 * in a directory (the pageserver's working copies). Chunks are read from object storage one at a time
 * and checked against their ids, so memory stays bounded and a damaged chunk fails the restore.
 */
public final class ImageMaterializer {

  /** Extra files are configuration the basebackup writes; PostgreSQL creates its own files 0600 as well. */
  public static final int EXTRA_FILE_MODE = 0600;
  private static final int OWNER_ONLY_DIRECTORY = 0700;

  private final ObjectStore store;

  public ImageMaterializer(ObjectStore store) {
    this.store = store;
  }

  /**
   * Streams the image as a ustar archive with paths relative to PGDATA: every directory (walk order,
   * parents first), then every file, then the {@code extraFiles} that the image does not have. An extra
   * file with the path of an image file replaces that file's content and keeps its mode. Extra files must
   * lie at the top of PGDATA or in one of the image's directories. Ends the archive; does not close
   * {@code out}. Entries carry the image's creation time as mtime.
   */
  public void writeTar(ImageManifest image, Map<String, byte[]> extraFiles, OutputStream out) throws IOException {
    Map<String, byte[]> extras = checkedExtras(image, extraFiles);
    var tar = new TarWriter(out, image.createdAt());
    for (ImageManifest.DirectoryEntry dir : image.directories()) {
      tar.directory(dir.path(), dir.mode());
    }
    for (ImageManifest.FileEntry file : image.files()) {
      byte[] replacement = extras.remove(file.path());
      if (replacement != null) {
        tar.file(file.path(), file.mode(), replacement);
        continue;
      }
      try (InputStream content = contentOf(image, file)) {
        tar.file(file.path(), file.mode(), file.size(), content);
      }
    }
    for (Map.Entry<String, byte[]> extra : extras.entrySet()) {
      tar.file(extra.getKey(), EXTRA_FILE_MODE, extra.getValue());
    }
    tar.finish();
  }

  /**
   * Writes the image's directories and files with their modes into {@code targetDir}, which must be
   * missing or empty; a missing one is created 0700, as PostgreSQL requires of a data directory. Files
   * and directories are fsynced, so a working copy survives a machine crash once this returns. Files
   * belong to the calling user; hand them to the server's user before starting PostgreSQL on them.
   * After a failure the directory holds part of the image: remove it before trying again.
   */
  public void materialize(ImageManifest image, Path targetDir) throws IOException {
    prepareEmpty(targetDir);
    List<Path> directories = new ArrayList<>();
    for (ImageManifest.DirectoryEntry dir : image.directories()) {
      // Owner-writable until the files are in; the recorded mode is applied at the end.
      Path path = Files.createDirectory(targetDir.resolve(dir.path()),
          PosixFilePermissions.asFileAttribute(PosixModes.toPermissions(OWNER_ONLY_DIRECTORY)));
      directories.add(path);
    }
    for (ImageManifest.FileEntry file : image.files()) {
      Path path = targetDir.resolve(file.path());
      try (FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
           InputStream content = contentOf(image, file)) {
        long written = content.transferTo(Channels.newOutputStream(channel));
        if (written != file.size()) {
          throw new IOException("'" + file.path() + "' has " + written + " bytes in its chunks but " + file.size()
              + " in the manifest of " + image.timeline() + " at " + image.lsn());
        }
        channel.force(true);
      }
      Files.setPosixFilePermissions(path, PosixModes.toPermissions(file.mode()));
    }
    // Deepest first: a directory's entries are synced before the entry naming it.
    for (int i = image.directories().size() - 1; i >= 0; i--) {
      Path path = directories.get(i);
      Files.setPosixFilePermissions(path, PosixModes.toPermissions(image.directories().get(i).mode()));
      fsyncDirectory(path);
    }
    fsyncDirectory(targetDir);
  }

  private InputStream contentOf(ImageManifest image, ImageManifest.FileEntry file) {
    return new ChunkInputStream(store, image, file);
  }

  private static Map<String, byte[]> checkedExtras(ImageManifest image, Map<String, byte[]> extraFiles) {
    Set<String> directories = new HashSet<>();
    image.directories().forEach(d -> directories.add(d.path()));
    Map<String, byte[]> extras = new TreeMap<>();
    extraFiles.forEach((path, content) -> {
      ImageManifest.checkRelativePath(path);
      if (directories.contains(path)) {
        throw new IllegalArgumentException("extra file '" + path + "' would replace a directory of the image");
      }
      String parent = ImageManifest.parentOf(path);
      if (parent != null && !directories.contains(parent)) {
        throw new IllegalArgumentException("extra file '" + path + "' lies in '" + parent + "', which the image does not have");
      }
      extras.put(path, content);
    });
    return extras;
  }

  private static void prepareEmpty(Path targetDir) throws IOException {
    if (!Files.exists(targetDir)) {
      Files.createDirectories(targetDir.getParent());
      Files.createDirectory(targetDir, PosixFilePermissions.asFileAttribute(PosixModes.toPermissions(OWNER_ONLY_DIRECTORY)));
      return;
    }
    try (Stream<Path> entries = Files.list(targetDir)) {
      if (entries.findAny().isPresent()) {
        throw new IOException("cannot materialize an image into " + targetDir + ": the directory is not empty");
      }
    }
  }

  private static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
      channel.force(true);
    }
  }
}

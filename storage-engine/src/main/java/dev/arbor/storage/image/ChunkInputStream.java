package dev.arbor.storage.image;

import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.objectstore.ObjectStore;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

/**
 * The content of one image file, streamed from its chunks one at a time. A chunk's id is the sha256 of
 * its bytes and its length follows from the manifest (every chunk but the last is {@code chunkSize}), so
 * each chunk is checked as it is read: a missing or damaged chunk fails the read, naming the chunk,
 * instead of handing PostgreSQL a corrupt file.
 */
final class ChunkInputStream extends InputStream {

  private final ObjectStore store;
  private final ImageManifest image;
  private final ImageManifest.FileEntry file;
  private final MessageDigest sha256 = ImageWriter.sha256();
  private int next;
  private InputStream current;
  private long currentRead;
  private long currentExpected;

  ChunkInputStream(ObjectStore store, ImageManifest image, ImageManifest.FileEntry file) {
    this.store = store;
    this.image = image;
    this.file = file;
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) {
      return 0;
    }
    while (true) {
      if (current == null) {
        if (next == file.chunks().size()) {
          return -1;
        }
        open(next++);
      }
      int n = current.read(b, off, len);
      if (n > 0) {
        currentRead += n;
        if (currentRead > currentExpected) {
          throw corrupt("it holds more than the " + currentExpected + " bytes the manifest implies");
        }
        sha256.update(b, off, n);
        return n;
      }
      if (n < 0) {
        closeAndVerify();
      }
    }
  }

  private void open(int index) throws IOException {
    String id = file.chunks().get(index);
    String key = ObjectKeys.chunk(image.tenant(), id);
    current = store.get(key).orElseThrow(() -> new IOException("chunk " + id + " of '" + file.path()
        + "' is missing from object storage (" + key + "); the image of " + image.timeline() + " at " + image.lsn()
        + " cannot be restored"));
    currentRead = 0;
    currentExpected = Math.min(image.chunkSize(), file.size() - (long) index * image.chunkSize());
    sha256.reset();
  }

  private void closeAndVerify() throws IOException {
    current.close();
    current = null;
    if (currentRead != currentExpected) {
      throw corrupt("it holds " + currentRead + " bytes, the manifest implies " + currentExpected);
    }
    String actual = HexFormat.of().formatHex(sha256.digest());
    if (!actual.equals(chunkId())) {
      throw corrupt("its bytes hash to " + actual);
    }
  }

  private String chunkId() {
    return file.chunks().get(next - 1);
  }

  private IOException corrupt(String why) {
    return new IOException("chunk " + chunkId() + " of '" + file.path() + "' is corrupt in object storage: " + why);
  }

  @Override
  public void close() throws IOException {
    if (current != null) {
      current.close();
      current = null;
    }
  }
}

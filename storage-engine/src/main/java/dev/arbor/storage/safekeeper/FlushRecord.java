package dev.arbor.storage.safekeeper;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.DurableFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * The newest timeline's flush position of a {@link WalSegmentStore}, overwritten in place on every
 * flush and <b>not forced</b> there: a commit then costs one {@code fdatasync} on a safekeeper (the WAL's),
 * not two. The record is a lower bound that bounds the scan for the end of WAL when the store opens
 * ({@link WalSegmentStore}): it is written only after the WAL below it was forced, so whatever version
 * of it a crash leaves, the WAL below that position is on disk; the WAL records after it are checked
 * one by one (CRC, back-link) to find the real end. A crash leaves the version of the last
 * {@link #force()} or a later one ({@link #durablePosition()}): the store forces the record before it
 * removes WAL that an older version would send that scan to.
 *
 * <p>Layout: two 4 KiB blocks, each holding one slot, and writes alternate between them, so a write
 * torn by a crash damages only the slot being written while the other keeps the previous position.
 * The valid slot with the higher sequence number is current. A slot (big-endian):
 *
 * <pre>
 * 0  int   magic 0x41524246 ("ARBF")
 * 4  int   format version (1)
 * 8  long  sequence number, +1 per write; the slot index is sequence % 2
 * 16 int   timeline (0: no WAL flushed yet)
 * 20 int   reserved, 0
 * 24 long  flush LSN
 * 32 int   CRC-32C of bytes 0..31
 * </pre>
 */
final class FlushRecord implements AutoCloseable {

  static final int FORMAT_VERSION = 1;
  private static final int MAGIC = 0x41524246;
  private static final int SLOT_STRIDE = 4096;
  private static final int SLOT_BYTES = 36;

  private final Path file;
  private final FileChannel channel;
  private long sequence;
  private Optional<WalPosition> position;
  /** The position of the last successful force; empty before it, since the file may hold unforced bytes. */
  private Optional<WalPosition> durablePosition = Optional.empty();
  /**
   * Set when a force failed: the kernel may have dropped the record's dirty page and marked it clean, so
   * a later force of the same page could succeed without writing it, and the on-disk version is unknown.
   */
  private IOException forceFailure;

  private FlushRecord(Path file, FileChannel channel, long sequence, Optional<WalPosition> position) {
    this.file = file;
    this.channel = channel;
    this.sequence = sequence;
    this.position = position;
  }

  /** Creates the file holding "nothing flushed" in slot 0, durably, before any WAL is acknowledged. */
  static FlushRecord create(Path file) throws IOException {
    ByteBuffer content = ByteBuffer.allocate(2 * SLOT_STRIDE);
    content.put(encode(0, 0, Lsn.ZERO).flip());
    DurableFiles.write(file, content.array());
    return open(file);
  }

  static FlushRecord open(Path file) throws IOException {
    FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
    try {
      Slot newest = null;
      for (int index = 0; index < 2; index++) {
        Slot slot = decode(readSlot(channel, index), file);
        if (slot != null && (newest == null || slot.sequence > newest.sequence)) {
          newest = slot;
        }
      }
      if (newest == null) {
        throw new IOException("the flush record " + file + " holds no valid slot: both copies are damaged, so "
            + "the store's flush position is unknown. Do not serve this store; rebuild it from its peers");
      }
      Optional<WalPosition> position = newest.timeline == 0
          ? Optional.empty()
          : Optional.of(new WalPosition(newest.timeline, newest.lsn));
      return new FlushRecord(file, channel, newest.sequence, position);
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
  }

  Optional<WalPosition> position() {
    return position;
  }

  /**
   * Records {@code flushed} without forcing it: a crash may leave this or an earlier position. Call it
   * only after the WAL below {@code flushed} is forced.
   */
  void write(WalPosition flushed) throws IOException {
    long next = sequence + 1;
    ByteBuffer slot = encode(next, flushed.timeline(), flushed.lsn()).flip();
    long offset = (next % 2) * SLOT_STRIDE;
    while (slot.hasRemaining()) {
      channel.write(slot, offset + slot.position());
    }
    sequence = next;
    position = Optional.of(flushed);
  }

  /**
   * Makes the current position survive a power loss. Once a force has failed, every later one fails
   * too: only a new instance (a reopened store) knows what the file holds.
   */
  void force() throws IOException {
    if (forceFailure != null) {
      throw new IOException("an earlier force of the flush record " + file + " failed (" + forceFailure.getMessage()
          + "), so what it holds on disk is unknown; reopen the store", forceFailure);
    }
    try {
      channel.force(false); // the file never changes size: fdatasync suffices
    } catch (IOException e) {
      forceFailure = e;
      throw e;
    }
    durablePosition = position;
  }

  /**
   * The position of the last {@link #force()}: a crash leaves this one or a later one. Empty when no
   * position is known to be on disk (not forced yet by this instance, or it forced "nothing flushed").
   */
  Optional<WalPosition> durablePosition() {
    return durablePosition;
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }

  private static ByteBuffer readSlot(FileChannel channel, int index) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(SLOT_BYTES);
    long offset = (long) index * SLOT_STRIDE;
    while (buf.hasRemaining()) {
      if (channel.read(buf, offset + buf.position()) < 0) {
        break; // a short file leaves the slot incomplete, which decode() treats as empty
      }
    }
    return buf.flip();
  }

  private record Slot(long sequence, int timeline, Lsn lsn) {}

  private static ByteBuffer encode(long sequence, int timeline, Lsn lsn) {
    ByteBuffer b = ByteBuffer.allocate(SLOT_BYTES);
    b.putInt(MAGIC).putInt(FORMAT_VERSION).putLong(sequence).putInt(timeline).putInt(0).putLong(lsn.value());
    var crc = new CRC32C();
    crc.update(b.array(), 0, SLOT_BYTES - 4);
    b.putInt((int) crc.getValue());
    return b;
  }

  /** The slot, or null when it is empty or torn. */
  private static Slot decode(ByteBuffer b, Path file) throws IOException {
    if (b.remaining() < SLOT_BYTES) {
      return null;
    }
    var crc = new CRC32C();
    crc.update(b.array(), 0, SLOT_BYTES - 4);
    if (b.getInt(0) != MAGIC || b.getInt(SLOT_BYTES - 4) != (int) crc.getValue()) {
      return null;
    }
    int version = b.getInt(4);
    if (version != FORMAT_VERSION) {
      throw new IOException("the flush record " + file + " has format version " + version + "; this Arbor reads "
          + "version " + FORMAT_VERSION + (version > FORMAT_VERSION ? ": run the newer Arbor that wrote it" : ""));
    }
    return new Slot(b.getLong(8), b.getInt(16), new Lsn(b.getLong(24)));
  }
}

package dev.arbor.storage.safekeeper;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.Lsn;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * What a {@link WalSegmentStore} has made durable, as recorded in its state file:
 *
 * <pre>{@code
 * {
 *   "format_version": 1,
 *   "segment_size": 16777216,
 *   "system_identifier": "7412345678901234567",     // null until the store is bound to a system
 *   "timelines": [ {"timeline": 1, "flush_lsn": "0/3000000"}, {"timeline": 2, "flush_lsn": "0/5000148"} ]
 * }
 * }</pre>
 *
 * The file is replaced atomically, and only when something in it changes other than the newest
 * timeline's flush LSN: when the store is bound to a system and when a timeline begins. Each
 * timeline's {@code flush_lsn} is therefore a lower bound, exact for every timeline but the newest;
 * the newest one's current flush LSN is in the {@link FlushRecord}, and the store's state is the
 * two merged. The system identifier is written as an unsigned decimal string, as
 * {@code IDENTIFY_SYSTEM} and {@code pg_controldata} print it (it does not fit a signed 64-bit JSON
 * number).
 */
record WalStoreState(long segmentSize, OptionalLong systemIdentifier, SortedMap<Integer, Lsn> flushLsns) {

  static final int FORMAT_VERSION = 1;
  private static final ObjectMapper JSON = new ObjectMapper();

  WalStoreState {
    flushLsns = Collections.unmodifiableSortedMap(new TreeMap<>(flushLsns));
  }

  static WalStoreState empty(long segmentSize) {
    return new WalStoreState(segmentSize, OptionalLong.empty(), new TreeMap<>());
  }

  WalStoreState withFlushLsns(Map<Integer, Lsn> flushed) {
    var merged = new TreeMap<>(flushLsns);
    merged.putAll(flushed);
    return new WalStoreState(segmentSize, systemIdentifier, merged);
  }

  WalStoreState withSystemIdentifier(long id) {
    return new WalStoreState(segmentSize, OptionalLong.of(id), flushLsns);
  }

  /** The newest timeline's flush position: where WAL continues. */
  Optional<WalPosition> newest() {
    if (flushLsns.isEmpty()) {
      return Optional.empty();
    }
    int tli = flushLsns.lastKey();
    return Optional.of(new WalPosition(tli, flushLsns.get(tli)));
  }

  byte[] toJson() {
    ObjectNode root = JSON.createObjectNode();
    root.put("format_version", FORMAT_VERSION);
    root.put("segment_size", segmentSize);
    if (systemIdentifier.isPresent()) {
      root.put("system_identifier", Long.toUnsignedString(systemIdentifier.getAsLong()));
    } else {
      root.putNull("system_identifier");
    }
    ArrayNode timelines = root.putArray("timelines");
    flushLsns.forEach((tli, lsn) -> timelines.addObject().put("timeline", tli).put("flush_lsn", lsn.toString()));
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
    } catch (IOException e) {
      throw new IllegalStateException("cannot serialize the WAL store state", e);
    }
  }

  /** Parses a state file; {@code file} is only named in error messages. */
  static WalStoreState fromJson(byte[] bytes, Path file) throws IOException {
    JsonNode root;
    try {
      root = JSON.readTree(bytes);
    } catch (IOException e) {
      throw new IOException("the WAL store state file " + file + " is not valid JSON: " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new IOException("the WAL store state file " + file + " is empty or not a JSON object");
    }
    int version = root.path("format_version").asInt(-1);
    if (version > FORMAT_VERSION) {
      throw new IOException("the WAL store state file " + file + " has format version " + version
          + ", written by a newer Arbor; this one reads up to version " + FORMAT_VERSION + ". Run the newer version.");
    }
    if (version != FORMAT_VERSION) {
      throw new IOException("the WAL store state file " + file + " has no valid format_version (found "
          + root.path("format_version") + ")");
    }
    long segmentSize = require(root, "segment_size", file).asLong();
    JsonNode system = root.path("system_identifier");
    OptionalLong systemIdentifier = system.isTextual()
        ? OptionalLong.of(Long.parseUnsignedLong(system.asText()))
        : OptionalLong.empty();
    var flushLsns = new TreeMap<Integer, Lsn>();
    for (JsonNode t : require(root, "timelines", file)) {
      int tli = require(t, "timeline", file).asInt();
      WalSegmentId.checkTimeline(tli);
      flushLsns.put(tli, Lsn.parse(require(t, "flush_lsn", file).asText()));
    }
    return new WalStoreState(segmentSize, systemIdentifier, flushLsns);
  }

  private static JsonNode require(JsonNode node, String field, Path file) throws IOException {
    JsonNode value = node.get(field);
    if (value == null || value.isNull()) {
      throw new IOException("the WAL store state file " + file + " lacks the field '" + field + "'");
    }
    return value;
  }
}

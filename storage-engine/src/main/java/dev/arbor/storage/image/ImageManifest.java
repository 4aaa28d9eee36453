package dev.arbor.storage.image;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import com.fasterxml.jackson.databind.annotation.JsonSerialize;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.io.IOException;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * What an image is: the PGDATA of a timeline at an LSN, as its directories and its regular files, each
 * file an ordered list of content-addressed chunks (sha256 hex of the chunk's bytes) that every image of
 * the tenant shares. Stored as JSON under {@code ObjectKeys.image(tenant, timeline, lsn)}.
 *
 * <p>The constructor enforces what readers rely on, so a manifest that exists is one that can be
 * materialized: paths are relative and stay inside the data directory, directories come in walk order
 * (a parent before its children), every file's directory is listed, and a file of {@code size} bytes has
 * exactly {@code ceil(size / chunkSize)} chunks, all of {@code chunkSize} bytes but the last.
 */
@JsonPropertyOrder({"formatVersion", "tenant", "timeline", "lsn", "redoLsn", "pgMajor", "createdAt", "chunkSize", "directories",
    "files"})
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ImageManifest(
    int formatVersion,
    TenantId tenant,
    TimelineId timeline,
    Lsn lsn,
    Lsn redoLsn,
    int pgMajor,
    Instant createdAt,
    int chunkSize,
    List<DirectoryEntry> directories,
    List<FileEntry> files) {

  /**
   * Version 2 adds {@code redoLsn}. Version 1 (fixed-size chunks of {@code chunkSize} bytes, modes as 4-digit
   * octal text) is still read: its images are initdb's, whose recovery begins in the segment of {@code lsn}.
   */
  public static final int FORMAT_VERSION = 2;
  private static final int OLDEST_READABLE_VERSION = 1;

  private static final Pattern CHUNK_ID = Pattern.compile("^[0-9a-f]{64}$");
  private static final ObjectMapper JSON = JsonMapper.builder()
      .addModule(new JavaTimeModule())
      .addModule(idsAsText())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      // A field this version does not know may change what the image means: refuse rather than ignore it.
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
      .build();

  public ImageManifest {
    if (formatVersion < OLDEST_READABLE_VERSION || formatVersion > FORMAT_VERSION) {
      throw new IllegalArgumentException("image manifest format version " + formatVersion
          + " is not supported: this Arbor reads versions " + OLDEST_READABLE_VERSION + " to " + FORMAT_VERSION);
    }
    Objects.requireNonNull(tenant, "tenant");
    Objects.requireNonNull(timeline, "timeline");
    Objects.requireNonNull(lsn, "lsn");
    if (formatVersion >= 2) {
      Objects.requireNonNull(redoLsn, "redoLsn");
    }
    if (redoLsn != null && redoLsn.isAfter(lsn)) {
      throw new IllegalArgumentException("redoLsn " + redoLsn + " lies after the image's lsn " + lsn
          + ": recovery from an image starts at or before the point the image holds");
    }
    Objects.requireNonNull(createdAt, "createdAt");
    if (pgMajor <= 0) {
      throw new IllegalArgumentException("pgMajor must be a PostgreSQL major version, not " + pgMajor);
    }
    if (chunkSize <= 0) {
      throw new IllegalArgumentException("chunkSize must be positive, not " + chunkSize);
    }
    directories = List.copyOf(Objects.requireNonNull(directories, "directories"));
    files = List.copyOf(Objects.requireNonNull(files, "files"));
    checkTree(directories, files, chunkSize);
  }

  /** A directory of the image, relative to PGDATA; {@code mode} holds the permission bits. */
  public record DirectoryEntry(
      String path,
      @JsonSerialize(using = OctalMode.Writer.class) @JsonDeserialize(using = OctalMode.Reader.class) int mode) {
    public DirectoryEntry {
      checkRelativePath(path);
      checkMode(path, mode);
    }
  }

  /** A regular file of the image: its bytes are the concatenation of its chunks, in order. */
  public record FileEntry(
      String path,
      long size,
      @JsonSerialize(using = OctalMode.Writer.class) @JsonDeserialize(using = OctalMode.Reader.class) int mode,
      List<String> chunks) {
    public FileEntry {
      checkRelativePath(path);
      checkMode(path, mode);
      if (size < 0) {
        throw new IllegalArgumentException("'" + path + "' has a negative size " + size);
      }
      chunks = List.copyOf(Objects.requireNonNull(chunks, "chunks"));
      for (String id : chunks) {
        if (!CHUNK_ID.matcher(id).matches()) {
          throw new IllegalArgumentException("'" + path + "' names chunk '" + id + "', which is not a sha256 in lowercase hex");
        }
      }
    }
  }

  /**
   * Where recovery from this image begins to read WAL: the REDO point of the checkpoint the image was stopped
   * at, at or before {@code lsn} (WAL in between is replayed again, which PostgreSQL's redo allows).
   */
  @JsonIgnore
  public Lsn replayFrom() {
    return redoLsn == null ? lsn : redoLsn;
  }

  /** The sum of the file sizes: what a basebackup of this image transfers, before tar headers. */
  @JsonIgnore
  public long totalBytes() {
    return files.stream().mapToLong(FileEntry::size).sum();
  }

  public byte[] toJson() {
    try {
      return JSON.writeValueAsBytes(this);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot serialize the image manifest of " + timeline + " at " + lsn, e);
    }
  }

  /** Reads a manifest; the exception says why one is refused (another format version, a broken tree). */
  public static ImageManifest fromJson(byte[] json) throws IOException {
    JsonNode tree = JSON.readTree(json);
    if (tree == null || !tree.isObject()) {
      throw new IOException("an image manifest must be a JSON object");
    }
    JsonNode version = tree.get("formatVersion");
    if (version == null || !version.canConvertToInt() || version.asInt() < OLDEST_READABLE_VERSION
        || version.asInt() > FORMAT_VERSION) {
      throw new IOException("image manifest format version " + version + " is not supported: this Arbor reads versions "
          + OLDEST_READABLE_VERSION + " to " + FORMAT_VERSION + " (a newer Arbor wrote it, or it is not an image manifest)");
    }
    if (version.asInt() == 1 && !tree.has("redoLsn")) {
      ((com.fasterxml.jackson.databind.node.ObjectNode) tree).putNull("redoLsn"); // version 1 had none
    }
    try {
      return JSON.treeToValue(tree, ImageManifest.class);
    } catch (JsonProcessingException | IllegalArgumentException e) {
      throw new IOException("invalid image manifest: " + reason(e), e);
    }
  }

  /** Our own validation message when there is one, rather than Jackson's wrapping of it. */
  private static String reason(Exception e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof IllegalArgumentException) {
        return t.getMessage();
      }
    }
    return e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
  }

  private static void checkTree(List<DirectoryEntry> directories, List<FileEntry> files, int chunkSize) {
    Set<String> dirs = new HashSet<>();
    for (DirectoryEntry d : directories) {
      String parent = parentOf(d.path());
      if (parent != null && !dirs.contains(parent)) {
        throw new IllegalArgumentException("directory '" + d.path() + "' comes before its parent '" + parent + "' or without it");
      }
      if (!dirs.add(d.path())) {
        throw new IllegalArgumentException("directory '" + d.path() + "' is listed twice");
      }
    }
    Set<String> seen = new HashSet<>();
    for (FileEntry f : files) {
      String parent = parentOf(f.path());
      if (parent != null && !dirs.contains(parent)) {
        throw new IllegalArgumentException("file '" + f.path() + "' lies in '" + parent + "', which is not a directory of the image");
      }
      if (dirs.contains(f.path()) || !seen.add(f.path())) {
        throw new IllegalArgumentException("'" + f.path() + "' is listed twice");
      }
      long expectedChunks = Math.ceilDiv(f.size(), (long) chunkSize);
      if (f.chunks().size() != expectedChunks) {
        throw new IllegalArgumentException("file '" + f.path() + "' of " + f.size() + " bytes needs " + expectedChunks
            + " chunks of " + chunkSize + " bytes, but the manifest lists " + f.chunks().size());
      }
    }
  }

  /** The parent directory of a relative path, or null for an entry at the top of PGDATA. */
  static String parentOf(String path) {
    int slash = path.lastIndexOf('/');
    return slash < 0 ? null : path.substring(0, slash);
  }

  /**
   * Image paths are joined to a target directory when an image is materialized, so they must never
   * leave it: relative, '/'-separated, no empty, "." or ".." segments.
   */
  static void checkRelativePath(String path) {
    if (path == null || path.isEmpty() || path.startsWith("/") || path.endsWith("/") || path.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("'" + path + "' is not a relative path inside PGDATA");
    }
    for (String segment : path.split("/", -1)) {
      if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
        throw new IllegalArgumentException("'" + path + "' is not a relative path inside PGDATA");
      }
    }
  }

  private static void checkMode(String path, int mode) {
    if ((mode & ~07777) != 0) {
      throw new IllegalArgumentException("'" + path + "' has mode " + Integer.toOctalString(mode)
          + "; only permission bits (up to 7777 octal) are recorded");
    }
  }

  private static SimpleModule idsAsText() {
    var module = new SimpleModule("arbor-ids");
    asText(module, TenantId.class, TenantId::new);
    asText(module, TimelineId.class, TimelineId::new);
    asText(module, Lsn.class, Lsn::parse);
    return module;
  }

  /** Ids and LSNs are written as PostgreSQL and the rest of Arbor print them: {@code "0/16B5A50"}. */
  private static <T> void asText(SimpleModule module, Class<T> type, Function<String, T> parse) {
    module.addSerializer(type, new JsonSerializer<T>() {
      @Override
      public void serialize(T value, JsonGenerator gen, SerializerProvider serializers) throws IOException {
        gen.writeString(value.toString());
      }
    });
    module.addDeserializer(type, new JsonDeserializer<T>() {
      @Override
      public T deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
        return parse.apply(p.getValueAsString());
      }
    });
  }

  /** File modes as octal text ({@code "0600"}), the way people read them. */
  static final class OctalMode {
    private OctalMode() {}

    static final class Writer extends JsonSerializer<Integer> {
      @Override
      public void serialize(Integer mode, JsonGenerator gen, SerializerProvider serializers) throws IOException {
        gen.writeString(String.format("%04o", mode));
      }
    }

    static final class Reader extends JsonDeserializer<Integer> {
      private static final Pattern OCTAL = Pattern.compile("^[0-7]{3,4}$");

      @Override
      public Integer deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
        String text = p.getValueAsString();
        if (text == null || !OCTAL.matcher(text).matches()) {
          throw new IllegalArgumentException("mode '" + text + "' is not octal text such as \"0600\"");
        }
        return Integer.parseInt(text, 8);
      }
    }
  }
}

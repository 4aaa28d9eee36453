package dev.arbor.client;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.module.SimpleModule;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.api.compute.DurationText;
import dev.arbor.api.compute.InvalidSpecException;
import dev.arbor.api.compute.InvalidSpecException.FieldError;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The compute spec as JSON: the one writer the operator and the CLI render it with, and the one reader the
 * agent accepts it with. {@link Json}'s mapping, plus {@code work_dir} as the path itself and
 * {@code suspend_timeout} as {@link DurationText} writes it. Reading refuses unknown fields, trailing data,
 * numbers for the mode and fractions for whole numbers, then {@link ComputeAgentSpec#problems() validates};
 * every refusal is an {@link InvalidSpecException} that names the field and the fix.
 */
public final class ComputeSpecJson {
  private ComputeSpecJson() {}

  private static final ObjectMapper MAPPER = Json.MAPPER.copy().registerModule(specTypes());
  private static final ObjectWriter WRITER = MAPPER.writerWithDefaultPrettyPrinter();
  private static final ObjectReader READER = MAPPER.readerFor(ComputeAgentSpec.class)
      .with(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, DeserializationFeature.FAIL_ON_TRAILING_TOKENS,
          DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
      .without(DeserializationFeature.ACCEPT_FLOAT_AS_INT);

  /** The spec as a JSON document (UTF-8, pretty-printed, nulls omitted). */
  public static byte[] write(ComputeAgentSpec spec) {
    try {
      return WRITER.writeValueAsBytes(spec);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static String toJson(ComputeAgentSpec spec) {
    return new String(write(spec), StandardCharsets.UTF_8);
  }

  public static ComputeAgentSpec parse(byte[] json) {
    return parse(new String(json, StandardCharsets.UTF_8));
  }

  /** Reads and validates a spec; an {@link InvalidSpecException} lists what is wrong, field by field. */
  public static ComputeAgentSpec parse(String json) {
    ComputeAgentSpec spec;
    try {
      spec = READER.readValue(json);
    } catch (JsonProcessingException e) {
      throw InvalidSpecException.of(fieldPath(e), jacksonProblem(e));
    }
    if (spec == null) {
      throw InvalidSpecException.of("(document)", "is empty; expected a JSON object with format_version " + ComputeAgentSpec.FORMAT_VERSION);
    }
    List<FieldError> errors = spec.problems();
    if (!errors.isEmpty()) {
      throw new InvalidSpecException(errors);
    }
    return spec;
  }

  private static SimpleModule specTypes() {
    var m = new SimpleModule("arbor-compute-spec");
    // A path written as itself, not as a file: URI.
    m.addSerializer(Path.class, Json.toStringSerializer());
    m.addDeserializer(Path.class, new JsonDeserializer<>() {
      @Override
      public Path deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
        return Path.of(p.getValueAsString());
      }
    });
    m.addSerializer(Duration.class, new JsonSerializer<>() {
      @Override
      public void serialize(Duration value, JsonGenerator gen, SerializerProvider serializers) throws IOException {
        gen.writeString(DurationText.format(value));
      }
    });
    m.addDeserializer(Duration.class, new JsonDeserializer<>() {
      @Override
      public Duration deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
        return DurationText.parse(p.getValueAsString());
      }
    });
    return m;
  }

  /** The JSON path of a mapping error, e.g. {@code roles[1].name}. */
  private static String fieldPath(JsonProcessingException e) {
    if (!(e instanceof JsonMappingException m) || m.getPath().isEmpty()) {
      return "(document)";
    }
    StringBuilder s = new StringBuilder();
    for (JsonMappingException.Reference ref : m.getPath()) {
      if (ref.getFieldName() != null) {
        if (!s.isEmpty()) {
          s.append('.');
        }
        s.append(ref.getFieldName());
      } else if (ref.getIndex() >= 0) {
        s.append('[').append(ref.getIndex()).append(']');
      }
    }
    return s.isEmpty() ? "(document)" : s.toString();
  }

  private static String jacksonProblem(JsonProcessingException e) {
    if (e instanceof UnrecognizedPropertyException u) {
      var known = new TreeSet<String>();
      if (u.getKnownPropertyIds() != null) {
        u.getKnownPropertyIds().forEach(k -> known.add(k.toString()));
      }
      return "is not a field of the compute spec; known fields here: " + known;
    }
    if (e instanceof InvalidFormatException f && f.getTargetType() == Mode.class) {
      return "'" + f.getValue() + "' is not a mode; use read_write or read_only";
    }
    for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
      if (t instanceof IllegalArgumentException) {
        return t.getMessage(); // from the id, LSN and duration types: they say what a valid value looks like
      }
    }
    if (e instanceof MismatchedInputException m && m.getTargetType() != null) {
      return "has the wrong type: expected " + typeName(m.getTargetType());
    }
    if (!(e instanceof JsonMappingException)) {
      var loc = e.getLocation();
      return "is not valid JSON" + (loc == null ? "" : " (line " + loc.getLineNr() + ", column " + loc.getColumnNr() + ")")
          + ": " + e.getOriginalMessage().lines().findFirst().orElse("");
    }
    return e.getOriginalMessage().lines().findFirst().orElse(e.toString());
  }

  private static String typeName(Class<?> type) {
    if (type == Integer.class || type == int.class) {
      return "a whole number";
    }
    if (type == Boolean.class || type == boolean.class) {
      return "true or false";
    }
    if (Map.class.isAssignableFrom(type) || type.isRecord()) {
      return "an object";
    }
    if (List.class.isAssignableFrom(type)) {
      return "an array";
    }
    return "a string";
  }
}

package dev.arbor.client;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The one JSON mapping of the storage engine, for object-storage documents and the HTTP APIs alike:
 * snake_case fields, LSNs as PostgreSQL prints them ({@code "0/16B5A50"}), ids as hex strings,
 * timestamps as ISO-8601, nulls omitted.
 */
public final class Json {
  private Json() {}

  public static final ObjectMapper MAPPER = JsonMapper.builder()
      .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
      .addModule(new JavaTimeModule())
      .addModule(arborTypes())
      .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .serializationInclusion(JsonInclude.Include.NON_NULL)
      .build();

  public static byte[] write(Object value) {
    try {
      return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static <T> T read(byte[] json, Class<T> type) {
    try {
      return MAPPER.readValue(json, type);
    } catch (IOException e) {
      throw new UncheckedIOException("malformed " + type.getSimpleName() + " document: " + e.getMessage(), e);
    }
  }

  private static SimpleModule arborTypes() {
    var m = new SimpleModule("arbor");
    m.addSerializer(Lsn.class, toStringSerializer());
    m.addDeserializer(Lsn.class, new JsonDeserializer<>() {
      @Override
      public Lsn deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
        return Lsn.parse(p.getValueAsString());
      }
    });
    m.addSerializer(TenantId.class, toStringSerializer());
    m.addDeserializer(TenantId.class, new JsonDeserializer<>() {
      @Override
      public TenantId deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
        return new TenantId(p.getValueAsString());
      }
    });
    m.addSerializer(TimelineId.class, toStringSerializer());
    m.addDeserializer(TimelineId.class, new JsonDeserializer<>() {
      @Override
      public TimelineId deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
        return new TimelineId(p.getValueAsString());
      }
    });
    return m;
  }

  static <T> JsonSerializer<T> toStringSerializer() {
    return new JsonSerializer<>() {
      @Override
      public void serialize(T value, JsonGenerator gen, SerializerProvider serializers) throws IOException {
        gen.writeString(value.toString());
      }
    };
  }
}

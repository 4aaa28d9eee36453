package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

/** A PostgreSQL database declared on a Project. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Database {

  @JsonPropertyDescription("Database name: a lower-case PostgreSQL identifier, e.g. app.")
  @Required
  @Pattern(Formats.PG_IDENTIFIER)
  @Size(max = 63)
  private String name;

  @JsonPropertyDescription("Role that owns the database; one of spec.roles.")
  @Required
  @Pattern(Formats.PG_IDENTIFIER)
  @Size(max = 63)
  private String owner;

  public Database() {}

  public Database(String name, String owner) {
    this.name = name;
    this.owner = owner;
  }

  public String getName() { return name; }
  public void setName(String name) { this.name = name; }
  public String getOwner() { return owner; }
  public void setOwner(String owner) { this.owner = owner; }
}

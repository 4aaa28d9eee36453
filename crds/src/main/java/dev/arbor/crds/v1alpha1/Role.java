package dev.arbor.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.ArrayList;
import java.util.List;

/** A PostgreSQL role declared on a Project. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class Role {

  @JsonPropertyDescription("Role name: a lower-case PostgreSQL identifier, e.g. app.")
  @Required
  @Pattern(Formats.PG_IDENTIFIER)
  @Size(max = 63)
  private String name;

  @JsonPropertyDescription("Role attributes as in CREATE ROLE, e.g. [LOGIN, CREATEDB]: LOGIN, CREATEDB, CREATEROLE and their NO forms, and INHERIT, NOREPLICATION, NOBYPASSRLS (CREATE ROLE's defaults). SUPERUSER is not offered (a tenant never owns the cluster), nor NOINHERIT, REPLICATION or BYPASSRLS, which the compute does not apply yet. CREATEROLE needs PostgreSQL 16 or later: before 16 it reaches every non-superuser role, pg_execute_server_program included, so the Endpoints of such a Project are Stalled with reason UnsafeRoleOption.")
  private List<RoleOption> options = new ArrayList<>();

  public Role() {}

  public Role(String name) {
    this.name = name;
  }

  public String getName() { return name; }
  public void setName(String name) { this.name = name; }
  public List<RoleOption> getOptions() { return options; }
  public void setOptions(List<RoleOption> options) { this.options = options; }
}

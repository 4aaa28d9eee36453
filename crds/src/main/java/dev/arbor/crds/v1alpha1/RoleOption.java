package dev.arbor.crds.v1alpha1;

/**
 * Attributes of CREATE ROLE a tenant may use: those the compute agent applies (its RolesAndDatabases), which are
 * LOGIN, CREATEDB and CREATEROLE with their NO forms, and INHERIT, NOREPLICATION and NOBYPASSRLS, CREATE ROLE's
 * defaults, which every role the agent creates has. SUPERUSER is left out on purpose; NOINHERIT, REPLICATION and
 * BYPASSRLS are left out because the agent does not apply them, so the API server refuses them by name.
 */
public enum RoleOption {
  LOGIN, NOLOGIN, CREATEDB, NOCREATEDB, CREATEROLE, NOCREATEROLE, INHERIT, NOREPLICATION, NOBYPASSRLS
}

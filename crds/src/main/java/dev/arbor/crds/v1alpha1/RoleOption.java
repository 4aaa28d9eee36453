package dev.arbor.crds.v1alpha1;

/** Attributes of CREATE ROLE a tenant may use; SUPERUSER is left out on purpose. */
public enum RoleOption {
  LOGIN, NOLOGIN, CREATEDB, NOCREATEDB, CREATEROLE, NOCREATEROLE, INHERIT, NOINHERIT, REPLICATION, NOREPLICATION,
  BYPASSRLS, NOBYPASSRLS
}

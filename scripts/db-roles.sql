-- Least-privilege PostgreSQL roles for provider-desk (docs/security.md, "Database roles").
--
--   owner  owns the schema and runs the migrations (MIGRATE_DATABASE_URL)
--   app    what the api, worker and bot connect as (DATABASE_URL): SELECT, INSERT, UPDATE and
--          DELETE on ordinary tables, only SELECT and INSERT on the audit log and the ledger,
--          no TRUNCATE, no DDL, and it owns nothing, so it cannot disable a trigger
--
-- Run it as a superuser (or a role with CREATEROLE that owns the database) in the app's
-- database, before or after the migrations, as often as you like:
--
--   psql -v ON_ERROR_STOP=1 -d provider_desk -f scripts/db-roles.sql \
--        -v owner=provider_desk -v app=provider_desk_app -v app_password='...' \
--        [-v owner_password='...']
--
-- The owner role is created when missing (without a password unless owner_password is given)
-- and never made a superuser here. Tables the owner creates later (future migrations) are
-- covered by default privileges; the migration that makes the audit log and the ledger
-- append-only takes UPDATE, DELETE and TRUNCATE on them back from every role but the owner.

\set ON_ERROR_STOP on

\if :{?owner}
\else
  \echo 'set -v owner=<role that owns the schema and runs the migrations>'
  \quit
\endif
\if :{?app}
\else
  \echo 'set -v app=<role the application connects as>'
  \quit
\endif
\if :{?app_password}
\else
  \echo 'set -v app_password=<the app role''s password>'
  \quit
\endif

-- roles -------------------------------------------------------------------------------------

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
\if :{?owner_password}
ALTER ROLE :"owner" WITH LOGIN PASSWORD :'owner_password';
\endif

SELECT format('CREATE ROLE %I LOGIN', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
-- The app role is never more than a login: no superuser, no role or database creation, no
-- replication, no row-level-security bypass, and it inherits no other role's rights.
ALTER ROLE :"app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    NOINHERIT PASSWORD :'app_password';

-- the database and its schema belong to the owner -------------------------------------------

SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'owner') \gexec
ALTER SCHEMA public OWNER TO :"owner";
-- Existing tables and sequences of an older install (made by whoever migrated before) move to
-- the owner, so that the app role owns nothing.
SELECT format('ALTER TABLE public.%I OWNER TO %I', c.relname, :'owner')
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
  AND pg_get_userbyid(c.relowner) <> :'owner' \gexec
SELECT format('ALTER SEQUENCE public.%I OWNER TO %I', c.relname, :'owner')
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
  AND pg_get_userbyid(c.relowner) <> :'owner'
  -- a sequence owned by a column follows its table
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) \gexec

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('REVOKE CREATE ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), :'app') \gexec
GRANT USAGE ON SCHEMA public TO :"app";

-- what the app may do -----------------------------------------------------------------------

-- tables and sequences the owner creates from now on (the migrations)
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";

-- tables and sequences that exist already
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";

-- The audit log and the ledger are append-only: read and add, nothing else. (Their triggers
-- refuse UPDATE and DELETE too; the privileges also stop TRUNCATE, which no row trigger sees.)
SELECT format('REVOKE UPDATE, DELETE, TRUNCATE ON public.%I FROM %I', t, :'app')
FROM unnest(ARRAY['audit_log', 'transactions']) AS t
WHERE to_regclass(format('public.%I', t)) IS NOT NULL \gexec
-- The schema version is the migrations' business.
SELECT format('REVOKE INSERT, UPDATE, DELETE ON public.alembic_version FROM %I', :'app')
WHERE to_regclass('public.alembic_version') IS NOT NULL \gexec

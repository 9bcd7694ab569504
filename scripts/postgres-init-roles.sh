#!/bin/sh
# The postgres container runs this once, when it initialises an empty data volume (mounted into
# /docker-entrypoint-initdb.d by docker-compose.yml): POSTGRES_USER owns the database and runs
# the migrations; the api, worker and bot connect as the non-superuser app role
# (scripts/db-roles.sql, docs/security.md). On a volume made before, run it by hand once:
#   docker compose exec postgres /docker-entrypoint-initdb.d/10-provider-desk-roles.sh
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner="$POSTGRES_USER" \
    -v app="${POSTGRES_APP_USER:-provider_desk_app}" \
    -v app_password="$POSTGRES_APP_PASSWORD" \
    -f /provider-desk/db-roles.sql

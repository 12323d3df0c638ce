#!/bin/sh
# Apply the Temporal schema to PostgreSQL with the server's own temporal-sql-tool, then exit 0. On a
# database that has the schema already, it updates it (a no-op when current; the migration after an
# upgrade). The password comes from the environment (SQL_PASSWORD), never from a command line.
set -eu
export SQL_PASSWORD="$POSTGRES_PASSWORD"
tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_HOST" -p "${POSTGRES_PORT:-5432}" -u "$POSTGRES_USER" "$@"; }
for pair in temporal:postgresql/v12/temporal temporal_visibility:postgresql/v12/visibility; do
    db=${pair%%:*}
    schema=${pair#*:}
    if ! tool --db "$db" update-schema --schema-name "$schema"; then
        tool --db "$db" create-database
        tool --db "$db" setup-schema -v 0.0
        tool --db "$db" update-schema --schema-name "$schema"
    fi
done
echo "schema ready"

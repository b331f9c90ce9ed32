-- Least-privilege roles for airflow-ops metadata DB backups (PostgreSQL 14+).
-- Run as a superuser (or the DB owner) on the metadata DB's server, e.g.
--   psql -v backup_password="'...'" -d airflow -f scripts/sql/backup_role.sql
-- then point the Airflow connection `airflow_metadata_db` at this role:
--   AIRFLOW_CONN_AIRFLOW_METADATA_DB='postgresql://airflow_ops_backup:PASSWORD@db-host:5432/airflow'
--
-- Task isolation blocks the ORM inside tasks, so the backup DAG reaches the metadata DB through
-- this connection on purpose: a read-only role that can dump but never change Airflow's data.

CREATE ROLE airflow_ops_backup LOGIN PASSWORD :backup_password
    NOSUPERUSER NOCREATEROLE NOINHERIT NOREPLICATION CONNECTION LIMIT 4;

-- Read every table, view and sequence (current and future): what pg_dump and the row counts need.
GRANT pg_read_all_data TO airflow_ops_backup;
GRANT CONNECT ON DATABASE airflow TO airflow_ops_backup;  -- adjust the DB name if it is not `airflow`

-- The backup only ever runs read-only transactions.
ALTER ROLE airflow_ops_backup SET default_transaction_read_only = on;
ALTER ROLE airflow_ops_backup SET statement_timeout = 0;

-- Optional: the weekly full restore check creates and drops `airflow_ops_restore_check_*`
-- databases. Give that job its own role (connection `restore_check_conn_id` in the config)
-- rather than adding CREATEDB to the backup role:
--   CREATE ROLE airflow_ops_restore_check LOGIN PASSWORD '...' CREATEDB;

-- First start of the stack's PostgreSQL (an empty volume): Airflow's metadata database and the
-- local warehouse (the stand-in for Redshift), separate databases with their own owners. The
-- passwords come from the container's environment (compose/.env), read with psql's \getenv.
\set ON_ERROR_STOP on
\getenv airflow_password REDFEED_AIRFLOW_DB_PASSWORD
\getenv warehouse_password REDFEED_WAREHOUSE_DB_PASSWORD

CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;

CREATE ROLE redfeed LOGIN PASSWORD :'warehouse_password';
CREATE DATABASE warehouse OWNER redfeed;

-- PostgreSQL init script for docker-compose.yml (mounted into /docker-entrypoint-initdb.d).
-- The postgres image runs it once, as the superuser, when the data volume is empty; to re-run it,
-- delete the volume (`docker compose down -v`).
--
-- One role for the services and one database per service, each owned by that role. The role is
-- no superuser: owning its databases is enough for the migrations (pg_trgm, which query-api
-- creates, is a trusted extension). CREATEDB lets the test suite create throwaway databases on
-- this server (DATABASE_URL_BASE=postgresql+asyncpg://promptworks:promptworks@127.0.0.1:54329).
-- Local use only: the password is well known.

CREATE ROLE promptworks WITH LOGIN CREATEDB PASSWORD 'promptworks';

CREATE DATABASE prompt_service OWNER promptworks;
CREATE DATABASE run_orchestrator OWNER promptworks;
CREATE DATABASE evaluator OWNER promptworks;
-- Created last: the compose healthcheck connects to it to know that this script has finished.
CREATE DATABASE query_api OWNER promptworks;

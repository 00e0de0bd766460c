/* The store over apr_dbd: the schema, every statement, and the prepare-on-
 * first-use cache that survives schema changes and database restarts. */
#include <string.h>
#include <stdlib.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_general.h>
#include <sqlite3.h>
#include "store.h"

/* A job's fields after its name, as pai_jobs and pai_jobs_deleted hold them. */
#define STORE_JOB_FIELDS \
    " username VARCHAR(64) NOT NULL, vc VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL," \
    " sub_state VARCHAR(32) NOT NULL, execution_type VARCHAR(8) NOT NULL," \
    " retries INTEGER NOT NULL, run_retries INTEGER NOT NULL, launcher_id BIGINT NOT NULL," \
    " port_base INTEGER NOT NULL, host VARCHAR(255) NOT NULL, created BIGINT NOT NULL," \
    " launched BIGINT NOT NULL, completed BIGINT NOT NULL, has_exit INTEGER NOT NULL," \
    " exit_code INTEGER NOT NULL, diagnostics VARCHAR(1024) NOT NULL, cpus BIGINT NOT NULL," \
    " memory_mb BIGINT NOT NULL, gpus BIGINT NOT NULL, submitted BIGINT NOT NULL,"

/* VARCHAR keys with a binary collation on MySQL, so that "Bob" and "bob" are
 * two users there as on SQLite. */
static const char *const store_schema[] = {
    "CREATE TABLE IF NOT EXISTS pai_users ("
    " username VARCHAR(64) NOT NULL PRIMARY KEY,"
    " password_hash VARCHAR(128) NOT NULL,"
    " admin INTEGER NOT NULL DEFAULT 0,"
    " generation BIGINT NOT NULL,"
    " created BIGINT NOT NULL,"
    " modified BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pai_vcs ("
    " name VARCHAR(64) NOT NULL PRIMARY KEY,"
    " capacity INTEGER NOT NULL,"
    " max_capacity INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pai_grants ("
    " username VARCHAR(64) NOT NULL,"
    " vc VARCHAR(64) NOT NULL,"
    " PRIMARY KEY (username, vc))",
    "CREATE TABLE IF NOT EXISTS pai_jobs ("
    " name VARCHAR(128) NOT NULL PRIMARY KEY,"
    STORE_JOB_FIELDS
    " config MEDIUMTEXT NOT NULL,"
    " version BIGINT NOT NULL DEFAULT 0,"
    " launch_tag VARCHAR(64) NOT NULL DEFAULT '',"
    " placement TEXT NOT NULL DEFAULT (''),"
    " hosts TEXT NOT NULL DEFAULT (''),"
    " protocol MEDIUMTEXT NOT NULL DEFAULT (''),"
    " tasks INTEGER NOT NULL DEFAULT 0,"
    " roles INTEGER NOT NULL DEFAULT 0,"
    " platform_retries INTEGER NOT NULL DEFAULT 0)",
    /* Every attempt of every job, as it last was: the row's attempt fields
     * copied at each save.  Kept after the job is deleted (the job's creation
     * time tells its attempts from a later job's of the same name). */
    "CREATE TABLE IF NOT EXISTS pai_job_attempts ("
    " name VARCHAR(128) NOT NULL,"
    " created BIGINT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " username VARCHAR(64) NOT NULL,"
    " state VARCHAR(16) NOT NULL,"
    " sub_state VARCHAR(32) NOT NULL,"
    " has_exit INTEGER NOT NULL,"
    " exit_code INTEGER NOT NULL,"
    " diagnostics VARCHAR(1024) NOT NULL,"
    " submitted BIGINT NOT NULL,"
    " launched BIGINT NOT NULL,"
    " completed BIGINT NOT NULL,"
    " launcher_id BIGINT NOT NULL,"
    " port_base INTEGER NOT NULL,"
    " host VARCHAR(255) NOT NULL,"
    " hosts TEXT NOT NULL,"
    " placement TEXT NOT NULL,"
    /* The first failing task and the batch script's word on it
     * (pai_exit_classify), once the attempt ended. */
    " exit_task VARCHAR(160) NOT NULL DEFAULT '',"
    " exit_why VARCHAR(32) NOT NULL DEFAULT '',"
    " PRIMARY KEY (name, created, attempt))",
    /* Each task of each attempt as the task reported it (its start, node,
     * end and exit code): kept with the attempts (the job's creation time
     * tells a job from a later one of the same name). */
    "CREATE TABLE IF NOT EXISTS pai_task_status ("
    " name VARCHAR(128) NOT NULL,"
    " created BIGINT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " role VARCHAR(64) NOT NULL,"
    " task_index INTEGER NOT NULL,"
    " node VARCHAR(255) NOT NULL,"
    " launched BIGINT NOT NULL,"
    " completed BIGINT NOT NULL,"
    " has_exit INTEGER NOT NULL,"
    " exit_code INTEGER NOT NULL,"
    " exit_why VARCHAR(32) NOT NULL,"
    " PRIMARY KEY (name, created, attempt, role, task_index))",
    /* A job's tags (/api/v2), at most PAI_JOB_TAGS_MAX each. */
    "CREATE TABLE IF NOT EXISTS pai_job_tags ("
    " name VARCHAR(128) NOT NULL,"
    " tag VARCHAR(256) NOT NULL,"
    " PRIMARY KEY (name, tag))",
    "CREATE INDEX IF NOT EXISTS pai_job_tags_tag ON pai_job_tags (tag, name)",
    /* Tokens ended before their time (logout), by their SHA-256, until they
     * would have expired anyway. */
    "CREATE TABLE IF NOT EXISTS pai_tokens_revoked ("
    " hash VARCHAR(64) NOT NULL PRIMARY KEY,"
    " expires BIGINT NOT NULL)",
    /* Tokens issued (never the token: its SHA-256), for their owners to list
     * and revoke; a row goes when its token expires or is revoked. */
    "CREATE TABLE IF NOT EXISTS pai_tokens ("
    " id VARCHAR(32) NOT NULL PRIMARY KEY,"
    " username VARCHAR(64) NOT NULL,"
    " hash VARCHAR(64) NOT NULL,"
    " created BIGINT NOT NULL,"
    " expires BIGINT NOT NULL,"
    " last_used BIGINT NOT NULL,"
    " application INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pai_tokens_user ON pai_tokens (username, created)",
    /* What happened to a job, per attempt (OpenPAI's events): one row per
     * reason and task, its count and times moved on when it happens again. */
    "CREATE TABLE IF NOT EXISTS pai_job_events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name VARCHAR(128) NOT NULL,"
    " created BIGINT NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " kind VARCHAR(16) NOT NULL,"
    " reason VARCHAR(64) NOT NULL,"
    " message VARCHAR(1024) NOT NULL,"
    " task_role VARCHAR(64) NOT NULL,"
    " task_index INTEGER NOT NULL,"
    " first_at BIGINT NOT NULL,"
    " last_at BIGINT NOT NULL,"
    " repeats INTEGER NOT NULL,"
    " source VARCHAR(32) NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pai_job_events_job ON pai_job_events (name, created, attempt)",
    /* Every change of a job's state, in the order written (the change
     * stream's ids); kept PaiStreamRetention hours. */
    "CREATE TABLE IF NOT EXISTS pai_changes ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at BIGINT NOT NULL,"
    " name VARCHAR(128) NOT NULL,"
    " created BIGINT NOT NULL,"
    " username VARCHAR(64) NOT NULL,"
    " vc VARCHAR(64) NOT NULL,"
    " state VARCHAR(16) NOT NULL,"
    " sub_state VARCHAR(32) NOT NULL,"
    " retries INTEGER NOT NULL,"
    " has_exit INTEGER NOT NULL,"
    " exit_code INTEGER NOT NULL,"
    " kind VARCHAR(16) NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pai_changes_job ON pai_changes (name, id)",
    "CREATE INDEX IF NOT EXISTS pai_changes_at ON pai_changes (at)",
    /* Webhooks: where a user's job changes are POSTed, signed with the secret;
     * cursor is the last change turned into deliveries. */
    "CREATE TABLE IF NOT EXISTS pai_webhooks ("
    " id VARCHAR(32) NOT NULL PRIMARY KEY,"
    " username VARCHAR(64) NOT NULL,"
    " url VARCHAR(2048) NOT NULL,"
    " events VARCHAR(255) NOT NULL,"
    " secret VARCHAR(255) NOT NULL,"
    " created BIGINT NOT NULL,"
    " cursor_id BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pai_webhooks_user ON pai_webhooks (username, created)",
    /* One change for one hook: pending until the receiver takes it or the
     * attempts run out; kept PAI_WEBHOOK_KEEP_DAYS after. */
    "CREATE TABLE IF NOT EXISTS pai_webhook_deliveries ("
    " id VARCHAR(64) NOT NULL PRIMARY KEY,"
    " hook_id VARCHAR(32) NOT NULL,"
    " change_id BIGINT NOT NULL,"
    " event VARCHAR(16) NOT NULL,"
    " body TEXT NOT NULL,"
    " created BIGINT NOT NULL,"
    " next_at BIGINT NOT NULL,"
    " last_at BIGINT NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " status VARCHAR(16) NOT NULL,"
    " last_status INTEGER NOT NULL,"
    " last_error VARCHAR(255) NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pai_webhook_deliveries_due ON pai_webhook_deliveries"
    " (status, next_at)",
    "CREATE INDEX IF NOT EXISTS pai_webhook_deliveries_hook ON pai_webhook_deliveries"
    " (hook_id, created)",
    /* When the launcher expects a waiting job to start (the sync writes it
     * when it changes; a job that is not waiting has none that counts). */
    "CREATE TABLE IF NOT EXISTS pai_job_waits ("
    " name VARCHAR(128) NOT NULL PRIMARY KEY,"
    " created BIGINT NOT NULL,"
    " expected_start BIGINT NOT NULL)",
    /* A v2 job's secrets, apart from its config: read only to start an attempt. */
    "CREATE TABLE IF NOT EXISTS pai_job_secrets ("
    " name VARCHAR(128) NOT NULL PRIMARY KEY,"
    " secrets MEDIUMTEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pai_cluster ("
    " id INTEGER NOT NULL PRIMARY KEY,"
    " cpus BIGINT NOT NULL,"
    " memory_mb BIGINT NOT NULL,"
    " gpus BIGINT NOT NULL,"
    " nodes INTEGER NOT NULL,"
    " updated BIGINT NOT NULL,"
    " version BIGINT NOT NULL,"
    " shapes VARCHAR(1024) NOT NULL DEFAULT '',"
    " totals_seeded INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS pai_job_keys ("
    " name VARCHAR(128) NOT NULL PRIMARY KEY,"
    " private_key MEDIUMTEXT NOT NULL,"
    " public_key VARCHAR(1024) NOT NULL,"
    " secret VARCHAR(128) NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pai_ssh_endpoints ("
    " name VARCHAR(128) NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " role VARCHAR(64) NOT NULL,"
    " task_index INTEGER NOT NULL,"
    " ip VARCHAR(64) NOT NULL,"
    " port INTEGER NOT NULL,"
    " host_key VARCHAR(1024) NOT NULL DEFAULT '',"
    " PRIMARY KEY (name, attempt, role, task_index))",
    /* Deleted jobs (DELETE /api/v1/jobs/:jobName): the name is free again, and
     * the job's last row and config stay here for admins. */
    "CREATE TABLE IF NOT EXISTS pai_jobs_deleted ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " deleted_at BIGINT NOT NULL,"
    " deleted_by VARCHAR(64) NOT NULL,"
    " name VARCHAR(128) NOT NULL,"
    STORE_JOB_FIELDS
    " launch_tag VARCHAR(64) NOT NULL,"
    " placement TEXT NOT NULL,"
    " hosts TEXT NOT NULL,"
    " config MEDIUMTEXT NOT NULL,"
    " protocol MEDIUMTEXT NOT NULL DEFAULT (''),"
    " platform_retries INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS pai_jobs_deleted_name ON pai_jobs_deleted (name, id)",
    /* Who runs the one sync and admission loop of all servers, until when. */
    "CREATE TABLE IF NOT EXISTS pai_lease ("
    " name VARCHAR(32) NOT NULL PRIMARY KEY,"
    " holder VARCHAR(160) NOT NULL,"
    " expires BIGINT NOT NULL)",
    /* Failed logins per key ("u:" user@address, "a:" address) in a fixed window. */
    "CREATE TABLE IF NOT EXISTS pai_login_failures ("
    " fkey VARCHAR(160) NOT NULL PRIMARY KEY,"
    " window_start BIGINT NOT NULL,"
    " failures INTEGER NOT NULL)",
    /* Every state-changing call; the id orders them (AUTO_INCREMENT on MySQL). */
    "CREATE TABLE IF NOT EXISTS pai_audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at BIGINT NOT NULL,"
    " actor VARCHAR(64) NOT NULL,"
    " address VARCHAR(64) NOT NULL,"
    " action VARCHAR(32) NOT NULL,"
    " target VARCHAR(255) NOT NULL,"
    " outcome INTEGER NOT NULL,"
    " detail VARCHAR(255) NOT NULL,"
    " repeats INTEGER NOT NULL DEFAULT 1)",
    "CREATE INDEX IF NOT EXISTS pai_audit_actor ON pai_audit (actor, id)",
    "CREATE INDEX IF NOT EXISTS pai_audit_address ON pai_audit (address, id)",
    "CREATE INDEX IF NOT EXISTS pai_audit_at ON pai_audit (at)",
    "CREATE INDEX IF NOT EXISTS pai_jobs_user_state ON pai_jobs (username, state)",
    /* Pages walk one of these backwards and stop after LIMIT rows: the name
     * breaks ties in the ORDER BY, so it must be in the index too, or the
     * database sorts every matching row for each page. */
    "CREATE INDEX IF NOT EXISTS pai_jobs_page ON pai_jobs (created, name)",
    "CREATE INDEX IF NOT EXISTS pai_jobs_user_page ON pai_jobs (username, created, name)",
    "CREATE INDEX IF NOT EXISTS pai_jobs_state_page ON pai_jobs (state, created, name)",
    "CREATE INDEX IF NOT EXISTS pai_jobs_vc_page ON pai_jobs (vc, created, name)",
    /* The active jobs' sums per VC, state and queued or not, kept by the
     * triggers below with every write of pai_jobs: each admission reads a
     * few rows here, where summing the active jobs cost O(active) under the
     * admission lock (bench (d), 12,000 active jobs: 1.3 ms a submission on
     * SQLite from a covering index, more on MariaDB).  Rows stay at 0 once
     * their jobs ended. */
    "CREATE TABLE IF NOT EXISTS pai_active_totals ("
    " vc VARCHAR(64) NOT NULL,"
    " state VARCHAR(16) NOT NULL,"
    " queued INTEGER NOT NULL,"
    " jobs BIGINT NOT NULL,"
    " cpus BIGINT NOT NULL,"
    " memory_mb BIGINT NOT NULL,"
    " gpus BIGINT NOT NULL,"
    " PRIMARY KEY (vc, state, queued))",
    NULL
};

/* What one job adds to pai_active_totals, as the triggers' SQL: R is NEW or OLD. */
#define STORE_TOTALS_ACTIVE(R) R ".state IN ('WAITING', 'RUNNING')"
#define STORE_TOTALS_QUEUED(R) "CASE WHEN " R ".sub_state = 'QUEUED' THEN 1 ELSE 0 END"
#define STORE_TOTALS_KEY(R) "vc = " R ".vc AND state = " R ".state AND queued = " \
    STORE_TOTALS_QUEUED(R)
#define STORE_TOTALS_SUBTRACT "UPDATE pai_active_totals SET jobs = jobs - 1," \
    " cpus = cpus - OLD.cpus, memory_mb = memory_mb - OLD.memory_mb, gpus = gpus - OLD.gpus" \
    " WHERE " STORE_TOTALS_KEY("OLD")
#define STORE_TOTALS_INSERT "INSERT INTO pai_active_totals" \
    " (vc, state, queued, jobs, cpus, memory_mb, gpus)" \
    " VALUES (NEW.vc, NEW.state, " STORE_TOTALS_QUEUED("NEW") ", 1, NEW.cpus, NEW.memory_mb," \
    " NEW.gpus)"
/* Only a change of what the sums count touches them: the sync rewrites
 * running jobs' rows often, and the totals' rows are each VC's hot spot. */
#define STORE_TOTALS_CHANGED "(OLD.state <> NEW.state OR OLD.vc <> NEW.vc" \
    " OR " STORE_TOTALS_QUEUED("OLD") " <> " STORE_TOTALS_QUEUED("NEW") \
    " OR OLD.cpus <> NEW.cpus OR OLD.memory_mb <> NEW.memory_mb OR OLD.gpus <> NEW.gpus)"

/* The triggers that keep pai_active_totals, in each database's dialect (its
 * upsert, SQLite's WHEN, MySQL's compound statements). */
#define STORE_TOTALS_SQLITE_UPSERT " ON CONFLICT (vc, state, queued) DO UPDATE SET" \
    " jobs = jobs + 1, cpus = cpus + excluded.cpus, memory_mb = memory_mb + excluded.memory_mb," \
    " gpus = gpus + excluded.gpus"
static const char *const store_totals_sqlite[] = {
    "CREATE TRIGGER IF NOT EXISTS pai_jobs_totals_insert AFTER INSERT ON pai_jobs"
    " WHEN " STORE_TOTALS_ACTIVE("NEW") " BEGIN " STORE_TOTALS_INSERT
    STORE_TOTALS_SQLITE_UPSERT "; END",
    "CREATE TRIGGER IF NOT EXISTS pai_jobs_totals_delete AFTER DELETE ON pai_jobs"
    " WHEN " STORE_TOTALS_ACTIVE("OLD") " BEGIN " STORE_TOTALS_SUBTRACT "; END",
    "CREATE TRIGGER IF NOT EXISTS pai_jobs_totals_update AFTER UPDATE ON pai_jobs"
    " WHEN " STORE_TOTALS_CHANGED " BEGIN "
    STORE_TOTALS_SUBTRACT " AND " STORE_TOTALS_ACTIVE("OLD") "; "
    "INSERT INTO pai_active_totals (vc, state, queued, jobs, cpus, memory_mb, gpus)"
    " SELECT NEW.vc, NEW.state, " STORE_TOTALS_QUEUED("NEW") ", 1, NEW.cpus, NEW.memory_mb,"
    " NEW.gpus WHERE " STORE_TOTALS_ACTIVE("NEW")
    STORE_TOTALS_SQLITE_UPSERT "; END",
    NULL
};
#define STORE_TOTALS_MYSQL_ADD STORE_TOTALS_INSERT " ON DUPLICATE KEY UPDATE jobs = jobs + 1," \
    " cpus = cpus + VALUES(cpus), memory_mb = memory_mb + VALUES(memory_mb)," \
    " gpus = gpus + VALUES(gpus)"
static const char *const store_totals_mysql[] = {
    "CREATE TRIGGER IF NOT EXISTS pai_jobs_totals_insert AFTER INSERT ON pai_jobs FOR EACH ROW"
    " BEGIN IF " STORE_TOTALS_ACTIVE("NEW") " THEN " STORE_TOTALS_MYSQL_ADD "; END IF; END",
    "CREATE TRIGGER IF NOT EXISTS pai_jobs_totals_delete AFTER DELETE ON pai_jobs FOR EACH ROW"
    " BEGIN IF " STORE_TOTALS_ACTIVE("OLD") " THEN " STORE_TOTALS_SUBTRACT "; END IF; END",
    "CREATE TRIGGER IF NOT EXISTS pai_jobs_totals_update AFTER UPDATE ON pai_jobs FOR EACH ROW"
    " BEGIN IF " STORE_TOTALS_CHANGED " THEN"
    " IF " STORE_TOTALS_ACTIVE("OLD") " THEN " STORE_TOTALS_SUBTRACT "; END IF;"
    " IF " STORE_TOTALS_ACTIVE("NEW") " THEN " STORE_TOTALS_MYSQL_ADD "; END IF;"
    " END IF; END",
    NULL
};
/* Columns added after a table first shipped: a database made by an older
 * module gets them at start (the statement fails where they exist already). */
static const char *const store_migrations[] = {
    "ALTER TABLE pai_jobs ADD COLUMN launch_tag VARCHAR(64) NOT NULL DEFAULT ''",
    "ALTER TABLE pai_ssh_endpoints ADD COLUMN host_key VARCHAR(1024) NOT NULL DEFAULT ''",
    "ALTER TABLE pai_audit ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE pai_jobs ADD COLUMN placement TEXT NOT NULL DEFAULT ('')",
    "ALTER TABLE pai_jobs ADD COLUMN hosts TEXT NOT NULL DEFAULT ('')",
    "ALTER TABLE pai_cluster ADD COLUMN shapes VARCHAR(1024) NOT NULL DEFAULT ''",
    "ALTER TABLE pai_jobs ADD COLUMN protocol MEDIUMTEXT NOT NULL DEFAULT ('')",
    /* Older rows read 0 tasks and roles in v2's lists. */
    "ALTER TABLE pai_jobs ADD COLUMN tasks INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE pai_jobs ADD COLUMN roles INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE pai_jobs ADD COLUMN platform_retries INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE pai_jobs_deleted ADD COLUMN platform_retries INTEGER NOT NULL DEFAULT 0",
    /* 0 until pai_active_totals holds the sums of the jobs already there. */
    "ALTER TABLE pai_cluster ADD COLUMN totals_seeded INTEGER NOT NULL DEFAULT 0",
    /* The index that admission summed from before pai_active_totals: each
     * job write kept it for nothing.  SQLite's form, then MySQL's. */
    "DROP INDEX IF EXISTS pai_jobs_active_totals",
    "DROP INDEX IF EXISTS pai_jobs_active_totals ON pai_jobs",
    NULL
};
#define STORE_MYSQL_TABLE_OPTIONS " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

#define JOB_SELECT JOB_COLS ", version"
#define JOB_COLS "name, username, vc, state, sub_state, execution_type, retries, run_retries," \
    " launcher_id, port_base, host, created, launched, completed, has_exit, exit_code," \
    " diagnostics, cpus, memory_mb, gpus, submitted, launch_tag, placement, hosts," \
    " platform_retries"

#define HOOK_COLS "id, username, url, events, secret, created, cursor_id"
#define DELIVERY_COLS "id, hook_id, change_id, event, created, next_at, last_at, attempts," \
    " status, last_status, last_error"

typedef enum {
    ST_USER_GET, ST_USER_INSERT, ST_USER_SET_PASSWORD, ST_USER_SET_ADMIN,
    ST_USER_DELETE, ST_GRANTS_DELETE, ST_GRANT_INSERT, ST_GRANTS_GET,
    ST_VC_GET, ST_VC_LIST, ST_VC_INSERT, ST_VC_UPDATE, ST_VC_DELETE,
    ST_JOB_INSERT, ST_JOB_GET, ST_JOB_LIST_ACTIVE, ST_JOB_SAVE,
    ST_JOB_DELETE_UNSUBMITTED, ST_JOB_SET_LAUNCHED, ST_JOB_LIST_QUEUED,
    ST_CLUSTER_GET, ST_CLUSTER_INSERT, ST_CLUSTER_SET, ST_CLUSTER_LOCK,
    ST_KEYS_INSERT, ST_KEYS_GET, ST_KEYS_DELETE, ST_EP_DELETE, ST_EP_INSERT, ST_EP_LIST,
    ST_LOGIN_GET, ST_LOGIN_BUMP, ST_LOGIN_INSERT, ST_LOGIN_CLEAR, ST_LOGIN_EXPIRE,
    ST_AUDIT_INSERT, ST_ACTIVE_TOTALS, ST_LEASE_INSERT, ST_LEASE_TAKE, ST_LEASE_GET,
    ST_LEASE_RELEASE, ST_JOB_CONFIG, ST_KEYS_SET_SECRET, ST_EP_GET, ST_USER_JOB_COUNTS,
    ST_LOGIN_UNDO, ST_AUDIT_LAST_ANON, ST_AUDIT_REPEAT, ST_AUDIT_EXPIRE,
    ST_USER_LIST, ST_GRANTS_ALL, ST_JOB_ARCHIVE, ST_JOB_DELETE, ST_EP_DELETE_JOB,
    ST_JOB_PROTOCOL, ST_SECRETS_INSERT, ST_SECRETS_GET, ST_SECRETS_DELETE,
    ST_TOKEN_REVOKE, ST_TOKEN_REVOKED, ST_TOKENS_EXPIRE, ST_TOKEN_ADD, ST_TOKEN_LIST,
    ST_TOKEN_GET, ST_TOKEN_DELETE, ST_TOKEN_USED, ST_TOKEN_ROWS_EXPIRE,
    ST_WAIT_DELETE, ST_WAIT_INSERT, ST_WAIT_GET, ST_EVENT_FIND, ST_EVENT_BUMP, ST_EVENT_INSERT,
    ST_EVENT_LIST, ST_EVENT_DELETE_JOB, ST_CHANGE_LAST, ST_CHANGE_INSERT, ST_CHANGE_DELETED,
    ST_CHANGES_AFTER, ST_CHANGES_BOUNDS,
    ST_CHANGES_EXPIRE,
    ST_HOOK_COUNT, ST_HOOK_INSERT, ST_HOOK_LIST, ST_HOOK_LIST_ALL, ST_HOOK_GET,
    ST_HOOK_DELETE, ST_HOOK_DELIVERIES_DELETE, ST_HOOK_CURSOR, ST_HOOK_DELIVERY_INSERT,
    ST_HOOK_DUE, ST_HOOK_ATTEMPT, ST_HOOK_DELIVERIES, ST_HOOK_DELIVERIES_EXPIRE,
    ST_HOOK_USER_DELIVERIES_DELETE, ST_HOOK_USER_DELETE,
    ST_TAG_INSERT, ST_TAG_DELETE, ST_TAGS_GET, ST_TAGS_DELETE,
    ST_ATTEMPT_UPDATE, ST_ATTEMPT_INSERT, ST_ATTEMPTS_GET, ST_ATTEMPT_LAUNCHED, ST_ATTEMPT_EXIT,
    ST_ATTEMPT_EXISTS, ST_ATTEMPT_EXIT_GET, ST_TASK_GET, ST_TASK_INSERT, ST_TASK_STARTED, ST_TASK_EXITED,
    ST_TASKS_GET, ST_TOTALS_SEEDED, ST_TOTALS_CLEAR, ST_TOTALS_SEED, ST_TOTALS_SEEDED_SET,
    ST__COUNT
} store_stmt;

/* quiet: a write no answer shows (the sync's lease, renewed every cycle),
 * which leaves the answer cache's epoch where it is. */
static const struct { const char *label; const char *sql; int quiet; } store_sql[ST__COUNT] = {
    [ST_USER_GET] = {"pai_user_get",
        "SELECT username, password_hash, admin, generation FROM pai_users WHERE username = %s"},
    [ST_USER_INSERT] = {"pai_user_insert",
        "INSERT INTO pai_users (username, password_hash, admin, generation, created, modified)"
        " VALUES (%s, %s, %d, %lld, %lld, %lld)"},
    [ST_USER_SET_PASSWORD] = {"pai_user_set_password",
        "UPDATE pai_users SET password_hash = %s, generation = generation + 1, modified = %lld"
        " WHERE username = %s"},
    [ST_USER_SET_ADMIN] = {"pai_user_set_admin",
        "UPDATE pai_users SET admin = %d, modified = %lld WHERE username = %s"},
    [ST_USER_DELETE] = {"pai_user_delete", "DELETE FROM pai_users WHERE username = %s"},
    [ST_GRANTS_DELETE] = {"pai_grants_delete", "DELETE FROM pai_grants WHERE username = %s"},
    [ST_GRANT_INSERT] = {"pai_grant_insert",
        "INSERT INTO pai_grants (username, vc) VALUES (%s, %s)"},
    [ST_GRANTS_GET] = {"pai_grants_get",
        "SELECT g.vc FROM pai_grants g JOIN pai_vcs v ON v.name = g.vc"
        " WHERE g.username = %s ORDER BY g.vc"},
    [ST_USER_LIST] = {"pai_user_list",
        "SELECT username, admin FROM pai_users ORDER BY username"},
    [ST_GRANTS_ALL] = {"pai_grants_all",
        "SELECT g.username, g.vc FROM pai_grants g JOIN pai_vcs v ON v.name = g.vc"
        " ORDER BY g.username, g.vc"},
    [ST_VC_GET] = {"pai_vc_get",
        "SELECT name, capacity, max_capacity FROM pai_vcs WHERE name = %s"},
    [ST_VC_LIST] = {"pai_vc_list",
        "SELECT name, capacity, max_capacity FROM pai_vcs ORDER BY name"},
    [ST_VC_INSERT] = {"pai_vc_insert",
        "INSERT INTO pai_vcs (name, capacity, max_capacity) VALUES (%s, %d, %d)"},
    [ST_VC_UPDATE] = {"pai_vc_update",
        "UPDATE pai_vcs SET capacity = %d, max_capacity = %d WHERE name = %s"},
    [ST_VC_DELETE] = {"pai_vc_delete", "DELETE FROM pai_vcs WHERE name = %s"},
    [ST_JOB_INSERT] = {"pai_job_insert",
        "INSERT INTO pai_jobs (" JOB_COLS ", config, protocol, tasks, roles) VALUES (%s, %s, %s,"
        " %s, %s, %s, %d, %d, %lld, %d, %s, %lld, %lld, %lld, %d, %d, %s, %lld, %lld, %lld, %lld,"
        " %s, %s, %s, %d, %s, %s, %d, %d)"},
    [ST_JOB_GET] = {"pai_job_get",
        "SELECT " JOB_SELECT ", config FROM pai_jobs WHERE name = %s"},
    [ST_JOB_LIST_ACTIVE] = {"pai_job_list_active",
        "SELECT " JOB_SELECT " FROM pai_jobs WHERE state IN ('WAITING', 'RUNNING')"},
    [ST_JOB_SAVE] = {"pai_job_save",
        "UPDATE pai_jobs SET state = %s, sub_state = %s, execution_type = %s, retries = %d,"
        " run_retries = %d, launcher_id = %lld, port_base = %d, host = %s, launched = %lld,"
        " completed = %lld, has_exit = %d, exit_code = %d, diagnostics = %s, submitted = %lld,"
        " launch_tag = %s, placement = %s, hosts = %s, platform_retries = %d,"
        " version = version + 1"   /* MySQL counts changed rows, not matched ones */
        " WHERE name = %s AND retries = %d AND version = %lld"},
    [ST_JOB_LIST_QUEUED] = {"pai_job_list_queued",
        "SELECT " JOB_SELECT " FROM pai_jobs WHERE state = 'WAITING' AND sub_state = 'QUEUED'"
        " ORDER BY submitted, name"},
    [ST_CLUSTER_GET] = {"pai_cluster_get",
        "SELECT cpus, memory_mb, gpus, nodes, updated, shapes FROM pai_cluster WHERE id = 1"},
    [ST_CLUSTER_INSERT] = {"pai_cluster_insert",
        "INSERT INTO pai_cluster (id, cpus, memory_mb, gpus, nodes, updated, version)"
        " VALUES (1, 0, 0, 0, 0, 0, 0)"},
    [ST_CLUSTER_SET] = {"pai_cluster_set",
        "UPDATE pai_cluster SET cpus = %lld, memory_mb = %lld, gpus = %lld, nodes = %d,"
        " updated = %lld, shapes = %s, version = version + 1 WHERE id = 1"},
    [ST_CLUSTER_LOCK] = {"pai_cluster_lock",
        "UPDATE pai_cluster SET version = version + 1 WHERE id = 1"},
    [ST_KEYS_INSERT] = {"pai_keys_insert",
        "INSERT INTO pai_job_keys (name, private_key, public_key, secret) VALUES (%s, %s, %s, %s)"},
    [ST_KEYS_GET] = {"pai_keys_get",
        "SELECT private_key, public_key, secret FROM pai_job_keys WHERE name = %s"},
    [ST_KEYS_DELETE] = {"pai_keys_delete", "DELETE FROM pai_job_keys WHERE name = %s"},
    [ST_JOB_ARCHIVE] = {"pai_job_archive",
        "INSERT INTO pai_jobs_deleted (deleted_at, deleted_by, " JOB_COLS ", config, protocol)"
        " SELECT %lld, %s, " JOB_COLS ", config, protocol FROM pai_jobs"
        " WHERE name = %s AND version = %lld"},
    [ST_JOB_DELETE] = {"pai_job_delete",
        "DELETE FROM pai_jobs WHERE name = %s AND version = %lld"},
    [ST_EP_DELETE_JOB] = {"pai_ep_delete_job", "DELETE FROM pai_ssh_endpoints WHERE name = %s"},
    [ST_JOB_PROTOCOL] = {"pai_job_protocol", "SELECT protocol FROM pai_jobs WHERE name = %s"},
    [ST_SECRETS_INSERT] = {"pai_secrets_insert",
        "INSERT INTO pai_job_secrets (name, secrets) VALUES (%s, %s)"},
    [ST_SECRETS_GET] = {"pai_secrets_get", "SELECT secrets FROM pai_job_secrets WHERE name = %s"},
    [ST_SECRETS_DELETE] = {"pai_secrets_delete", "DELETE FROM pai_job_secrets WHERE name = %s"},
#define ATTEMPT_FIELDS "username, state, sub_state, has_exit, exit_code, diagnostics," \
    " submitted, launched, completed, launcher_id, port_base, host, hosts, placement"
    [ST_ATTEMPT_UPDATE] = {"pai_attempt_update",
        "UPDATE pai_job_attempts SET username = %s, state = %s, sub_state = %s, has_exit = %d,"
        " exit_code = %d, diagnostics = %s, submitted = %lld, launched = %lld, completed = %lld,"
        " launcher_id = %lld, port_base = %d, host = %s, hosts = %s, placement = %s"
        " WHERE name = %s AND created = %lld AND attempt = %d"},
    [ST_ATTEMPT_INSERT] = {"pai_attempt_insert",
        "INSERT INTO pai_job_attempts (" ATTEMPT_FIELDS ", name, created, attempt) VALUES (%s,"
        " %s, %s, %d, %d, %s, %lld, %lld, %lld, %lld, %d, %s, %s, %s, %s, %lld, %d)"},
    [ST_TASK_GET] = {"pai_task_get",
        "SELECT node FROM pai_task_status WHERE name = %s AND created = %lld AND attempt = %d"
        " AND role = %s AND task_index = %d"},
    [ST_TASK_INSERT] = {"pai_task_insert",
        "INSERT INTO pai_task_status (node, launched, completed, has_exit, exit_code, exit_why,"
        " name, created, attempt, role, task_index)"
        " VALUES (%s, %lld, %lld, %d, %d, %s, %s, %lld, %d, %s, %d)"},
    /* A report adds what it knows (a start, or an end); what an earlier one
     * said stays.  (No test on a bound value in SQL: SQLite binds text, and
     * '0' = 0 is false there.) */
    [ST_TASK_STARTED] = {"pai_task_started",
        "UPDATE pai_task_status SET node = %s, launched = %lld"
        " WHERE name = %s AND created = %lld AND attempt = %d AND role = %s AND task_index = %d"},
    [ST_TASK_EXITED] = {"pai_task_exited",
        "UPDATE pai_task_status SET node = %s, completed = %lld, has_exit = 1, exit_code = %d,"
        " exit_why = %s"
        " WHERE name = %s AND created = %lld AND attempt = %d AND role = %s AND task_index = %d"},
    [ST_TASKS_GET] = {"pai_tasks_get",
        "SELECT role, task_index, node, launched, completed, has_exit, exit_code, exit_why"
        " FROM pai_task_status WHERE name = %s AND created = %lld AND attempt = %d"},
    [ST_ATTEMPT_EXIT_GET] = {"pai_attempt_exit_get",
        "SELECT exit_task, exit_why FROM pai_job_attempts"
        " WHERE name = %s AND created = %lld AND attempt = %d"},
    [ST_ATTEMPT_EXISTS] = {"pai_attempt_exists",
        "SELECT attempt FROM pai_job_attempts WHERE name = %s AND created = %lld AND attempt = %d"},
    [ST_ATTEMPT_EXIT] = {"pai_attempt_exit",
        "UPDATE pai_job_attempts SET exit_task = %s, exit_why = %s"
        " WHERE name = %s AND created = %lld AND attempt = %d"},
    [ST_ATTEMPTS_GET] = {"pai_attempts_get",
        "SELECT attempt, " ATTEMPT_FIELDS ", exit_task, exit_why FROM pai_job_attempts"
        " WHERE name = %s AND created = %lld ORDER BY attempt"},
    [ST_ATTEMPT_LAUNCHED] = {"pai_attempt_launched",
        "UPDATE pai_job_attempts SET launcher_id = %lld, placement = %s, sub_state = 'PENDING'"
        " WHERE name = %s AND attempt = %d AND created = (SELECT created FROM pai_jobs"
        " WHERE name = %s)"},
    [ST_TAG_INSERT] = {"pai_tag_insert", "INSERT INTO pai_job_tags (name, tag) VALUES (%s, %s)"},
    [ST_TAG_DELETE] = {"pai_tag_delete", "DELETE FROM pai_job_tags WHERE name = %s AND tag = %s"},
    [ST_TAGS_GET] = {"pai_tags_get",
        "SELECT tag FROM pai_job_tags WHERE name = %s ORDER BY tag"},
    [ST_TAGS_DELETE] = {"pai_tags_delete", "DELETE FROM pai_job_tags WHERE name = %s"},
    [ST_TOKEN_REVOKE] = {"pai_token_revoke",
        "INSERT INTO pai_tokens_revoked (hash, expires) VALUES (%s, %lld)"},
    [ST_TOKEN_REVOKED] = {"pai_token_revoked",
        "SELECT hash FROM pai_tokens_revoked WHERE hash = %s"},
    [ST_TOKENS_EXPIRE] = {"pai_tokens_expire", "DELETE FROM pai_tokens_revoked WHERE expires < %lld"},
    [ST_TOKEN_ADD] = {"pai_token_add",
        "INSERT INTO pai_tokens (id, username, hash, created, expires, last_used, application)"
        " VALUES (%s, %s, %s, %lld, %lld, %lld, %d)"},
    /* Bounded: a user who logs in often has many (each expires). */
    [ST_TOKEN_LIST] = {"pai_token_list",
        "SELECT id, username, hash, created, expires, last_used, application FROM pai_tokens"
        " WHERE username = %s AND expires > %lld ORDER BY created DESC, id LIMIT 1000"},
    [ST_TOKEN_GET] = {"pai_token_get",
        "SELECT id, username, hash, created, expires, last_used, application FROM pai_tokens"
        " WHERE id = %s"},
    [ST_TOKEN_DELETE] = {"pai_token_delete", "DELETE FROM pai_tokens WHERE id = %s"},
    [ST_TOKEN_USED] = {"pai_token_used", "UPDATE pai_tokens SET last_used = %lld WHERE id = %s"},
    [ST_WAIT_DELETE] = {"pai_wait_delete", "DELETE FROM pai_job_waits WHERE name = %s"},
    [ST_EVENT_FIND] = {"pai_event_find",
        "SELECT id FROM pai_job_events WHERE name = %s AND created = %lld AND attempt = %d"
        " AND reason = %s AND task_role = %s AND task_index = %d"},
    [ST_EVENT_BUMP] = {"pai_event_bump",
        "UPDATE pai_job_events SET repeats = repeats + 1, last_at = %lld, message = %s,"
        " kind = %s WHERE id = %lld"},
    [ST_EVENT_INSERT] = {"pai_event_insert",
        "INSERT INTO pai_job_events (name, created, attempt, kind, reason, message, task_role,"
        " task_index, first_at, last_at, repeats, source)"
        " VALUES (%s, %lld, %d, %s, %s, %s, %s, %d, %lld, %lld, 1, %s)"},
    /* The newest first, as OpenPAI sorted them (bounded). */
    [ST_EVENT_LIST] = {"pai_event_list",
        "SELECT attempt, kind, reason, message, task_role, task_index, first_at, last_at,"
        " repeats, source FROM pai_job_events WHERE name = %s AND created = %lld"
        " ORDER BY last_at DESC, id DESC LIMIT 1000"},
    [ST_EVENT_DELETE_JOB] = {"pai_event_delete_job", "DELETE FROM pai_job_events WHERE name = %s"},
    /* A job's last change (a plain read: MySQL's INSERT ... SELECT would lock
     * ranges of pai_changes that saves of other jobs insert into). */
    [ST_CHANGE_LAST] = {"pai_change_last",
        "SELECT created, state, sub_state, retries, kind FROM pai_changes WHERE name = %s"
        " ORDER BY id DESC LIMIT 1"},
    [ST_CHANGE_INSERT] = {"pai_change_insert",
        "INSERT INTO pai_changes (at, name, created, username, vc, state, sub_state, retries,"
        " has_exit, exit_code, kind) VALUES (%lld, %s, %lld, %s, %s, %s, %s, %d, %d, %d, 'job')"},
    [ST_CHANGE_DELETED] = {"pai_change_deleted",
        "INSERT INTO pai_changes (at, name, created, username, vc, state, sub_state, retries,"
        " has_exit, exit_code, kind) SELECT %lld, name, created, username, vc, state,"
        " sub_state, retries, has_exit, exit_code, 'deleted' FROM pai_jobs WHERE name = %s"},
    [ST_HOOK_COUNT] = {"pai_hook_count",
        "SELECT COUNT(*) FROM pai_webhooks WHERE username = %s"},
    [ST_HOOK_INSERT] = {"pai_hook_insert",
        "INSERT INTO pai_webhooks (id, username, url, events, secret, created, cursor_id)"
        " VALUES (%s, %s, %s, %s, %s, %lld, %lld)"},
    [ST_HOOK_LIST] = {"pai_hook_list",
        "SELECT " HOOK_COLS " FROM pai_webhooks WHERE username = %s ORDER BY created, id"},
    [ST_HOOK_LIST_ALL] = {"pai_hook_list_all",
        "SELECT " HOOK_COLS " FROM pai_webhooks ORDER BY created, id"},
    [ST_HOOK_GET] = {"pai_hook_get", "SELECT " HOOK_COLS " FROM pai_webhooks WHERE id = %s"},
    [ST_HOOK_DELETE] = {"pai_hook_delete", "DELETE FROM pai_webhooks WHERE id = %s"},
    [ST_HOOK_DELIVERIES_DELETE] = {"pai_hook_deliveries_delete",
        "DELETE FROM pai_webhook_deliveries WHERE hook_id = %s"},
    [ST_HOOK_CURSOR] = {"pai_hook_cursor",
        "UPDATE pai_webhooks SET cursor_id = %lld WHERE id = %s"},
    [ST_HOOK_DELIVERY_INSERT] = {"pai_hook_delivery_insert",
        "INSERT INTO pai_webhook_deliveries (id, hook_id, change_id, event, body, created,"
        " next_at, last_at, attempts, status, last_status, last_error)"
        " VALUES (%s, %s, %lld, %s, %s, %lld, %lld, 0, 0, 'pending', 0, '')"},
    [ST_HOOK_DUE] = {"pai_hook_due",
        "SELECT " DELIVERY_COLS ", body FROM pai_webhook_deliveries"
        " WHERE status = 'pending' AND next_at <= %lld ORDER BY next_at, id LIMIT %d"},
    [ST_HOOK_ATTEMPT] = {"pai_hook_attempt",
        "UPDATE pai_webhook_deliveries SET attempts = %d, status = %s, next_at = %lld,"
        " last_at = %lld, last_status = %d, last_error = %s WHERE id = %s"},
    [ST_HOOK_DELIVERIES] = {"pai_hook_deliveries",
        "SELECT " DELIVERY_COLS " FROM pai_webhook_deliveries WHERE hook_id = %s"
        " ORDER BY created DESC, change_id DESC LIMIT %d"},
    [ST_HOOK_DELIVERIES_EXPIRE] = {"pai_hook_deliveries_expire",
        "DELETE FROM pai_webhook_deliveries WHERE status <> 'pending' AND last_at < %lld"},
    [ST_HOOK_USER_DELIVERIES_DELETE] = {"pai_hook_user_deliveries_delete",
        "DELETE FROM pai_webhook_deliveries WHERE hook_id IN"
        " (SELECT id FROM pai_webhooks WHERE username = %s)"},
    [ST_HOOK_USER_DELETE] = {"pai_hook_user_delete",
        "DELETE FROM pai_webhooks WHERE username = %s"},
    [ST_CHANGES_AFTER] = {"pai_changes_after",
        "SELECT id, at, name, created, username, vc, state, sub_state, retries, has_exit,"
        " exit_code, kind FROM pai_changes WHERE id > %lld ORDER BY id LIMIT %d"},
    [ST_CHANGES_BOUNDS] = {"pai_changes_bounds",
        "SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM pai_changes"},
    [ST_CHANGES_EXPIRE] = {"pai_changes_expire",
        "DELETE FROM pai_changes WHERE at < %lld AND id < %lld"},
    [ST_WAIT_INSERT] = {"pai_wait_insert",
        "INSERT INTO pai_job_waits (name, created, expected_start) VALUES (%s, %lld, %lld)"},
    [ST_WAIT_GET] = {"pai_wait_get",
        "SELECT expected_start FROM pai_job_waits WHERE name = %s AND created = %lld"},
    [ST_TOKEN_ROWS_EXPIRE] = {"pai_token_rows_expire",
        "DELETE FROM pai_tokens WHERE expires < %lld"},
    [ST_EP_DELETE] = {"pai_ep_delete",
        "DELETE FROM pai_ssh_endpoints WHERE name = %s AND attempt = %d AND role = %s"
        " AND task_index = %d"},
    [ST_EP_INSERT] = {"pai_ep_insert",
        "INSERT INTO pai_ssh_endpoints (name, attempt, role, task_index, ip, port, host_key)"
        " VALUES (%s, %d, %s, %d, %s, %d, %s)"},
    [ST_EP_GET] = {"pai_ep_get",
        "SELECT port FROM pai_ssh_endpoints WHERE name = %s AND attempt = %d AND role = %s"
        " AND task_index = %d"},
    [ST_EP_LIST] = {"pai_ep_list",
        "SELECT role, task_index, ip, port, host_key FROM pai_ssh_endpoints"
        " WHERE name = %s AND attempt = %d"
        " ORDER BY role, task_index"},
    [ST_JOB_SET_LAUNCHED] = {"pai_job_set_launched",
        "UPDATE pai_jobs SET launcher_id = %lld, sub_state = 'PENDING', placement = %s,"
        " version = version + 1 WHERE name = %s AND retries = %d AND launcher_id = 0"},
    [ST_LOGIN_GET] = {"pai_login_get",
        "SELECT window_start, failures FROM pai_login_failures WHERE fkey = %s"},
    /* failures first: MySQL evaluates SET left to right with the new values. */
    [ST_LOGIN_BUMP] = {"pai_login_bump",
        "UPDATE pai_login_failures SET"
        " failures = CASE WHEN window_start <= %lld THEN 1 ELSE failures + 1 END,"
        " window_start = CASE WHEN window_start <= %lld THEN %lld ELSE window_start END"
        " WHERE fkey = %s"},
    [ST_LOGIN_INSERT] = {"pai_login_insert",
        "INSERT INTO pai_login_failures (fkey, window_start, failures) VALUES (%s, %lld, 1)"},
    [ST_LOGIN_CLEAR] = {"pai_login_clear", "DELETE FROM pai_login_failures WHERE fkey = %s"},
    [ST_LOGIN_EXPIRE] = {"pai_login_expire",
        "DELETE FROM pai_login_failures WHERE window_start < %lld"},
    /* Kept by the triggers on pai_jobs: the admission lock is held
     * meanwhile, and the active jobs may be thousands. */
    [ST_ACTIVE_TOTALS] = {"pai_active_totals",
        "SELECT vc, queued, state, jobs, cpus, memory_mb, gpus FROM pai_active_totals"
        " WHERE jobs <> 0"},
    [ST_TOTALS_SEEDED] = {"pai_totals_seeded",
        "SELECT totals_seeded FROM pai_cluster WHERE id = 1"},
    [ST_TOTALS_CLEAR] = {"pai_totals_clear", "DELETE FROM pai_active_totals"},
    /* The jobs a database had before its triggers, summed once. */
    [ST_TOTALS_SEED] = {"pai_totals_seed",
        "INSERT INTO pai_active_totals (vc, state, queued, jobs, cpus, memory_mb, gpus)"
        " SELECT vc, state, queued, COUNT(*), SUM(cpus), SUM(memory_mb), SUM(gpus) FROM"
        " (SELECT vc, state, CASE WHEN sub_state = 'QUEUED' THEN 1 ELSE 0 END AS queued,"
        " cpus, memory_mb, gpus FROM pai_jobs WHERE state IN ('WAITING', 'RUNNING')) AS a"
        " GROUP BY vc, state, queued"},
    [ST_TOTALS_SEEDED_SET] = {"pai_totals_seeded_set",
        "UPDATE pai_cluster SET totals_seeded = 1 WHERE id = 1"},
    [ST_LEASE_INSERT] = {"pai_lease_insert",
        "INSERT INTO pai_lease (name, holder, expires) VALUES (%s, '', 0)", 1},
    /* Renewed by its holder, taken over by anyone once expired. */
    [ST_LEASE_TAKE] = {"pai_lease_take",
        "UPDATE pai_lease SET holder = %s, expires = %lld"
        " WHERE name = %s AND (holder = %s OR expires < %lld)", 1},
    [ST_LEASE_GET] = {"pai_lease_get", "SELECT holder, expires FROM pai_lease WHERE name = %s"},
    [ST_LEASE_RELEASE] = {"pai_lease_release",
        "UPDATE pai_lease SET expires = 0 WHERE name = %s AND holder = %s", 1},
    [ST_AUDIT_INSERT] = {"pai_audit_insert",
        "INSERT INTO pai_audit (at, actor, address, action, target, outcome, detail)"
        " VALUES (%lld, %s, %s, %s, %s, %d, %s)"},
    [ST_JOB_CONFIG] = {"pai_job_config", "SELECT config FROM pai_jobs WHERE name = %s"},
    [ST_KEYS_SET_SECRET] = {"pai_keys_set_secret",
        "UPDATE pai_job_keys SET secret = %s WHERE name = %s"},
    [ST_USER_JOB_COUNTS] = {"pai_user_job_counts",
        "SELECT state, COUNT(*) FROM pai_jobs WHERE username = %s"
        " AND state IN ('WAITING', 'RUNNING') GROUP BY state"},
    [ST_LOGIN_UNDO] = {"pai_login_undo",
        "UPDATE pai_login_failures SET failures = failures - 1 WHERE fkey = %s AND failures > 0"},
    [ST_AUDIT_LAST_ANON] = {"pai_audit_last_anon",
        "SELECT id FROM pai_audit WHERE address = %s AND actor = '' AND action = %s"
        " AND target = %s AND outcome = %d AND at >= %lld ORDER BY id DESC LIMIT 1"},
    [ST_AUDIT_REPEAT] = {"pai_audit_repeat",
        "UPDATE pai_audit SET repeats = repeats + 1, detail = %s WHERE id = %lld"},
    [ST_AUDIT_EXPIRE] = {"pai_audit_expire", "DELETE FROM pai_audit WHERE at < %lld"},
    [ST_JOB_DELETE_UNSUBMITTED] = {"pai_job_delete_unsubmitted",
        "DELETE FROM pai_jobs WHERE name = %s AND launcher_id = 0 AND retries = 0"},
};

static int store_is_mysql(pai_db *db)
{
    return strcmp(apr_dbd_name(db->driver), "mysql") == 0;
}

static int store_is_sqlite(pai_db *db)
{
    return strcmp(apr_dbd_name(db->driver), "sqlite3") == 0;
}

/* MariaDB's ER_LOCK_DEADLOCK: InnoDB rolled the transaction back. Two
 * servers' writes of job rows meet in pai_active_totals (its triggers) and
 * pai_changes in either order. */
#define STORE_MYSQL_DEADLOCK 1213

static pai_error *store_fail(pai_db *db, apr_pool_t *p, int rv, const char *what)
{
    const char *msg = apr_dbd_error(db->driver, db->handle, rv);
    db->deadlocked = rv == STORE_MYSQL_DEADLOCK && !store_is_sqlite(db);
    /* apr_dbd_mysql reads the connection's message, and a prepared
     * statement's error is the statement's: the code is all there is. */
    return pai_error_make(p, PAI_ERR_DB, "database error (%s): %s", what,
                          msg && *msg ? msg : apr_psprintf(p, "code %d", rv));
}

/* SQLite: one writer per process at a time, whole transactions included.
 * apr_dbd_sqlite3 runs every statement of a process under one mutex, so a
 * writer waiting for SQLite's lock inside it would stall the very thread that
 * holds the lock (a deadlock until the busy timeout).  Writers of one process
 * queue here instead; across processes SQLite's busy timeout does the rest. */
static void store_write_lock(pai_db *db)
{
    if (db->write_lock)
        apr_thread_mutex_lock(db->write_lock);
}

static void store_write_unlock(pai_db *db)
{
    if (db->write_lock)
        apr_thread_mutex_unlock(db->write_lock);
}

static int store_tx_start(pai_db *db, apr_pool_t *p, apr_dbd_transaction_t **tx)
{
    int rv;
    store_write_lock(db);
    if ((rv = apr_dbd_transaction_start(db->driver, p, db->handle, tx)))
        store_write_unlock(db);
    else
        db->in_tx = 1;
    return rv;
}

/* After a write is in the database (never before: a reader that saw the
 * old epoch and then read the new rows only wastes its answer). */
static void store_wrote(pai_db *db)
{
    if (db->write_epoch)
        apr_atomic_inc32(db->write_epoch);
}

static int store_tx_end(pai_db *db, apr_pool_t *p, apr_dbd_transaction_t *tx)
{
    int rv = apr_dbd_transaction_end(db->driver, p, tx);
    db->in_tx = 0;
    store_wrote(db);
    store_write_unlock(db);
    return rv;
}

/* Statements are prepared on first use on each connection and kept in the
 * connection's own cache: statements prepared once at startup go stale for
 * good after a schema change (SQLite) or a server restart (MySQL). */
static apr_dbd_prepared_t *store_prepare_sql(pai_db *db, const char *label, const char *sql,
                                             int fresh)
{
    apr_dbd_prepared_t *stmt = fresh ? NULL
        : apr_hash_get(db->prepared, label, APR_HASH_KEY_STRING);

    if (!stmt) {
        /* The cache lives as long as the connection; apr_hash keeps the key's
         * pointer, so the key must too (page labels are made per request). */
        label = apr_pstrdup(db->conn_pool, label);
        if (apr_dbd_prepare(db->driver, db->conn_pool, db->handle, sql, label, &stmt) != 0)
            return NULL;
        apr_hash_set(db->prepared, label, APR_HASH_KEY_STRING, stmt);
    }
    return stmt;
}

static apr_dbd_prepared_t *store_prepare(pai_db *db, store_stmt st, int fresh)
{
    return store_prepare_sql(db, store_sql[st].label, store_sql[st].sql, fresh);
}

/* Runs a statement; retries with a freshly prepared one (a schema change by
 * another process, or a MySQL server restart, outdates a prepared statement;
 * while processes make the schema at start, that may happen twice). */
static int store_run(pai_db *db, apr_pool_t *p, store_stmt st, int nargs,
                     const char **args, int *nrows, apr_dbd_results_t **res, int random)
{
    int attempt, rv = -1;

    for (attempt = 0; attempt < 3; attempt++) {
        apr_dbd_prepared_t *stmt = store_prepare(db, st, attempt > 0);
        int n = 0;
        if (!stmt)
            continue;
        if (res) {
            *res = NULL;
            rv = apr_dbd_pselect(db->driver, p, db->handle, res, stmt, random, nargs, args);
        }
        else {
            rv = apr_dbd_pquery(db->driver, p, db->handle, &n, stmt, nargs, args);
            if (nrows)
                *nrows = n;
        }
        if (rv == 0)
            return 0;
    }
    return rv ? rv : -1;
}

static pai_error *store_exec(pai_db *db, apr_pool_t *p, store_stmt st, int nargs,
                             const char **args, int *nrows)
{
    int rv;
    store_write_lock(db);
    rv = store_run(db, p, st, nargs, args, nrows, NULL, 0);
    if (!store_sql[st].quiet)
        store_wrote(db);
    store_write_unlock(db);
    return rv ? store_fail(db, p, rv, store_sql[st].label) : NULL;
}

/* For a row or two, read with store_row (random access: the rest may stay unread). */
static pai_error *store_select(pai_db *db, apr_pool_t *p, store_stmt st, int nargs,
                               const char **args, apr_dbd_results_t **res)
{
    int rv = store_run(db, p, st, nargs, args, NULL, res, 1);
    return rv ? store_fail(db, p, rv, store_sql[st].label) : NULL;
}

/* For lists, read to the end with store_next: both drivers seek a random-access
 * row by walking from the first, which made a list of n rows cost n^2. */
static pai_error *store_select_all(pai_db *db, apr_pool_t *p, store_stmt st, int nargs,
                                   const char **args, apr_dbd_results_t **res)
{
    int rv = store_run(db, p, st, nargs, args, NULL, res, 0);
    return rv ? store_fail(db, p, rv, store_sql[st].label) : NULL;
}

/* Rows of a random-access result by number from 1: apr_dbd_mysql refuses
 * rownum -1 in that mode.  Returns NULL past the last row. */
static apr_dbd_row_t *store_row(pai_db *db, apr_pool_t *p, apr_dbd_results_t *res, int *cursor)
{
    apr_dbd_row_t *row = NULL;
    return apr_dbd_get_row(db->driver, p, res, &row, ++*cursor) == 0 ? row : NULL;
}

static apr_dbd_row_t *store_next(pai_db *db, apr_pool_t *p, apr_dbd_results_t *res)
{
    apr_dbd_row_t *row = NULL;
    return apr_dbd_get_row(db->driver, p, res, &row, -1) == 0 ? row : NULL;
}

static const char *store_col(pai_db *db, apr_dbd_row_t *row, int col)
{
    const char *v = apr_dbd_get_entry(db->driver, row, col);
    return v ? v : "";
}

static const char *i64(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

static apr_int64_t now_sec(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

const char *pai_store_sqlite_unlocked(void)
{
    /* Each fails (SQLITE_MISUSE) once SQLite is initialized: it then stays
     * serialized, which is slower and as correct. */
    if (sqlite3_config(SQLITE_CONFIG_MULTITHREAD) != SQLITE_OK)
        return "SQLite is already in use: it keeps its locks";
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return NULL;
}

/* MySQL: the one number a query on the catalogue answers; -1 when it fails.
 * Asked before DDL that would change nothing: CREATE TRIGGER and DROP INDEX
 * take the table's exclusive metadata lock even then, and a process making
 * its schema while others serve made a submission's transaction the victim
 * of a metadata-lock deadlock (bench (d): a 503, "pai_job_insert"). */
static int store_mysql_count(pai_db *db, apr_pool_t *p, const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row;
    int cur = 0, n = -1;

    if (apr_dbd_select(db->driver, p, db->handle, &res, sql, 1) == 0 &&
        (row = store_row(db, p, res, &cur)))
        n = atoi(store_col(db, row, 0));
    return n;
}

/* The tables, their indexes, each migration an older schema lacks, the
 * triggers. */
static pai_error *store_schema_make(pai_db *db, apr_pool_t *p)
{
    const char *const *ddl;
    int n, rv;

    for (ddl = store_schema; *ddl; ddl++) {
        const char *sql = *ddl;
        if (store_is_mysql(db) && !strncmp(sql, "CREATE TABLE", 12)) {
            const char *ai = strstr(sql, "INTEGER PRIMARY KEY AUTOINCREMENT");
            if (ai)
                sql = apr_pstrcat(p, apr_pstrmemdup(p, sql, (apr_size_t)(ai - sql)),
                                  "BIGINT PRIMARY KEY AUTO_INCREMENT",
                                  ai + strlen("INTEGER PRIMARY KEY AUTOINCREMENT"), NULL);
            sql = apr_pstrcat(p, sql, STORE_MYSQL_TABLE_OPTIONS, NULL);
        }
        /* A statement is prepared against the connection's cached schema
         * and fails once if that is stale; that failure loads it anew. */
        if ((rv = apr_dbd_query(db->driver, db->handle, &n, sql)) &&
            (rv = apr_dbd_query(db->driver, db->handle, &n, sql)))
            return store_fail(db, p, rv, "schema");
    }
    /* Each migration adds what an older schema lacks; on a schema that has
     * it, it fails (a duplicate column) and that is the expected answer. */
    for (ddl = store_migrations; *ddl; ddl++)
        if (!store_is_mysql(db) || strncmp(*ddl, "DROP INDEX", 10) ||
            store_mysql_count(db, p, "SELECT COUNT(*) FROM information_schema.STATISTICS"
                              " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'pai_jobs'"
                              " AND INDEX_NAME = 'pai_jobs_active_totals'") != 0)
            (void)apr_dbd_query(db->driver, db->handle, &n, *ddl);
    /* After the migrations: the triggers name columns they may add.  MySQL
     * with a binary log may refuse them to a user without SUPER (README). */
    if (store_is_mysql(db) &&
        store_mysql_count(db, p, "SELECT COUNT(*) FROM information_schema.TRIGGERS"
                          " WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'pai_jobs'"
                          " AND TRIGGER_NAME LIKE 'pai\\_jobs\\_totals\\_%'") == 3)
        return NULL;
    for (ddl = store_is_mysql(db) ? store_totals_mysql : store_totals_sqlite; *ddl; ddl++)
        if ((rv = apr_dbd_query(db->driver, db->handle, &n, *ddl)) &&
            (rv = apr_dbd_query(db->driver, db->handle, &n, *ddl)))
            return store_fail(db, p, rv, "schema triggers");
    return NULL;
}

/* Once per database, under the admission lock: pai_active_totals gets the
 * sums of the jobs written before its triggers were (an older module's).
 * The triggers are in place by then, so a write that commits before this
 * counts once: its trigger's sum is replaced by the seed that reads it. */
static pai_error *store_totals_seed(pai_db *db, apr_pool_t *p)
{
    apr_dbd_transaction_t *tx;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0, seeded;

    if ((err = pai_store_admission_begin(db, p, &tx)))
        return err;
    err = store_select(db, p, ST_TOTALS_SEEDED, 0, NULL, &res);
    seeded = !err && (row = store_row(db, p, res, &cur)) && atoi(store_col(db, row, 0));
    if (!err && !seeded && !(err = store_exec(db, p, ST_TOTALS_CLEAR, 0, NULL, NULL)) &&
        !(err = store_exec(db, p, ST_TOTALS_SEED, 0, NULL, NULL)))
        err = store_exec(db, p, ST_TOTALS_SEEDED_SET, 0, NULL, NULL);
    return err ? (pai_store_admission_end(db, p, tx, 0), err)
               : pai_store_admission_end(db, p, tx, 1);
}

pai_error *pai_store_init(pai_db *db, apr_pool_t *p)
{
    pai_vc *vc;
    pai_error *err;
    int n, rv;

    if (!store_is_mysql(db)) {
        /* WAL lets readers and one writer of several processes proceed; it
         * persists in the file, so a failure here (a racing process) is harmless. */
        apr_dbd_results_t *res = NULL;
        int cur = 0;
        if (apr_dbd_select(db->driver, p, db->handle, &res, "PRAGMA journal_mode=WAL", 1) == 0)
            while (store_row(db, p, res, &cur))
                ;
    }
    /* On SQLite the schema is made in one write transaction: apr_dbd_sqlite3
     * prepares with the legacy sqlite3_prepare, which fails a statement when
     * another process changed the schema since ("database schema has
     * changed") where sqlite3_prepare_v2 would prepare it again.  Holding the
     * write lock, nobody else changes it between a statement's failure (which
     * reloads this connection's copy) and its second try, and processes
     * starting at once on a new file each wait their turn (busy_timeout).
     * MySQL commits each DDL statement by itself. */
    if (!store_is_mysql(db)) {
        store_write_lock(db);
        if ((rv = apr_dbd_query(db->driver, db->handle, &n, "BEGIN IMMEDIATE"))) {
            store_write_unlock(db);
            return store_fail(db, p, rv, "schema begin");
        }
    }
    err = store_schema_make(db, p);
    if (!store_is_mysql(db)) {
        rv = apr_dbd_query(db->driver, db->handle, &n, err ? "ROLLBACK" : "COMMIT");
        store_write_unlock(db);
        if (!err && rv)
            err = store_fail(db, p, rv, "schema commit");
    }
    if (err)
        return err;
    {
        /* The one cluster row; a racing process may insert it first. */
        apr_dbd_results_t *res;
        int cur = 0;
        if ((err = store_select(db, p, ST_CLUSTER_GET, 0, NULL, &res)))
            return err;
        if (!store_row(db, p, res, &cur) &&
            (err = store_exec(db, p, ST_CLUSTER_INSERT, 0, NULL, NULL))) {
            cur = 0;
            if (store_select(db, p, ST_CLUSTER_GET, 0, NULL, &res) || !store_row(db, p, res, &cur))
                return err;
        }
    }
    if ((err = store_totals_seed(db, p)))
        return err;
    if ((err = pai_store_vc_get(db, p, "default", &vc)))
        return err;
    if (!vc) {
        const char *args[] = {"default", "100", "100"};
        err = store_exec(db, p, ST_VC_INSERT, 3, args, NULL);
        /* Another process may have inserted it first. */
        if (err && (pai_store_vc_get(db, p, "default", &vc) || !vc))
            return err;
    }
    return NULL;
}

pai_error *pai_store_user_get(pai_db *db, apr_pool_t *p, const char *username,
                              pai_user **out)
{
    const char *args[] = {username};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0;

    *out = NULL;
    if ((err = store_select(db, p, ST_USER_GET, 1, args, &res)))
        return err;
    if ((row = store_row(db, p, res, &cur))) {
        pai_user *u = apr_pcalloc(p, sizeof(*u));
        u->username = apr_pstrdup(p, store_col(db, row, 0));
        u->password_hash = apr_pstrdup(p, store_col(db, row, 1));
        u->admin = atoi(store_col(db, row, 2)) != 0;
        u->generation = apr_atoi64(store_col(db, row, 3));
        *out = u;
    }
    return NULL;
}

pai_error *pai_store_user_create(pai_db *db, apr_pool_t *p, const char *username,
                                 const char *password_hash, int admin)
{
    apr_uint32_t seed = 0;
    apr_int64_t now = now_sec();
    const char *args[6];
    pai_user *u;
    pai_error *err;

    /* A random first generation: a user deleted and made again under the same
     * name must not inherit the old account's tokens. */
    apr_generate_random_bytes((unsigned char *)&seed, sizeof(seed));
    args[0] = username;
    args[1] = password_hash;
    args[2] = admin ? "1" : "0";
    args[3] = i64(p, (apr_int64_t)(seed & 0x3fffffff));
    args[4] = i64(p, now);
    args[5] = args[4];
    err = store_exec(db, p, ST_USER_INSERT, 6, args, NULL);
    if (err && !pai_store_user_get(db, p, username, &u) && u)
        return pai_error_make(p, PAI_ERR_CONFLICT_USER, "User name %s already exists.", username);
    return err;
}

pai_error *pai_store_user_update(pai_db *db, apr_pool_t *p, const char *username,
                                 const char *password_hash, int admin)
{
    const char *now = i64(p, now_sec());
    apr_dbd_transaction_t *tx = NULL;
    pai_error *err;
    pai_user *u;
    int rv;

    rv = store_tx_start(db, p, &tx);
    if (rv)
        return store_fail(db, p, rv, "begin");
    err = pai_store_user_get(db, p, username, &u);
    if (!err && !u)
        err = pai_error_make(p, PAI_ERR_NO_USER, "User %s not found.", username);
    if (!err && password_hash) {
        const char *args[] = {password_hash, now, username};
        err = store_exec(db, p, ST_USER_SET_PASSWORD, 3, args, NULL);
    }
    if (!err && admin >= 0) {
        const char *args[] = {admin ? "1" : "0", now, username};
        err = store_exec(db, p, ST_USER_SET_ADMIN, 3, args, NULL);
    }
    if (err)
        apr_dbd_transaction_mode_set(db->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
    rv = store_tx_end(db, p, tx);
    if (!err && rv)
        err = store_fail(db, p, rv, "commit");
    return err;
}

pai_error *pai_store_user_delete(pai_db *db, apr_pool_t *p, const char *username)
{
    const char *args[] = {username};
    apr_dbd_transaction_t *tx = NULL;
    pai_error *err;
    int n = 0, rv;

    rv = store_tx_start(db, p, &tx);
    if (rv)
        return store_fail(db, p, rv, "begin");
    err = store_exec(db, p, ST_GRANTS_DELETE, 1, args, NULL);
    /* Their webhooks go too: nobody would own them. */
    if (!err)
        err = store_exec(db, p, ST_HOOK_USER_DELIVERIES_DELETE, 1, args, NULL);
    if (!err)
        err = store_exec(db, p, ST_HOOK_USER_DELETE, 1, args, NULL);
    if (!err)
        err = store_exec(db, p, ST_USER_DELETE, 1, args, &n);
    if (!err && n == 0)
        err = pai_error_make(p, PAI_ERR_NO_USER, "User %s not found.", username);
    if (err)
        apr_dbd_transaction_mode_set(db->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
    rv = store_tx_end(db, p, tx);
    if (!err && rv)
        err = store_fail(db, p, rv, "commit");
    return err;
}

static pai_vc *store_vc_row(pai_db *db, apr_pool_t *p, apr_dbd_row_t *row)
{
    pai_vc *vc = apr_pcalloc(p, sizeof(*vc));
    vc->name = apr_pstrdup(p, store_col(db, row, 0));
    vc->capacity = atoi(store_col(db, row, 1));
    vc->max_capacity = atoi(store_col(db, row, 2));
    return vc;
}

pai_error *pai_store_vc_get(pai_db *db, apr_pool_t *p, const char *name, pai_vc **out)
{
    const char *args[] = {name};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0;

    *out = NULL;
    if ((err = store_select(db, p, ST_VC_GET, 1, args, &res)))
        return err;
    while ((row = store_row(db, p, res, &cur)))
        if (!*out)
            *out = store_vc_row(db, p, row);
    return NULL;
}

pai_error *pai_store_vc_list(pai_db *db, apr_pool_t *p, apr_array_header_t **out)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *out = apr_array_make(p, 4, sizeof(pai_vc));
    if ((err = store_select_all(db, p, ST_VC_LIST, 0, NULL, &res)))
        return err;
    while ((row = store_next(db, p, res)))
        APR_ARRAY_PUSH(*out, pai_vc) = *store_vc_row(db, p, row);
    return NULL;
}

pai_error *pai_store_vcs_sync(pai_db *db, apr_pool_t *p, const apr_array_header_t *vcs)
{
    apr_array_header_t *old;
    pai_error *err;
    int i, k;

    for (i = 0; i < vcs->nelts; i++) {
        const pai_vc *want = &APR_ARRAY_IDX(vcs, i, pai_vc);
        const char *args[] = {want->name, apr_itoa(p, want->capacity),
                              apr_itoa(p, want->max_capacity)};
        pai_vc *have;
        if ((err = pai_store_vc_get(db, p, want->name, &have)))
            return err;
        if (!have) {
            /* Another process may add it first; then it is there all the same. */
            if ((err = store_exec(db, p, ST_VC_INSERT, 3, args, NULL)) &&
                (pai_store_vc_get(db, p, want->name, &have) || !have))
                return err;
        }
        else if (have->capacity != want->capacity || have->max_capacity != want->max_capacity) {
            const char *uargs[] = {args[1], args[2], want->name};
            if ((err = store_exec(db, p, ST_VC_UPDATE, 3, uargs, NULL)))
                return err;
        }
    }
    if ((err = pai_store_vc_list(db, p, &old)))
        return err;
    for (i = 0; i < old->nelts; i++) {
        const char *name = APR_ARRAY_IDX(old, i, pai_vc).name;
        int keep = 0;
        for (k = 0; k < vcs->nelts; k++)
            keep |= !strcmp(APR_ARRAY_IDX(vcs, k, pai_vc).name, name);
        if (!keep) {
            const char *args[] = {name};
            if ((err = store_exec(db, p, ST_VC_DELETE, 1, args, NULL)))
                return err;
        }
    }
    return NULL;
}

pai_error *pai_store_grants_set(pai_db *db, apr_pool_t *p, const char *username,
                                const apr_array_header_t *vcs)
{
    const char *args[2] = {username, NULL};
    apr_dbd_transaction_t *tx = NULL;
    pai_error *err;
    int i, rv;

    rv = store_tx_start(db, p, &tx);
    if (rv)
        return store_fail(db, p, rv, "begin");
    err = store_exec(db, p, ST_GRANTS_DELETE, 1, args, NULL);
    for (i = 0; !err && i < vcs->nelts; i++) {
        args[1] = APR_ARRAY_IDX(vcs, i, const char *);
        err = store_exec(db, p, ST_GRANT_INSERT, 2, args, NULL);
    }
    if (err)
        apr_dbd_transaction_mode_set(db->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
    rv = store_tx_end(db, p, tx);
    if (!err && rv)
        err = store_fail(db, p, rv, "commit");
    return err;
}

pai_error *pai_store_user_list(pai_db *db, apr_pool_t *p, apr_array_header_t **out)
{
    apr_hash_t *by_name = apr_hash_make(p);
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *out = apr_array_make(p, 16, sizeof(pai_user_entry));
    if ((err = store_select_all(db, p, ST_USER_LIST, 0, NULL, &res)))
        return err;
    while ((row = store_next(db, p, res))) {
        pai_user_entry *u = apr_array_push(*out);
        u->username = apr_pstrdup(p, store_col(db, row, 0));
        u->admin = atoi(store_col(db, row, 1)) != 0;
        u->vcs = apr_array_make(p, 2, sizeof(const char *));
        apr_hash_set(by_name, u->username, APR_HASH_KEY_STRING, u);
    }
    if ((err = store_select_all(db, p, ST_GRANTS_ALL, 0, NULL, &res)))
        return err;
    while ((row = store_next(db, p, res))) {
        pai_user_entry *u = apr_hash_get(by_name, store_col(db, row, 0), APR_HASH_KEY_STRING);
        if (u)      /* a user removed between the two reads */
            APR_ARRAY_PUSH(u->vcs, const char *) = apr_pstrdup(p, store_col(db, row, 1));
    }
    return NULL;
}

pai_error *pai_store_grants_get(pai_db *db, apr_pool_t *p, const char *username,
                                apr_array_header_t **out)
{
    const char *args[] = {username};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *out = apr_array_make(p, 4, sizeof(const char *));
    if ((err = store_select_all(db, p, ST_GRANTS_GET, 1, args, &res)))
        return err;
    while ((row = store_next(db, p, res)))
        APR_ARRAY_PUSH(*out, const char *) = apr_pstrdup(p, store_col(db, row, 0));
    return NULL;
}

/* ---- jobs ---------------------------------------------------------------- */

/* A list shows a summary of each job: only these columns are read for it. */
#define JOB_SUMMARY "name, username, vc, state, sub_state, execution_type, retries, created," \
    " completed, has_exit, exit_code"

/* v2's lists show these too. */
#define JOB_SUMMARY_V2 JOB_SUMMARY ", launched, gpus, tasks, roles, platform_retries"

/* A list's rows as either way of reading gives them.  On SQLite a list is
 * read from SQLite itself, on the request's own connection: apr_dbd_sqlite3
 * steps every row of a select into pool copies inside one mutex that all
 * statements of the process share, so one long list held every other query
 * of its process back (bench/README.md, (b)).  Other drivers: apr_dbd. */
typedef struct store_rows {
    pai_db *db;
    apr_pool_t *p;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    sqlite3_stmt *stmt;
    int failed;                      /* SQLite: a step failed (not the end) */
} store_rows;

static void store_rows_init(store_rows *rs, pai_db *db, apr_pool_t *p)
{
    memset(rs, 0, sizeof(*rs));
    rs->db = db;
    rs->p = p;
}

static apr_status_t store_rows_finalize(void *stmt)
{
    sqlite3_finalize(stmt);
    return APR_SUCCESS;
}

/* Runs sql, written for apr_dbd's binary arguments (%s: a string, %d: an
 * int *, %lld: an apr_int64_t *), on SQLite's own handle of db. */
static pai_error *store_rows_sqlite(pai_db *db, apr_pool_t *p, const char *label, const char *sql,
                                    const void **args, store_rows *rs)
{
    sqlite3 *h = apr_dbd_native_handle(db->driver, db->handle);
    char *q = apr_palloc(p, strlen(sql) + 1), *o = q;
    char *types = apr_palloc(p, strlen(sql) / 2 + 1);   /* a placeholder is 2+ characters */
    const char *s;
    int k = 0, rc;

    /* apr_dbd's placeholders become SQLite's, typed as apr_dbd binds them. */
    for (s = sql; *s; s++) {
        if (s[0] == '%' && (s[1] == 's' || s[1] == 'd')) {
            types[k++] = s[1];
            *o++ = '?';
            s++;
        } else if (!strncmp(s, "%lld", 4)) {
            types[k++] = 'l';
            *o++ = '?';
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    store_rows_init(rs, db, p);
    if (!h || sqlite3_prepare_v2(h, q, -1, &rs->stmt, NULL) != SQLITE_OK) {
        pai_error *e = pai_error_make(p, PAI_ERR_DB, "database error (%s): %s", label,
                                      h ? sqlite3_errmsg(h) : "no SQLite handle");
        sqlite3_finalize(rs->stmt);
        rs->stmt = NULL;
        return e;
    }
    apr_pool_cleanup_register(p, rs->stmt, store_rows_finalize, apr_pool_cleanup_null);
    for (rc = SQLITE_OK; k-- > 0 && rc == SQLITE_OK;)
        rc = types[k] == 's' ? sqlite3_bind_text(rs->stmt, k + 1, args[k], -1, SQLITE_STATIC)
           : types[k] == 'd' ? sqlite3_bind_int(rs->stmt, k + 1, *(const int *)args[k])
           : sqlite3_bind_int64(rs->stmt, k + 1, *(const apr_int64_t *)args[k]);
    return rc == SQLITE_OK ? NULL : pai_error_make(p, PAI_ERR_DB, "database error (%s): %s",
                                                   label, sqlite3_errmsg(h));
}

/* The next row (1), or the end (0). */
static int store_rows_next(store_rows *rs)
{
    if (rs->stmt) {
        int rc = sqlite3_step(rs->stmt);
        rs->failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
        return rc == SQLITE_ROW;
    }
    rs->row = NULL;
    return apr_dbd_get_row(rs->db->driver, rs->p, rs->res, &rs->row, -1) == 0;
}

/* After the last row: a read that ended early is an error, not a short list. */
static pai_error *store_rows_end(const store_rows *rs, const char *label)
{
    return rs->failed ? pai_error_make(rs->p, PAI_ERR_DB, "database error (%s): %s", label,
                                       sqlite3_errmsg(sqlite3_db_handle(rs->stmt)))
                      : NULL;
}

static const char *store_rows_col(const store_rows *rs, int col)
{
    if (rs->stmt) {
        const unsigned char *v = sqlite3_column_text(rs->stmt, col);
        return v ? (const char *)v : "";
    }
    return store_col(rs->db, rs->row, col);
}

/* A number column: SQLite's integer as it is stored, not formatted as text
 * to be parsed again. */
static apr_int64_t store_rows_int(const store_rows *rs, int col)
{
    return rs->stmt ? (apr_int64_t)sqlite3_column_int64(rs->stmt, col)
                    : apr_atoi64(store_col(rs->db, rs->row, col));
}

static pai_job_row *store_job_summary_row(apr_pool_t *p, const store_rows *rs)
{
    pai_job_row *j = apr_pcalloc(p, sizeof(*j));
#define S(i) apr_pstrdup(p, store_rows_col(rs, i))
#define I(i) (int)store_rows_int(rs, i)
#define L(i) store_rows_int(rs, i)
    j->name = S(0); j->username = S(1); j->vc = S(2); j->state = S(3); j->sub_state = S(4);
    j->execution_type = S(5); j->retries = I(6); j->created = L(7); j->completed = L(8);
    j->has_exit = I(9); j->exit_code = I(10);
    j->host = j->diagnostics = j->config = j->placement = j->hosts = "";
#undef S
#undef I
#undef L
    return j;
}

static pai_job_row *store_job_row(pai_db *db, apr_pool_t *p, apr_dbd_row_t *row, int with_config)
{
    pai_job_row *j = apr_pcalloc(p, sizeof(*j));
#define S(i) apr_pstrdup(p, store_col(db, row, i))
#define I(i) atoi(store_col(db, row, i))
#define L(i) apr_atoi64(store_col(db, row, i))
    j->name = S(0); j->username = S(1); j->vc = S(2); j->state = S(3); j->sub_state = S(4);
    j->execution_type = S(5); j->retries = I(6); j->run_retries = I(7); j->launcher_id = L(8);
    j->port_base = I(9); j->host = S(10); j->created = L(11); j->launched = L(12);
    j->completed = L(13); j->has_exit = I(14); j->exit_code = I(15); j->diagnostics = S(16);
    j->cpus = L(17); j->memory_mb = L(18); j->gpus = L(19); j->submitted = L(20);
    j->launch_tag = S(21); j->placement = S(22); j->hosts = S(23);
    j->platform_retries = I(24); j->version = L(25);
    j->config = with_config ? S(26) : "";
#undef S
#undef I
#undef L
    return j;
}

/* The job's current attempt into pai_job_attempts: updated, or made. */
static pai_error *store_attempt_record(pai_db *db, apr_pool_t *p, const pai_job_row *j)
{
    const char *args[17];
    apr_dbd_results_t *res;
    pai_error *err;
    int known = 0;

    args[0] = j->username; args[1] = j->state; args[2] = j->sub_state;
    args[3] = apr_itoa(p, j->has_exit); args[4] = apr_itoa(p, j->exit_code);
    args[5] = j->diagnostics ? j->diagnostics : ""; args[6] = i64(p, j->submitted);
    args[7] = i64(p, j->launched); args[8] = i64(p, j->completed);
    args[9] = i64(p, j->launcher_id); args[10] = apr_itoa(p, j->port_base);
    args[11] = j->host ? j->host : ""; args[12] = j->hosts ? j->hosts : "";
    args[13] = j->placement ? j->placement : "";
    args[14] = j->name; args[15] = i64(p, j->created); args[16] = apr_itoa(p, j->retries);
    /* Looked up first, not inferred from a failed insert: inside the
     * admission's transaction a failed statement fails the commit, and MySQL's
     * update counts only rows it changed. */
    if ((err = store_select_all(db, p, ST_ATTEMPT_EXISTS, 3, args + 14, &res)))
        return err;
    while (store_next(db, p, res))
        known = 1;
    if ((err = store_exec(db, p, known ? ST_ATTEMPT_UPDATE : ST_ATTEMPT_INSERT, 17, args, NULL)))
        return err;
    /* Only a row that carries the attempt's end says who failed first:
     * other saves of the same attempt leave it.  A known row has it already
     * (pai_store_job_save writes it first); a new one gets it here. */
    if (j->exit_why && !known) {
        const char *exit_args[] = {j->exit_task ? j->exit_task : "", j->exit_why, j->name,
                                   i64(p, j->created), apr_itoa(p, j->retries)};
        return store_exec(db, p, ST_ATTEMPT_EXIT, 5, exit_args, NULL);
    }
    return NULL;
}

pai_error *pai_store_task_report(pai_db *db, apr_pool_t *p, const pai_job_row *j,
                                 const pai_task_status *t)
{
    const char *key[] = {j->name, i64(p, j->created), apr_itoa(p, j->retries), t->role,
                         apr_itoa(p, t->index)};
    const char *node = t->node ? t->node : "", *why = t->exit_why ? t->exit_why : "";
    const char *launched = i64(p, t->launched), *completed = i64(p, t->completed);
    const char *has_exit = apr_itoa(p, t->has_exit), *code = apr_itoa(p, t->exit_code);
    apr_dbd_results_t *res;
    pai_error *err;
    int known = 0;

    if ((err = store_select_all(db, p, ST_TASK_GET, 5, key, &res)))
        return err;
    while (store_next(db, p, res))
        known = 1;
    if (known && t->has_exit) {
        const char *args[] = {node, completed, code, why, key[0], key[1], key[2], key[3], key[4]};
        err = store_exec(db, p, ST_TASK_EXITED, 9, args, NULL);
    }
    else if (known) {
        const char *args[] = {node, launched, key[0], key[1], key[2], key[3], key[4]};
        err = store_exec(db, p, ST_TASK_STARTED, 7, args, NULL);
    }
    else {
        const char *args[] = {node, launched, completed, has_exit, code, why, key[0], key[1],
                              key[2], key[3], key[4]};
        err = store_exec(db, p, ST_TASK_INSERT, 11, args, NULL);
    }
    /* The job's version is left as it is: a report racing a STOP must not
     * fail the STOP ("changed meanwhile"); v1's cached status shows the tasks
     * as of the job's last change (the batch script reports every end before
     * the job ends), v2's detail reads them fresh. */
    return err;
}

pai_error *pai_store_task_statuses(pai_db *db, apr_pool_t *p, const char *name,
                                   apr_int64_t created, int attempt, apr_hash_t **out)
{
    const char *args[] = {name, i64(p, created), apr_itoa(p, attempt)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *out = apr_hash_make(p);
    if ((err = store_select_all(db, p, ST_TASKS_GET, 3, args, &res)))
        return err;
    while ((row = store_next(db, p, res))) {
        pai_task_status *t = apr_pcalloc(p, sizeof(*t));
        t->role = apr_pstrdup(p, store_col(db, row, 0));
        t->index = atoi(store_col(db, row, 1));
        t->node = apr_pstrdup(p, store_col(db, row, 2));
        t->launched = apr_atoi64(store_col(db, row, 3));
        t->completed = apr_atoi64(store_col(db, row, 4));
        t->has_exit = atoi(store_col(db, row, 5));
        t->exit_code = atoi(store_col(db, row, 6));
        t->exit_why = apr_pstrdup(p, store_col(db, row, 7));
        apr_hash_set(*out, apr_psprintf(p, "%s-%d", t->role, t->index), APR_HASH_KEY_STRING, t);
    }
    return NULL;
}

pai_error *pai_store_job_attempt_exit(pai_db *db, apr_pool_t *p, pai_job_row *j)
{
    const char *args[] = {j->name, i64(p, j->created), apr_itoa(p, j->retries)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    j->exit_task = j->exit_why = "";
    if ((err = store_select_all(db, p, ST_ATTEMPT_EXIT_GET, 3, args, &res)))
        return err;
    while ((row = store_next(db, p, res))) {
        j->exit_task = apr_pstrdup(p, store_col(db, row, 0));
        j->exit_why = apr_pstrdup(p, store_col(db, row, 1));
    }
    return NULL;
}

pai_error *pai_store_job_attempts(pai_db *db, apr_pool_t *p, const char *name,
                                  apr_int64_t created, apr_array_header_t **out)
{
    const char *args[] = {name, i64(p, created)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *out = apr_array_make(p, 4, sizeof(pai_job_row *));
    if ((err = store_select_all(db, p, ST_ATTEMPTS_GET, 2, args, &res)))
        return err;
    while ((row = store_next(db, p, res))) {
        pai_job_row *a = apr_pcalloc(p, sizeof(*a));
#define S(i) apr_pstrdup(p, store_col(db, row, i))
        a->name = apr_pstrdup(p, name);
        a->created = created;
        a->retries = atoi(store_col(db, row, 0));
        a->username = S(1); a->state = S(2); a->sub_state = S(3);
        a->has_exit = atoi(store_col(db, row, 4)); a->exit_code = atoi(store_col(db, row, 5));
        a->diagnostics = S(6); a->submitted = apr_atoi64(store_col(db, row, 7));
        a->launched = apr_atoi64(store_col(db, row, 8));
        a->completed = apr_atoi64(store_col(db, row, 9));
        a->launcher_id = apr_atoi64(store_col(db, row, 10));
        a->port_base = atoi(store_col(db, row, 11));
        a->host = S(12); a->hosts = S(13); a->placement = S(14);
        a->exit_task = S(15); a->exit_why = S(16);
#undef S
        APR_ARRAY_PUSH(*out, pai_job_row *) = a;
    }
    return NULL;
}

/* A job's state change joins the write that makes it: a watcher of the
 * change stream never misses a state a reader saw.  A save that moved no
 * state (a host, an id) is none. */
static pai_error *store_change_record(pai_db *db, apr_pool_t *p, const pai_job_row *j)
{
    const char *key[] = {j->name};
    const char *args[] = {i64(p, apr_time_as_msec(apr_time_now())), j->name, i64(p, j->created),
                          j->username, j->vc, j->state, j->sub_state, apr_itoa(p, j->retries),
                          apr_itoa(p, j->has_exit), apr_itoa(p, j->exit_code)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cursor = 0;

    if ((err = store_select(db, p, ST_CHANGE_LAST, 1, key, &res)))
        return err;
    if ((row = store_row(db, p, res, &cursor)) &&
        apr_atoi64(store_col(db, row, 0)) == j->created &&
        !strcmp(store_col(db, row, 1), j->state) && !strcmp(store_col(db, row, 2), j->sub_state) &&
        atoi(store_col(db, row, 3)) == j->retries && !strcmp(store_col(db, row, 4), "job"))
        return NULL;
    return store_exec(db, p, ST_CHANGE_INSERT, 10, args, NULL);
}

pai_error *pai_store_job_insert(pai_db *db, apr_pool_t *p, const pai_job_row *j)
{
    const char *args[29];
    pai_job_row *old;
    pai_error *err;

    args[0] = j->name; args[1] = j->username; args[2] = j->vc; args[3] = j->state;
    args[4] = j->sub_state; args[5] = j->execution_type; args[6] = apr_itoa(p, j->retries);
    args[7] = apr_itoa(p, j->run_retries); args[8] = i64(p, j->launcher_id);
    args[9] = apr_itoa(p, j->port_base); args[10] = j->host; args[11] = i64(p, j->created);
    args[12] = i64(p, j->launched); args[13] = i64(p, j->completed);
    args[14] = apr_itoa(p, j->has_exit); args[15] = apr_itoa(p, j->exit_code);
    args[16] = j->diagnostics; args[17] = i64(p, j->cpus); args[18] = i64(p, j->memory_mb);
    args[19] = i64(p, j->gpus); args[20] = i64(p, j->submitted);
    args[21] = j->launch_tag ? j->launch_tag : "";
    args[22] = j->placement ? j->placement : ""; args[23] = j->hosts ? j->hosts : "";
    args[24] = apr_itoa(p, j->platform_retries); args[25] = j->config;
    args[26] = j->protocol ? j->protocol : "";
    args[27] = apr_itoa(p, j->tasks); args[28] = apr_itoa(p, j->roles);
    /* Checked first: inside a transaction apr_dbd refuses every statement
     * after a failed one, so the check could not follow the insert. */
    if ((err = pai_store_job_get(db, p, j->name, &old)))
        return err;
    if (old)
        return pai_error_make(p, PAI_ERR_JOB_DUPLICATE, "job %s already exists", j->name);
    err = store_exec(db, p, ST_JOB_INSERT, 29, args, NULL);
    if (err && !pai_store_job_get(db, p, j->name, &old) && old)
        return pai_error_make(p, PAI_ERR_JOB_DUPLICATE, "job %s already exists", j->name);
    if (!err)
        err = store_change_record(db, p, j);
    /* The history is kept as well as it can be: the job stands without it. */
    if (!err)
        (void)store_attempt_record(db, p, j);
    return err;
}

pai_error *pai_store_job_get(pai_db *db, apr_pool_t *p, const char *name, pai_job_row **out)
{
    const char *args[] = {name};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0;

    *out = NULL;
    if ((err = store_select(db, p, ST_JOB_GET, 1, args, &res)))
        return err;
    if ((row = store_row(db, p, res, &cur)))
        *out = store_job_row(db, p, row, 1);
    return NULL;
}

static pai_error *store_job_rows(pai_db *db, apr_pool_t *p, store_stmt st, int nargs,
                                 const char **args, int with_config, apr_array_header_t **out)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *out = apr_array_make(p, 16, sizeof(pai_job_row *));
    if ((err = store_select_all(db, p, st, nargs, args, &res)))
        return err;
    while ((row = store_next(db, p, res)))
        APR_ARRAY_PUSH(*out, pai_job_row *) = store_job_row(db, p, row, with_config);
    return NULL;
}

/* A list query with optional equality filters and a typed LIMIT/OFFSET: one
 * statement per combination of filters (the label names it), prepared on first
 * use like the others, and read to the end.  Arguments are bound typed
 * (apr_dbd's binary mode): MariaDB ignores a LIMIT bound as a string. */
typedef struct store_query {
    const char *sql, *glue;
    const void *args[8];
    int n, bit, mask;
} store_query;

static void store_query_filter(store_query *q, apr_pool_t *p, const char *column,
                               const char *value)
{
    if (value) {
        q->sql = apr_pstrcat(p, q->sql, q->glue, column, " = %s", NULL);
        q->glue = " AND ";
        q->args[q->n++] = value;
        q->mask |= 1 << q->bit;
    }
    q->bit++;
}

static pai_error *store_query_run(pai_db *db, apr_pool_t *p, store_query *q, const char *label,
                                  const char *order, const int *limit, const int *offset,
                                  store_rows *rs)
{
    const char *sql = apr_pstrcat(p, q->sql, order, NULL);
    int attempt, rv = -1;

    if (*limit > 0) {
        sql = apr_pstrcat(p, sql, " LIMIT %d OFFSET %d", NULL);
        q->args[q->n++] = limit;
        q->args[q->n++] = offset;
        q->mask |= 1 << q->bit;
    }
    if (store_is_sqlite(db))
        return store_rows_sqlite(db, p, label, sql, q->args, rs);
    store_rows_init(rs, db, p);
    for (attempt = 0; attempt < 3 && rv; attempt++) {
        apr_dbd_prepared_t *stmt = store_prepare_sql(db, apr_psprintf(p, "%s_%d", label, q->mask),
                                                     sql, attempt > 0);
        if (stmt)
            rv = apr_dbd_pbselect(db->driver, p, db->handle, &rs->res, stmt, 0, q->args);
    }
    return rv ? store_fail(db, p, rv, label) : NULL;
}

pai_error *pai_store_job_page(pai_db *db, apr_pool_t *p, const pai_job_filter *f,
                              apr_array_header_t **out)
{
    store_query q = {"SELECT " JOB_SUMMARY " FROM pai_jobs", " WHERE ", {0}, 0, 0, 0};
    store_rows rs;
    pai_error *err;

    store_query_filter(&q, p, "username", f->username);
    store_query_filter(&q, p, "state", f->state);
    store_query_filter(&q, p, "vc", f->vc);
    if ((err = store_query_run(db, p, &q, "pai_job_page", " ORDER BY created DESC, name DESC",
                               &f->limit, &f->offset, &rs)))
        return err;
    *out = apr_array_make(p, f->limit > 0 ? f->limit : 16, sizeof(pai_job_row *));
    while (store_rows_next(&rs))
        APR_ARRAY_PUSH(*out, pai_job_row *) = store_job_summary_row(p, &rs);
    return store_rows_end(&rs, "pai_job_page");
}

/* " AND column IN (%s, ...)" for a list of values, bound in args. */
static const char *store_in(apr_pool_t *p, const char *sql, const char *column,
                            const apr_array_header_t *values, const void **args, int *n)
{
    int i;
    if (!values || !values->nelts)
        return sql;
    sql = apr_pstrcat(p, sql, " AND ", column, " IN (", NULL);
    for (i = 0; i < values->nelts; i++) {
        sql = apr_pstrcat(p, sql, i ? ", %s" : "%s", NULL);
        args[(*n)++] = APR_ARRAY_IDX(values, i, const char *);
    }
    return apr_pstrcat(p, sql, ")", NULL);
}

/* LIKE's pattern for a substring, '!' escaping the wildcards. */
static const char *store_like(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 2 + 3), *o = out;
    *o++ = '%';
    for (; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '!')
            *o++ = '!';
        *o++ = *s;
    }
    *o++ = '%';
    *o = '\0';
    return out;
}

/* Prepared for this call alone: the statement's shape follows the query's
 * lists, and a cache per shape would grow with what clients send.  On SQLite
 * not through apr_dbd: apr_dbd_sqlite3 keeps every statement it prepares
 * until the connection closes, whatever pool it was prepared in, so each
 * list of /api/v2/jobs left its statements behind (GBs of heap after (g)'s
 * walk over a million jobs: bench/README.md); here the request's pool
 * finalizes them. */
static pai_error *store_select_once(pai_db *db, apr_pool_t *p, const char *label, const char *sql,
                                    const void **args, store_rows *rs)
{
    apr_dbd_prepared_t *stmt = NULL;
    int rv;

    if (store_is_sqlite(db))
        return store_rows_sqlite(db, p, label, sql, args, rs);
    store_rows_init(rs, db, p);
    if ((rv = apr_dbd_prepare(db->driver, p, db->handle, sql, NULL, &stmt)))
        return store_fail(db, p, rv, label);
    if ((rv = apr_dbd_pbselect(db->driver, p, db->handle, &rs->res, stmt, 0, args)))
        return store_fail(db, p, rv, label);
    return NULL;
}

/* The tags of a page's jobs, a few hundred names per query. */
static pai_error *store_page_tags(pai_db *db, apr_pool_t *p, apr_array_header_t *rows)
{
    enum { CHUNK = 256 };
    apr_hash_t *by_name = apr_hash_make(p);
    int i, k;

    for (i = 0; i < rows->nelts; i++) {
        pai_job_row *j = APR_ARRAY_IDX(rows, i, pai_job_row *);
        j->tags = apr_array_make(p, 0, sizeof(const char *));
        apr_hash_set(by_name, j->name, APR_HASH_KEY_STRING, j);
    }
    for (i = 0; i < rows->nelts; i += CHUNK) {
        const void *args[CHUNK];
        const char *sql = "SELECT name, tag FROM pai_job_tags WHERE name IN (";
        store_rows rs;
        pai_error *err;
        for (k = 0; k < CHUNK && i + k < rows->nelts; k++) {
            sql = apr_pstrcat(p, sql, k ? ", %s" : "%s", NULL);
            args[k] = APR_ARRAY_IDX(rows, i + k, pai_job_row *)->name;
        }
        if ((err = store_select_once(db, p, "pai_page_tags",
                                     apr_pstrcat(p, sql, ") ORDER BY name, tag", NULL), args,
                                     &rs)))
            return err;
        while (store_rows_next(&rs)) {
            pai_job_row *j = apr_hash_get(by_name, store_rows_col(&rs, 0), APR_HASH_KEY_STRING);
            if (j)
                APR_ARRAY_PUSH(j->tags, const char *) = apr_pstrdup(p, store_rows_col(&rs, 1));
        }
        if ((err = store_rows_end(&rs, "pai_page_tags")))
            return err;
    }
    return NULL;
}

pai_error *pai_store_job_query(pai_db *db, apr_pool_t *p, const pai_job_query *q,
                               apr_array_header_t **out, apr_int64_t *total)
{
    static const char *const columns[] = {"name", "created", "username", "vc", "retries",
                                          "gpus", "tasks", "state", "completed", NULL};
    const void **args = apr_pcalloc(p, sizeof(void *) * (5 * PAI_JOB_QUERY_LIST_MAX + 8));
    const char *where = " WHERE 1 = 1", *order, *sql, *const *c;
    store_rows rs;
    pai_error *err;
    int n = 0;

    for (c = columns; *c && q->order && strcmp(*c, q->order); c++)
        ;
    if (q->order && !*c)
        return pai_error_make(p, PAI_ERR_INTERNAL, "no such order: %s", q->order);
    where = store_in(p, where, "username", q->usernames, args, &n);
    where = store_in(p, where, "vc", q->vcs, args, &n);
    where = store_in(p, where, "state", q->states, args, &n);
    if (q->tags_in && q->tags_in->nelts)
        where = apr_pstrcat(p, store_in(p, apr_pstrcat(p, where, " AND name IN (SELECT name FROM"
                                                      " pai_job_tags WHERE 1 = 1", NULL),
                                        "tag", q->tags_in, args, &n), ")", NULL);
    if (q->tags_out && q->tags_out->nelts)
        where = apr_pstrcat(p, store_in(p, apr_pstrcat(p, where, " AND name NOT IN (SELECT name"
                                                      " FROM pai_job_tags WHERE 1 = 1", NULL),
                                        "tag", q->tags_out, args, &n), ")", NULL);
    if (q->keyword) {
        const char *like = store_like(p, q->keyword);
        where = apr_pstrcat(p, where, " AND (username LIKE %s ESCAPE '!' OR name LIKE %s"
                            " ESCAPE '!' OR vc LIKE %s ESCAPE '!')", NULL);
        args[n++] = like; args[n++] = like; args[n++] = like;
    }
    if (total) {
        if ((err = store_select_once(db, p, "pai_job_query_count",
                                     apr_pstrcat(p, "SELECT COUNT(*) FROM pai_jobs", where, NULL),
                                     args, &rs)))
            return err;
        *total = 0;
        while (store_rows_next(&rs))
            *total = store_rows_int(&rs, 0);
        if ((err = store_rows_end(&rs, "pai_job_query_count")))
            return err;
    }
    /* Keyset: the page starts after the row (after_value, after_name) in this
     * order, so a deep page reads what the first does. */
    if (q->after_name) {
        const char *col = q->order ? q->order : "created", *cmp = q->descending ? "<" : ">";
        if (!strcmp(col, "name")) {
            where = apr_pstrcat(p, where, " AND name ", cmp, " %s", NULL);
        }
        else {
            int text = !strcmp(col, "username") || !strcmp(col, "vc") || !strcmp(col, "state");
            const char *v = text ? "%s" : "%lld";
            /* The bound on the column alone first: it gives both databases
             * a range of the index to start from (an OR alone can scan). */
            where = apr_pstrcat(p, where, " AND ", col, " ", cmp, "= ", v, " AND (", col, " ", cmp,
                                " ", v, " OR name ", cmp, " %s)", NULL);
            if (text) {
                args[n++] = q->after_value;
                args[n++] = q->after_value;
            }
            else {
                apr_int64_t *iv = apr_palloc(p, sizeof(*iv));
                *iv = apr_atoi64(q->after_value);
                args[n++] = iv;
                args[n++] = iv;
            }
        }
        args[n++] = q->after_name;
    }
    /* The name breaks ties, so that pages never overlap. */
    order = apr_pstrcat(p, " ORDER BY ", q->order ? q->order : "created",
                        q->descending ? " DESC, name DESC" : " ASC, name ASC", NULL);
    args[n++] = &q->limit;
    args[n++] = &q->offset;
    /* The page's names first, then their rows (a deferred join): the inner
     * query reads only an index that holds the filter, the order and the name
     * (skipped rows of an offset are index entries, not rows), and MariaDB
     * then takes the range of (state, created, name) for a keyset page, where
     * it scanned every row of the state from the top before (1M jobs: 1.7 s a
     * page at depth 500,000, now 0.01 s). */
    sql = apr_pstrcat(p, "SELECT " JOB_SUMMARY_V2 " FROM (SELECT name AS page_name FROM pai_jobs",
                      where, order, " LIMIT %d OFFSET %d) page JOIN pai_jobs ON"
                      " name = page_name", order, NULL);
    if ((err = store_select_once(db, p, "pai_job_query", sql, args, &rs)))
        return err;
    *out = apr_array_make(p, q->limit < 64 ? q->limit + 1 : 64, sizeof(pai_job_row *));
    while (store_rows_next(&rs)) {
        pai_job_row *j = store_job_summary_row(p, &rs);
        j->launched = store_rows_int(&rs, 11);
        j->gpus = store_rows_int(&rs, 12);
        j->tasks = (int)store_rows_int(&rs, 13);
        j->roles = (int)store_rows_int(&rs, 14);
        j->platform_retries = (int)store_rows_int(&rs, 15);
        APR_ARRAY_PUSH(*out, pai_job_row *) = j;
    }
    if ((err = store_rows_end(&rs, "pai_job_query")))
        return err;
    return store_page_tags(db, p, *out);
}

pai_error *pai_store_job_list_active(pai_db *db, apr_pool_t *p, apr_array_header_t **out)
{
    return store_job_rows(db, p, ST_JOB_LIST_ACTIVE, 0, NULL, 0, out);
}

pai_error *pai_store_active_totals(pai_db *db, apr_pool_t *p, apr_array_header_t **out)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *out = apr_array_make(p, 8, sizeof(pai_active_total));
    if ((err = store_select_all(db, p, ST_ACTIVE_TOTALS, 0, NULL, &res)))
        return err;
    while ((row = store_next(db, p, res))) {
        pai_active_total *t = apr_array_push(*out);
        t->vc = apr_pstrdup(p, store_col(db, row, 0));
        t->queued = atoi(store_col(db, row, 1));
        t->waiting = !strcmp(store_col(db, row, 2), "WAITING");
        t->jobs = atoi(store_col(db, row, 3));
        t->cpus = apr_atoi64(store_col(db, row, 4));
        t->memory_mb = apr_atoi64(store_col(db, row, 5));
        t->gpus = apr_atoi64(store_col(db, row, 6));
    }
    return NULL;
}

pai_error *pai_store_job_list_queued(pai_db *db, apr_pool_t *p, apr_array_header_t **out)
{
    return store_job_rows(db, p, ST_JOB_LIST_QUEUED, 0, NULL, 0, out);
}

/* The one text column of the one row st selects by name; NULL when none. */
static pai_error *store_text_by_name(pai_db *db, apr_pool_t *p, store_stmt st, const char *name,
                                     const char **out)
{
    const char *args[] = {name};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0;

    *out = NULL;
    if ((err = store_select(db, p, st, 1, args, &res)))
        return err;
    if ((row = store_row(db, p, res, &cur))) {
        *out = apr_pstrdup(p, store_col(db, row, 0));
        while (store_row(db, p, res, &cur))
            ;
    }
    return NULL;
}

pai_error *pai_store_job_config(pai_db *db, apr_pool_t *p, const char *name, const char **config)
{
    return store_text_by_name(db, p, ST_JOB_CONFIG, name, config);
}

pai_error *pai_store_job_protocol(pai_db *db, apr_pool_t *p, const char *name,
                                  const char **protocol)
{
    return store_text_by_name(db, p, ST_JOB_PROTOCOL, name, protocol);
}

pai_error *pai_store_job_secrets_put(pai_db *db, apr_pool_t *p, const char *name,
                                     const char *secrets)
{
    const char *args[] = {name, secrets};
    return store_exec(db, p, ST_SECRETS_INSERT, 2, args, NULL);
}

pai_error *pai_store_job_secrets_get(pai_db *db, apr_pool_t *p, const char *name,
                                     const char **secrets)
{
    return store_text_by_name(db, p, ST_SECRETS_GET, name, secrets);
}

pai_error *pai_store_user_job_counts(pai_db *db, apr_pool_t *p, const char *username,
                                     int *waiting, int *running)
{
    const char *args[] = {username};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *waiting = *running = 0;
    if ((err = store_select_all(db, p, ST_USER_JOB_COUNTS, 1, args, &res)))
        return err;
    while ((row = store_next(db, p, res))) {
        if (!strcmp(store_col(db, row, 0), "WAITING"))
            *waiting = atoi(store_col(db, row, 1));
        else
            *running = atoi(store_col(db, row, 1));
    }
    return NULL;
}

pai_error *pai_store_cluster_get(pai_db *db, apr_pool_t *p, pai_cluster_size *out)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0;

    memset(out, 0, sizeof(*out));
    if ((err = store_select(db, p, ST_CLUSTER_GET, 0, NULL, &res)))
        return err;
    if ((row = store_row(db, p, res, &cur))) {
        out->cpus = apr_atoi64(store_col(db, row, 0));
        out->memory_mb = apr_atoi64(store_col(db, row, 1));
        out->gpus = apr_atoi64(store_col(db, row, 2));
        out->nodes = atoi(store_col(db, row, 3));
        out->updated_ms = apr_atoi64(store_col(db, row, 4));
        out->shapes = apr_pstrdup(p, store_col(db, row, 5));
    }
    return NULL;
}

pai_error *pai_store_cluster_set(pai_db *db, apr_pool_t *p, const pai_cluster_size *c)
{
    const char *args[] = {i64(p, c->cpus), i64(p, c->memory_mb), i64(p, c->gpus),
                          apr_itoa(p, c->nodes), i64(p, c->updated_ms),
                          c->shapes ? c->shapes : ""};
    return store_exec(db, p, ST_CLUSTER_SET, 6, args, NULL);
}

pai_error *pai_store_admission_begin(pai_db *db, apr_pool_t *p, apr_dbd_transaction_t **tx)
{
    pai_error *err;
    int rv;

    *tx = NULL;
    if ((rv = store_tx_start(db, p, tx)))
        return store_fail(db, p, rv, "begin");
    if ((err = store_exec(db, p, ST_CLUSTER_LOCK, 0, NULL, NULL))) {
        /* The lock was not taken, nothing was written: the rollback's own
         * outcome changes nothing for the caller, who gets err. */
        apr_dbd_transaction_mode_set(db->driver, *tx, APR_DBD_TRANSACTION_ROLLBACK);
        (void)store_tx_end(db, p, *tx);
        *tx = NULL;
    }
    return err;
}

pai_error *pai_store_admission_end(pai_db *db, apr_pool_t *p, apr_dbd_transaction_t *tx,
                                   int commit)
{
    int rv;
    if (!commit)
        apr_dbd_transaction_mode_set(db->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
    rv = store_tx_end(db, p, tx);
    return commit && rv ? store_fail(db, p, rv, "commit") : NULL;
}

int pai_store_deadlocked(pai_db *db)
{
    int d = db->deadlocked;
    db->deadlocked = 0;
    return d;
}

static pai_error *store_job_save_once(pai_db *db, apr_pool_t *p, pai_job_row *j,
                                      int expected_retries, int *saved)
{
    const char *args[21];
    apr_dbd_transaction_t *tx = NULL;
    pai_error *err;
    int rv;

    *saved = 0;
    args[0] = j->state; args[1] = j->sub_state; args[2] = j->execution_type;
    args[3] = apr_itoa(p, j->retries); args[4] = apr_itoa(p, j->run_retries);
    args[5] = i64(p, j->launcher_id); args[6] = apr_itoa(p, j->port_base); args[7] = j->host;
    args[8] = i64(p, j->launched); args[9] = i64(p, j->completed);
    args[10] = apr_itoa(p, j->has_exit); args[11] = apr_itoa(p, j->exit_code);
    args[12] = j->diagnostics; args[13] = i64(p, j->submitted);
    args[14] = j->launch_tag ? j->launch_tag : "";
    args[15] = j->placement ? j->placement : ""; args[16] = j->hosts ? j->hosts : "";
    args[17] = apr_itoa(p, j->platform_retries); args[18] = j->name;
    args[19] = apr_itoa(p, expected_retries); args[20] = i64(p, j->version);
    /* In a caller's transaction (admission, a retry) the writes join it. */
    if (!db->in_tx && (rv = store_tx_start(db, p, &tx)))
        return store_fail(db, p, rv, "begin");
    /* The attempt's end is written before the job's new version: a view
     * cached by that version then never lacks it. */
    if (j->exit_why) {
        const char *exit_args[] = {j->exit_task ? j->exit_task : "", j->exit_why, j->name,
                                   i64(p, j->created), apr_itoa(p, j->retries)};
        (void)store_exec(db, p, ST_ATTEMPT_EXIT, 5, exit_args, NULL);
    }
    if (!(err = store_exec(db, p, ST_JOB_SAVE, 21, args, saved)) && *saved &&
        !(err = store_change_record(db, p, j)))
        (void)store_attempt_record(db, p, j);
    if (tx) {
        if (err || !*saved)
            apr_dbd_transaction_mode_set(db->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
        if ((rv = store_tx_end(db, p, tx)) && !err && *saved)
            err = store_fail(db, p, rv, "commit");
    }
    if (err)
        *saved = 0;
    else if (*saved)
        j->version++;
    return err;
}

pai_error *pai_store_job_save(pai_db *db, apr_pool_t *p, pai_job_row *j,
                              int expected_retries, int *saved)
{
    int own_tx = !db->in_tx, tries = 0;
    pai_error *err;

    /* A transaction of its own is run again when it lost to a deadlock; in a
     * caller's, the caller does that (pai_admit). */
    db->deadlocked = 0;
    while ((err = store_job_save_once(db, p, j, expected_retries, saved)) && own_tx &&
           pai_store_deadlocked(db) && tries++ < PAI_STORE_DEADLOCK_RETRIES)
        ;
    return err;
}

pai_error *pai_store_job_set_launched(pai_db *db, apr_pool_t *p, const char *name, int retries,
                                      apr_int64_t launcher_id, const char *placement)
{
    const char *args[] = {i64(p, launcher_id), placement, name, apr_itoa(p, retries), name};
    pai_error *err = store_exec(db, p, ST_JOB_SET_LAUNCHED, 4, args, NULL);
    if (!err)
        (void)store_exec(db, p, ST_ATTEMPT_LAUNCHED, 5, args, NULL);
    return err;
}

pai_error *pai_store_job_delete_unsubmitted(pai_db *db, apr_pool_t *p, const char *name)
{
    const char *args[] = {name};
    int n = 0;
    pai_error *err = store_exec(db, p, ST_JOB_DELETE_UNSUBMITTED, 1, args, &n);
    if (!err && n > 0)
        err = store_exec(db, p, ST_KEYS_DELETE, 1, args, NULL);
    if (!err && n > 0)
        err = store_exec(db, p, ST_SECRETS_DELETE, 1, args, NULL);
    if (!err && n > 0)
        err = store_exec(db, p, ST_TAGS_DELETE, 1, args, NULL);
    return err;
}

pai_error *pai_store_job_delete(pai_db *db, apr_pool_t *p, const char *name,
                                 apr_int64_t version, const char *deleted_by,
                                 apr_int64_t now_ms, int *deleted)
{
    const char *archive[] = {i64(p, now_ms), deleted_by, name, i64(p, version)};
    const char *row[] = {name, i64(p, version)};
    const char *key[] = {name};
    apr_dbd_transaction_t *tx = NULL;
    pai_error *err;
    int rv;

    *deleted = 0;
    if ((rv = store_tx_start(db, p, &tx)))
        return store_fail(db, p, rv, "begin");
    /* The version: a job changed since it was read (a sync, a START) stays. */
    err = store_exec(db, p, ST_JOB_ARCHIVE, 4, archive, deleted);
    if (!err && *deleted) {
        const char *gone[] = {i64(p, now_ms), name};
        err = store_exec(db, p, ST_CHANGE_DELETED, 2, gone, NULL);
    }
    if (!err && *deleted)
        err = store_exec(db, p, ST_JOB_DELETE, 2, row, deleted);
    if (!err && *deleted)
        err = store_exec(db, p, ST_KEYS_DELETE, 1, key, NULL);
    if (!err && *deleted)
        err = store_exec(db, p, ST_EP_DELETE_JOB, 1, key, NULL);
    if (!err && *deleted)
        err = store_exec(db, p, ST_SECRETS_DELETE, 1, key, NULL);
    if (!err && *deleted)
        err = store_exec(db, p, ST_TAGS_DELETE, 1, key, NULL);
    if (!err && *deleted)
        err = store_exec(db, p, ST_WAIT_DELETE, 1, key, NULL);
    if (!err && *deleted)
        err = store_exec(db, p, ST_EVENT_DELETE_JOB, 1, key, NULL);
    if (err || !*deleted)
        apr_dbd_transaction_mode_set(db->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
    rv = store_tx_end(db, p, tx);
    if (!err && rv)
        err = store_fail(db, p, rv, "commit");
    if (err)
        *deleted = 0;
    return err;
}

pai_error *pai_store_ssh_keys_put(pai_db *db, apr_pool_t *p, const char *name,
                                  const char *private_key, const char *public_key,
                                  const char *secret)
{
    const char *args[] = {name, private_key, public_key, secret};
    /* Keys a job of that name left behind; should the delete fail, the
     * insert below fails on the name and reports it. */
    (void)store_exec(db, p, ST_KEYS_DELETE, 1, args, NULL);
    return store_exec(db, p, ST_KEYS_INSERT, 4, args, NULL);
}

pai_error *pai_store_ssh_keys_get(pai_db *db, apr_pool_t *p, const char *name,
                                  const char **private_key, const char **public_key,
                                  const char **secret)
{
    const char *args[] = {name};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0;

    *private_key = *public_key = *secret = NULL;
    if ((err = store_select(db, p, ST_KEYS_GET, 1, args, &res)))
        return err;
    if ((row = store_row(db, p, res, &cur))) {
        *private_key = apr_pstrdup(p, store_col(db, row, 0));
        *public_key = apr_pstrdup(p, store_col(db, row, 1));
        *secret = apr_pstrdup(p, store_col(db, row, 2));
    }
    return NULL;
}

pai_error *pai_store_ssh_endpoint_put(pai_db *db, apr_pool_t *p, const char *name, int attempt,
                                      const pai_ssh_endpoint *ep)
{
    const char *args[] = {name, apr_itoa(p, attempt), ep->role, apr_itoa(p, ep->index), ep->ip,
                          apr_itoa(p, ep->port), ep->host_key ? ep->host_key : ""};
    apr_dbd_results_t *res;
    pai_error *err;
    int cur = 0, known;

    /* Once per task and attempt: the first report (the task's own wrapper,
     * before its command runs) stands; a later one is refused. */
    if (!(err = store_exec(db, p, ST_EP_INSERT, 7, args, NULL)))
        return NULL;
    if (store_select(db, p, ST_EP_GET, 4, args, &res))
        return err;
    known = store_row(db, p, res, &cur) != NULL;
    while (known && store_row(db, p, res, &cur))
        ;
    return known ? pai_error_make(p, PAI_ERR_FORBIDDEN, "task %s-%d of attempt %d of job %s has "
                                  "reported already", ep->role, ep->index, attempt, name)
                 : err;
}

pai_error *pai_store_ssh_secret_set(pai_db *db, apr_pool_t *p, const char *name,
                                    const char *secret)
{
    const char *args[] = {secret, name};
    return store_exec(db, p, ST_KEYS_SET_SECRET, 2, args, NULL);
}

pai_error *pai_store_ssh_endpoints(pai_db *db, apr_pool_t *p, const char *name, int attempt,
                                   apr_array_header_t **out)
{
    const char *args[] = {name, apr_itoa(p, attempt)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *out = apr_array_make(p, 4, sizeof(pai_ssh_endpoint));
    if ((err = store_select_all(db, p, ST_EP_LIST, 2, args, &res)))
        return err;
    while ((row = store_next(db, p, res))) {
        pai_ssh_endpoint *ep = apr_array_push(*out);
        ep->role = apr_pstrdup(p, store_col(db, row, 0));
        ep->index = atoi(store_col(db, row, 1));
        ep->ip = apr_pstrdup(p, store_col(db, row, 2));
        ep->port = atoi(store_col(db, row, 3));
        ep->host_key = apr_pstrdup(p, store_col(db, row, 4));
    }
    return NULL;
}

/* ---- the lease ------------------------------------------------------------- */

pai_error *pai_store_lease_take(pai_db *db, apr_pool_t *p, const char *name, const char *holder,
                                apr_int64_t now_ms, apr_int64_t ttl_ms, int *held)
{
    const char *snow = i64(p, now_ms);
    const char *take[] = {holder, i64(p, now_ms + ttl_ms), name, holder, snow};
    const char *get[] = {name};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int n = 0, cur = 0;

    *held = 0;
    if ((err = store_exec(db, p, ST_LEASE_TAKE, 5, take, &n)))
        return err;
    if (n > 0) {
        *held = 1;
        return NULL;
    }
    /* No row changed: not ours, or (MySQL counts changed rows) renewed in
     * the same millisecond; or the row is missing. */
    if ((err = store_select(db, p, ST_LEASE_GET, 1, get, &res)))
        return err;
    if ((row = store_row(db, p, res, &cur))) {
        *held = !strcmp(store_col(db, row, 0), holder) &&
                apr_atoi64(store_col(db, row, 1)) >= now_ms;
        while (store_row(db, p, res, &cur))
            ;
        return NULL;
    }
    {
        const char *ins[] = {name};
        /* A racing server may have inserted it (a duplicate); a real failure
         * shows in the take below. */
        (void)store_exec(db, p, ST_LEASE_INSERT, 1, ins, NULL);
    }
    if ((err = store_exec(db, p, ST_LEASE_TAKE, 5, take, &n)))
        return err;
    *held = n > 0;
    return NULL;
}

pai_error *pai_store_lease_release(pai_db *db, apr_pool_t *p, const char *name,
                                   const char *holder)
{
    const char *args[] = {name, holder};
    return store_exec(db, p, ST_LEASE_RELEASE, 2, args, NULL);
}

/* ---- failed logins --------------------------------------------------------- */

pai_error *pai_store_login_failures(pai_db *db, apr_pool_t *p, const char *key,
                                    apr_int64_t *window_start, int *failures)
{
    const char *args[] = {key};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0;

    *window_start = 0;
    *failures = 0;
    if ((err = store_select(db, p, ST_LOGIN_GET, 1, args, &res)))
        return err;
    if ((row = store_row(db, p, res, &cur))) {
        *window_start = apr_atoi64(store_col(db, row, 0));
        *failures = atoi(store_col(db, row, 1));
        while (store_row(db, p, res, &cur))
            ;
    }
    return NULL;
}

pai_error *pai_store_login_failure_add(pai_db *db, apr_pool_t *p, const char *key,
                                       apr_int64_t now, apr_int64_t window)
{
    const char *expired = i64(p, now - window), *snow = i64(p, now);
    const char *bump[] = {expired, expired, snow, key};
    const char *ins[] = {key, snow};
    pai_error *err;
    int n = 0;

    if ((err = store_exec(db, p, ST_LOGIN_BUMP, 4, bump, &n)) || n > 0)
        return err;
    /* No row yet; when another process inserts it first, count on its row. */
    if (store_exec(db, p, ST_LOGIN_INSERT, 2, ins, NULL))
        return store_exec(db, p, ST_LOGIN_BUMP, 4, bump, &n);
    return NULL;
}

pai_error *pai_store_login_failure_undo(pai_db *db, apr_pool_t *p, const char *key)
{
    const char *args[] = {key};
    return store_exec(db, p, ST_LOGIN_UNDO, 1, args, NULL);
}

pai_error *pai_store_login_failures_clear(pai_db *db, apr_pool_t *p, const char *key)
{
    const char *args[] = {key};
    return store_exec(db, p, ST_LOGIN_CLEAR, 1, args, NULL);
}

pai_error *pai_store_job_tag_add(pai_db *db, apr_pool_t *p, const char *name, const char *tag)
{
    const char *args[] = {name, tag};
    apr_array_header_t *tags;
    pai_error *err;
    int i;

    if ((err = pai_store_job_tags(db, p, name, &tags)))
        return err;
    for (i = 0; i < tags->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(tags, i, const char *), tag))
            return NULL;        /* there already */
    /* The list just read counts them: no second query. */
    if (tags->nelts >= PAI_JOB_TAGS_MAX)
        return pai_error_make(p, PAI_ERR_INVALID, "job %s has %d tags already, the most it may "
                              "have", name, PAI_JOB_TAGS_MAX);
    err = store_exec(db, p, ST_TAG_INSERT, 2, args, NULL);
    /* Added meanwhile by another call: there, as asked. */
    if (err && !pai_store_job_tags(db, p, name, &tags))
        for (i = 0; i < tags->nelts; i++)
            if (!strcmp(APR_ARRAY_IDX(tags, i, const char *), tag))
                return NULL;
    return err;
}

pai_error *pai_store_job_tag_delete(pai_db *db, apr_pool_t *p, const char *name,
                                    const char *tag)
{
    const char *args[] = {name, tag};
    return store_exec(db, p, ST_TAG_DELETE, 2, args, NULL);
}

pai_error *pai_store_job_tags(pai_db *db, apr_pool_t *p, const char *name,
                              apr_array_header_t **out)
{
    const char *args[] = {name};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    *out = apr_array_make(p, 4, sizeof(const char *));
    if ((err = store_select_all(db, p, ST_TAGS_GET, 1, args, &res)))
        return err;
    while ((row = store_next(db, p, res)))
        APR_ARRAY_PUSH(*out, const char *) = apr_pstrdup(p, store_col(db, row, 0));
    return NULL;
}

pai_error *pai_store_token_revoke(pai_db *db, apr_pool_t *p, const char *hash,
                                  apr_int64_t expires)
{
    const char *args[] = {hash, i64(p, expires)};
    int revoked = 0;
    pai_error *err;

    /* Twice is once: a token logged out again is still out. */
    if ((err = pai_store_token_revoked(db, p, hash, &revoked)) || revoked)
        return err;
    return store_exec(db, p, ST_TOKEN_REVOKE, 2, args, NULL);
}

pai_error *pai_store_token_revoked(pai_db *db, apr_pool_t *p, const char *hash, int *revoked)
{
    const char *found;
    pai_error *err = store_text_by_name(db, p, ST_TOKEN_REVOKED, hash, &found);
    *revoked = !err && found;
    return err;
}

pai_error *pai_store_tokens_expire(pai_db *db, apr_pool_t *p, apr_int64_t before)
{
    const char *args[] = {i64(p, before)};
    pai_error *err = store_exec(db, p, ST_TOKENS_EXPIRE, 1, args, NULL);
    return err ? err : store_exec(db, p, ST_TOKEN_ROWS_EXPIRE, 1, args, NULL);
}

pai_error *pai_store_job_event(pai_db *db, apr_pool_t *p, const pai_job_event *e)
{
    const char *key[] = {e->name, i64(p, e->created), apr_itoa(p, e->attempt), e->reason,
                         e->task_role, apr_itoa(p, e->task_index)};
    const char *ins[] = {e->name, i64(p, e->created), apr_itoa(p, e->attempt), e->type,
                         e->reason, e->message, e->task_role, apr_itoa(p, e->task_index),
                         i64(p, e->last_ms), i64(p, e->last_ms), e->source};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cursor = 0;

    if ((err = store_select(db, p, ST_EVENT_FIND, 6, key, &res)))
        return err;
    if ((row = store_row(db, p, res, &cursor))) {
        const char *bump[] = {i64(p, e->last_ms), e->message, e->type,
                              apr_pstrdup(p, store_col(db, row, 0))};
        return store_exec(db, p, ST_EVENT_BUMP, 4, bump, NULL);
    }
    return store_exec(db, p, ST_EVENT_INSERT, 11, ins, NULL);
}

pai_error *pai_store_job_events(pai_db *db, apr_pool_t *p, const char *name, apr_int64_t created,
                                apr_array_header_t **out)
{
    const char *args[] = {name, i64(p, created)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    if ((err = store_select_all(db, p, ST_EVENT_LIST, 2, args, &res)))
        return err;
    *out = apr_array_make(p, 16, sizeof(pai_job_event *));
    while ((row = store_next(db, p, res))) {
        pai_job_event *e = apr_pcalloc(p, sizeof(*e));
        e->name = name;
        e->created = created;
        e->attempt = atoi(store_col(db, row, 0));
        e->type = apr_pstrdup(p, store_col(db, row, 1));
        e->reason = apr_pstrdup(p, store_col(db, row, 2));
        e->message = apr_pstrdup(p, store_col(db, row, 3));
        e->task_role = apr_pstrdup(p, store_col(db, row, 4));
        e->task_index = atoi(store_col(db, row, 5));
        e->first_ms = apr_atoi64(store_col(db, row, 6));
        e->last_ms = apr_atoi64(store_col(db, row, 7));
        e->count = atoi(store_col(db, row, 8));
        e->source = apr_pstrdup(p, store_col(db, row, 9));
        APR_ARRAY_PUSH(*out, pai_job_event *) = e;
    }
    return NULL;
}

pai_error *pai_store_changes_after(pai_db *db, apr_pool_t *p, apr_int64_t after, int limit,
                                   apr_array_header_t **out)
{
    const char *args[] = {i64(p, after), apr_itoa(p, limit)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    if ((err = store_select_all(db, p, ST_CHANGES_AFTER, 2, args, &res)))
        return err;
    *out = apr_array_make(p, 64, sizeof(pai_change *));
    while ((row = store_next(db, p, res))) {
        pai_change *c = apr_pcalloc(p, sizeof(*c));
        c->id = apr_atoi64(store_col(db, row, 0));
        c->at_ms = apr_atoi64(store_col(db, row, 1));
        c->name = apr_pstrdup(p, store_col(db, row, 2));
        c->created = apr_atoi64(store_col(db, row, 3));
        c->username = apr_pstrdup(p, store_col(db, row, 4));
        c->vc = apr_pstrdup(p, store_col(db, row, 5));
        c->state = apr_pstrdup(p, store_col(db, row, 6));
        c->sub_state = apr_pstrdup(p, store_col(db, row, 7));
        c->retries = atoi(store_col(db, row, 8));
        c->has_exit = atoi(store_col(db, row, 9));
        c->exit_code = atoi(store_col(db, row, 10));
        c->deleted = !strcmp(store_col(db, row, 11), "deleted");
        APR_ARRAY_PUSH(*out, pai_change *) = c;
    }
    return NULL;
}

pai_error *pai_store_changes_bounds(pai_db *db, apr_pool_t *p, apr_int64_t *first,
                                    apr_int64_t *last)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cursor = 0;

    *first = *last = 0;
    if ((err = store_select(db, p, ST_CHANGES_BOUNDS, 0, NULL, &res)))
        return err;
    if ((row = store_row(db, p, res, &cursor))) {
        *first = apr_atoi64(store_col(db, row, 0));
        *last = apr_atoi64(store_col(db, row, 1));
    }
    return NULL;
}

pai_error *pai_store_changes_expire(pai_db *db, apr_pool_t *p, apr_int64_t before_ms)
{
    apr_int64_t first, last;
    pai_error *err = pai_store_changes_bounds(db, p, &first, &last);
    /* The last change stays: by it a watcher's Last-Event-ID is told from
     * one that is ahead of every change. */
    const char *args[] = {i64(p, before_ms), i64(p, last)};
    return err ? err : store_exec(db, p, ST_CHANGES_EXPIRE, 2, args, NULL);
}

pai_error *pai_store_job_wait_set(pai_db *db, apr_pool_t *p, const char *name,
                                  apr_int64_t created, apr_int64_t expected_start_ms)
{
    const char *del[] = {name};
    const char *ins[] = {name, i64(p, created), i64(p, expected_start_ms)};
    pai_error *err = store_exec(db, p, ST_WAIT_DELETE, 1, del, NULL);
    return err || !expected_start_ms ? err : store_exec(db, p, ST_WAIT_INSERT, 3, ins, NULL);
}

pai_error *pai_store_job_wait_get(pai_db *db, apr_pool_t *p, const char *name,
                                  apr_int64_t created, apr_int64_t *expected_start_ms)
{
    const char *args[] = {name, i64(p, created)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cursor = 0;

    *expected_start_ms = 0;
    if ((err = store_select(db, p, ST_WAIT_GET, 2, args, &res)))
        return err;
    if ((row = store_row(db, p, res, &cursor)))
        *expected_start_ms = apr_atoi64(store_col(db, row, 0));
    return NULL;
}

pai_error *pai_store_token_add(pai_db *db, apr_pool_t *p, const pai_token_row *t)
{
    const char *args[] = {t->id, t->username, t->hash, i64(p, t->created), i64(p, t->expires),
                          i64(p, t->last_used), apr_itoa(p, t->application)};
    return store_exec(db, p, ST_TOKEN_ADD, 7, args, NULL);
}

static pai_token_row *store_token_row(pai_db *db, apr_pool_t *p, apr_dbd_row_t *row)
{
    pai_token_row *t = apr_pcalloc(p, sizeof(*t));
    t->id = apr_pstrdup(p, store_col(db, row, 0));
    t->username = apr_pstrdup(p, store_col(db, row, 1));
    t->hash = apr_pstrdup(p, store_col(db, row, 2));
    t->created = apr_atoi64(store_col(db, row, 3));
    t->expires = apr_atoi64(store_col(db, row, 4));
    t->last_used = apr_atoi64(store_col(db, row, 5));
    t->application = atoi(store_col(db, row, 6));
    return t;
}

pai_error *pai_store_token_list(pai_db *db, apr_pool_t *p, const char *username,
                                apr_int64_t now, apr_array_header_t **out)
{
    const char *args[] = {username, i64(p, now)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    if ((err = store_select_all(db, p, ST_TOKEN_LIST, 2, args, &res)))
        return err;
    *out = apr_array_make(p, 8, sizeof(pai_token_row *));
    while ((row = store_next(db, p, res)))
        APR_ARRAY_PUSH(*out, pai_token_row *) = store_token_row(db, p, row);
    return NULL;
}

pai_error *pai_store_token_get(pai_db *db, apr_pool_t *p, const char *id, pai_token_row **out)
{
    const char *args[] = {id};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cursor = 0;

    *out = NULL;
    if ((err = store_select(db, p, ST_TOKEN_GET, 1, args, &res)))
        return err;
    if ((row = store_row(db, p, res, &cursor)))
        *out = store_token_row(db, p, row);
    return NULL;
}

pai_error *pai_store_token_delete(pai_db *db, apr_pool_t *p, const char *id)
{
    const char *args[] = {id};
    return store_exec(db, p, ST_TOKEN_DELETE, 1, args, NULL);
}

pai_error *pai_store_token_used(pai_db *db, apr_pool_t *p, const char *id, apr_int64_t now)
{
    const char *args[] = {i64(p, now), id};
    return store_exec(db, p, ST_TOKEN_USED, 2, args, NULL);
}

pai_error *pai_store_login_failures_expire(pai_db *db, apr_pool_t *p, apr_int64_t before)
{
    const char *args[] = {i64(p, before)};
    return store_exec(db, p, ST_LOGIN_EXPIRE, 1, args, NULL);
}

/* ---- audit log ------------------------------------------------------------- */

/* Cut to the column's size on a character boundary (the columns are UTF-8). */
static const char *store_clip(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n = s ? strlen(s) : 0;
    if (!s)
        return "";
    if (n <= max)
        return s;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return apr_pstrmemdup(p, s, max);
}

pai_error *pai_store_audit_add(pai_db *db, apr_pool_t *p, const pai_audit_row *a)
{
    const char *args[] = {i64(p, a->at_ms), store_clip(p, a->actor, 64),
                          store_clip(p, a->address, 64), store_clip(p, a->action, 32),
                          store_clip(p, a->target, 255), apr_itoa(p, a->outcome),
                          store_clip(p, a->detail, 255)};
    return store_exec(db, p, ST_AUDIT_INSERT, 7, args, NULL);
}

pai_error *pai_store_audit_add_anonymous(pai_db *db, apr_pool_t *p, const pai_audit_row *a,
                                         apr_int64_t since_ms)
{
    const char *address = store_clip(p, a->address, 64), *action = store_clip(p, a->action, 32);
    const char *target = store_clip(p, a->target, 255);
    const char *find[] = {address, action, target, apr_itoa(p, a->outcome), i64(p, since_ms)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    const char *id = NULL;
    int cur = 0, n = 0;

    /* The same refusal from the same address lately: counted on its row. */
    if (!store_select(db, p, ST_AUDIT_LAST_ANON, 5, find, &res) &&
        (row = store_row(db, p, res, &cur))) {
        id = apr_pstrdup(p, store_col(db, row, 0));
        while (store_row(db, p, res, &cur))
            ;
    }
    if (id) {
        const char *bump[] = {store_clip(p, a->detail, 255), id};
        if (!store_exec(db, p, ST_AUDIT_REPEAT, 2, bump, &n) && n > 0)
            return NULL;
    }
    return pai_store_audit_add(db, p, a);
}

pai_error *pai_store_audit_expire(pai_db *db, apr_pool_t *p, apr_int64_t before_ms)
{
    const char *args[] = {i64(p, before_ms)};
    return store_exec(db, p, ST_AUDIT_EXPIRE, 1, args, NULL);
}

/* Newest first (the id orders the records). */
pai_error *pai_store_audit_page(pai_db *db, apr_pool_t *p, const pai_audit_filter *f,
                                apr_array_header_t **out)
{
    store_query q = {"SELECT id, at, actor, address, action, target, outcome, detail, repeats"
                     " FROM pai_audit", " WHERE ", {0}, 0, 0, 0};
    store_rows rs;
    pai_error *err;

    store_query_filter(&q, p, "actor", f->actor);
    store_query_filter(&q, p, "action", f->action);
    if ((err = store_query_run(db, p, &q, "pai_audit_page", " ORDER BY id DESC", &f->limit,
                               &f->offset, &rs)))
        return err;
    *out = apr_array_make(p, f->limit > 0 ? f->limit : 16, sizeof(pai_audit_row));
    while (store_rows_next(&rs)) {
        pai_audit_row *a = apr_array_push(*out);
        a->id = store_rows_int(&rs, 0);
        a->at_ms = store_rows_int(&rs, 1);
        a->actor = apr_pstrdup(p, store_rows_col(&rs, 2));
        a->address = apr_pstrdup(p, store_rows_col(&rs, 3));
        a->action = apr_pstrdup(p, store_rows_col(&rs, 4));
        a->target = apr_pstrdup(p, store_rows_col(&rs, 5));
        a->outcome = (int)store_rows_int(&rs, 6);
        a->detail = apr_pstrdup(p, store_rows_col(&rs, 7));
        a->repeats = (int)store_rows_int(&rs, 8);
    }
    if ((err = store_rows_end(&rs, "pai_audit_page")))
        return err;
    return NULL;
}

/* ---- webhooks -------------------------------------------------------------- */

pai_error *pai_store_webhook_add(pai_db *db, apr_pool_t *p, const pai_webhook_row *h, int max)
{
    const char *who[] = {h->username};
    const char *args[] = {h->id, h->username, h->url, h->events, h->secret, i64(p, h->created),
                          i64(p, h->cursor)};
    apr_dbd_transaction_t *tx = NULL;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0, rv, have = 0;

    /* Counted and added in one transaction: two requests at once cannot
     * both take the last place. */
    if ((rv = store_tx_start(db, p, &tx)))
        return store_fail(db, p, rv, "begin");
    err = store_select(db, p, ST_HOOK_COUNT, 1, who, &res);
    if (!err && (row = store_row(db, p, res, &cur))) {
        have = atoi(store_col(db, row, 0));
        while (store_row(db, p, res, &cur))
            ;
    }
    if (!err && have >= max)
        err = pai_error_make(p, PAI_ERR_INVALID, "a user may have at most %d webhooks", max);
    if (!err)
        err = store_exec(db, p, ST_HOOK_INSERT, 7, args, NULL);
    if (err)
        apr_dbd_transaction_mode_set(db->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
    rv = store_tx_end(db, p, tx);
    return !err && rv ? store_fail(db, p, rv, "commit") : err;
}

static pai_webhook_row *store_hook_row(pai_db *db, apr_pool_t *p, apr_dbd_row_t *row)
{
    pai_webhook_row *h = apr_pcalloc(p, sizeof(*h));
    h->id = apr_pstrdup(p, store_col(db, row, 0));
    h->username = apr_pstrdup(p, store_col(db, row, 1));
    h->url = apr_pstrdup(p, store_col(db, row, 2));
    h->events = apr_pstrdup(p, store_col(db, row, 3));
    h->secret = apr_pstrdup(p, store_col(db, row, 4));
    h->created = apr_atoi64(store_col(db, row, 5));
    h->cursor = apr_atoi64(store_col(db, row, 6));
    return h;
}

pai_error *pai_store_webhook_list(pai_db *db, apr_pool_t *p, const char *username,
                                  apr_array_header_t **out)
{
    const char *args[] = {username};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    if ((err = store_select_all(db, p, username ? ST_HOOK_LIST : ST_HOOK_LIST_ALL,
                                username ? 1 : 0, args, &res)))
        return err;
    *out = apr_array_make(p, 8, sizeof(pai_webhook_row *));
    while ((row = store_next(db, p, res)))
        APR_ARRAY_PUSH(*out, pai_webhook_row *) = store_hook_row(db, p, row);
    return NULL;
}

pai_error *pai_store_webhook_get(pai_db *db, apr_pool_t *p, const char *id,
                                 pai_webhook_row **out)
{
    const char *args[] = {id};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;
    int cur = 0;

    *out = NULL;
    if ((err = store_select(db, p, ST_HOOK_GET, 1, args, &res)))
        return err;
    if ((row = store_row(db, p, res, &cur)))
        *out = store_hook_row(db, p, row);
    return NULL;
}

pai_error *pai_store_webhook_delete(pai_db *db, apr_pool_t *p, const char *id)
{
    const char *args[] = {id};
    apr_dbd_transaction_t *tx = NULL;
    pai_error *err;
    int n = 0, rv;

    if ((rv = store_tx_start(db, p, &tx)))
        return store_fail(db, p, rv, "begin");
    err = store_exec(db, p, ST_HOOK_DELIVERIES_DELETE, 1, args, NULL);
    if (!err)
        err = store_exec(db, p, ST_HOOK_DELETE, 1, args, &n);
    if (!err && n == 0)
        err = pai_error_make(p, PAI_ERR_NOT_FOUND, "webhook %s not found", id);
    if (err)
        apr_dbd_transaction_mode_set(db->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
    rv = store_tx_end(db, p, tx);
    return !err && rv ? store_fail(db, p, rv, "commit") : err;
}

pai_error *pai_store_webhook_fanout(pai_db *db, apr_pool_t *p, const char *hook_id,
                                    const apr_array_header_t *deliveries, apr_int64_t cursor)
{
    const char *move[] = {i64(p, cursor), hook_id};
    apr_dbd_transaction_t *tx = NULL;
    pai_error *err = NULL;
    int i, rv;

    if ((rv = store_tx_start(db, p, &tx)))
        return store_fail(db, p, rv, "begin");
    for (i = 0; !err && i < deliveries->nelts; i++) {
        const pai_webhook_delivery *d = APR_ARRAY_IDX(deliveries, i, const pai_webhook_delivery *);
        const char *args[] = {d->id, d->hook_id, i64(p, d->change_id), d->event, d->body,
                              i64(p, d->created), i64(p, d->next_at)};
        err = store_exec(db, p, ST_HOOK_DELIVERY_INSERT, 7, args, NULL);
    }
    if (!err)
        err = store_exec(db, p, ST_HOOK_CURSOR, 2, move, NULL);
    if (err)
        apr_dbd_transaction_mode_set(db->driver, tx, APR_DBD_TRANSACTION_ROLLBACK);
    rv = store_tx_end(db, p, tx);
    return !err && rv ? store_fail(db, p, rv, "commit") : err;
}

static pai_webhook_delivery *store_delivery_row(pai_db *db, apr_pool_t *p, apr_dbd_row_t *row,
                                                int with_body)
{
    pai_webhook_delivery *d = apr_pcalloc(p, sizeof(*d));
    d->id = apr_pstrdup(p, store_col(db, row, 0));
    d->hook_id = apr_pstrdup(p, store_col(db, row, 1));
    d->change_id = apr_atoi64(store_col(db, row, 2));
    d->event = apr_pstrdup(p, store_col(db, row, 3));
    d->created = apr_atoi64(store_col(db, row, 4));
    d->next_at = apr_atoi64(store_col(db, row, 5));
    d->last_at = apr_atoi64(store_col(db, row, 6));
    d->attempts = atoi(store_col(db, row, 7));
    d->status = apr_pstrdup(p, store_col(db, row, 8));
    d->last_status = atoi(store_col(db, row, 9));
    d->last_error = apr_pstrdup(p, store_col(db, row, 10));
    d->body = with_body ? apr_pstrdup(p, store_col(db, row, 11)) : NULL;
    return d;
}

pai_error *pai_store_webhook_due(pai_db *db, apr_pool_t *p, apr_int64_t now_ms, int limit,
                                 apr_array_header_t **out)
{
    const char *args[] = {i64(p, now_ms), apr_itoa(p, limit)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    if ((err = store_select_all(db, p, ST_HOOK_DUE, 2, args, &res)))
        return err;
    *out = apr_array_make(p, 16, sizeof(pai_webhook_delivery *));
    while ((row = store_next(db, p, res)))
        APR_ARRAY_PUSH(*out, pai_webhook_delivery *) = store_delivery_row(db, p, row, 1);
    return NULL;
}

pai_error *pai_store_webhook_attempt(pai_db *db, apr_pool_t *p, const pai_webhook_delivery *d)
{
    const char *args[] = {apr_itoa(p, d->attempts), d->status, i64(p, d->next_at),
                          i64(p, d->last_at), apr_itoa(p, d->last_status),
                          store_clip(p, d->last_error, 255), d->id};
    return store_exec(db, p, ST_HOOK_ATTEMPT, 7, args, NULL);
}

pai_error *pai_store_webhook_deliveries(pai_db *db, apr_pool_t *p, const char *hook_id,
                                        int limit, apr_array_header_t **out)
{
    const char *args[] = {hook_id, apr_itoa(p, limit)};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row;
    pai_error *err;

    if ((err = store_select_all(db, p, ST_HOOK_DELIVERIES, 2, args, &res)))
        return err;
    *out = apr_array_make(p, 16, sizeof(pai_webhook_delivery *));
    while ((row = store_next(db, p, res)))
        APR_ARRAY_PUSH(*out, pai_webhook_delivery *) = store_delivery_row(db, p, row, 0);
    return NULL;
}

pai_error *pai_store_webhook_deliveries_expire(pai_db *db, apr_pool_t *p, apr_int64_t before_ms)
{
    const char *args[] = {i64(p, before_ms)};
    return store_exec(db, p, ST_HOOK_DELIVERIES_EXPIRE, 1, args, NULL);
}

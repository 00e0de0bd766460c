/* The store: every SQL statement of mod_pairest, run through apr_dbd as
 * prepared statements.  One schema serves SQLite and MySQL/MariaDB. */
#ifndef PAI_STORE_H
#define PAI_STORE_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include <apr_dbd.h>
#include <apr_thread_mutex.h>
#include "err.h"

/* A borrowed connection.  `prepared` caches statements for the life of the
 * connection and `conn_pool` must live exactly as long (mod_dbd's ap_dbd_t
 * provides both). */
typedef struct pai_db {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;
    apr_pool_t *conn_pool;
    apr_thread_mutex_t *write_lock;  /* SQLite: the process's one writer (nested); or NULL */
    int in_tx;                       /* a transaction is open on handle */
    int deadlocked;                  /* the last failure was MariaDB's deadlock: the
                                      * transaction was rolled back, and may be run again */
    /* Moved after every write this connection makes (a statement, a
     * commit), shared by the host's processes: answers read before it moved
     * are stale (mod_pairest.c's answer cache); or NULL. */
    volatile apr_uint32_t *write_epoch;
} pai_db;

typedef struct pai_user {
    const char *username;
    const char *password_hash;
    int admin;
    apr_int64_t generation;   /* tokens carry it; a password change bumps it */
} pai_user;

typedef struct pai_vc {
    const char *name;
    int capacity;             /* percent of the cluster, guaranteed */
    int max_capacity;         /* percent of the cluster, at most */
} pai_vc;

/* Before SQLite is first used in the process (httpd's parent, before its
 * children fork): SQLite without its own locks, which cost a mutex per
 * sqlite3_step and sqlite3_column_* call and a process-wide one per
 * allocation; safe because a connection serves one thread at a time (mod_dbd
 * lends each to one request or loop).  Returns NULL, or why SQLite keeps
 * them (already in use). */
const char *pai_store_sqlite_unlocked(void);

/* Creates the tables when missing and makes sure `default` exists. Idempotent
 * and safe to run from several processes at once. */
pai_error *pai_store_init(pai_db *db, apr_pool_t *p);

/* *out is NULL when the user does not exist. */
pai_error *pai_store_user_get(pai_db *db, apr_pool_t *p, const char *username,
                              pai_user **out);
/* PAI_ERR_CONFLICT_USER when the name is taken. */
pai_error *pai_store_user_create(pai_db *db, apr_pool_t *p, const char *username,
                                 const char *password_hash, int admin);
/* password_hash NULL: unchanged (else the token generation moves on);
 * admin < 0: unchanged.  PAI_ERR_NO_USER when absent. */
pai_error *pai_store_user_update(pai_db *db, apr_pool_t *p, const char *username,
                                 const char *password_hash, int admin);
/* Removes the user and their grants.  PAI_ERR_NO_USER when absent. */
pai_error *pai_store_user_delete(pai_db *db, apr_pool_t *p, const char *username);

/* *out NULL when no such VC. */
pai_error *pai_store_vc_get(pai_db *db, apr_pool_t *p, const char *name, pai_vc **out);
/* Makes the stored VCs exactly `vcs` (pai_vc): added, changed, removed. */
pai_error *pai_store_vcs_sync(pai_db *db, apr_pool_t *p, const apr_array_header_t *vcs);
/* An array of pai_vc, by name. */
pai_error *pai_store_vc_list(pai_db *db, apr_pool_t *p, apr_array_header_t **out);
/* Replaces the user's grants with `vcs` (const char *), all in one transaction. */
pai_error *pai_store_grants_set(pai_db *db, apr_pool_t *p, const char *username,
                                const apr_array_header_t *vcs);
/* An array of const char *, by name. */
/* Every user, by name: username, admin and the VCs granted (pai_user_entry). */
typedef struct pai_user_entry {
    const char *username;
    int admin;
    apr_array_header_t *vcs;      /* const char *, the granted VCs that exist, by name */
} pai_user_entry;
pai_error *pai_store_user_list(pai_db *db, apr_pool_t *p, apr_array_header_t **out);
pai_error *pai_store_grants_get(pai_db *db, apr_pool_t *p, const char *username,
                                apr_array_header_t **out);

/* A job as stored: one row per job, the current attempt's launcher state in it. */
typedef struct pai_job_row {
    const char *name;
    const char *username;
    const char *vc;
    const char *state;            /* WAITING RUNNING SUCCEEDED FAILED STOPPED UNKNOWN */
    const char *sub_state;        /* the launcher's word, or ours (SUBMITTING, QUEUED) */
    const char *execution_type;   /* START or STOP */
    int retries;                  /* attempts so far beyond the first */
    int run_retries;              /* automatic retries since the last START */
    apr_int64_t launcher_id;      /* 0: not (yet) known to the launcher */
    int port_base;
    const char *host;
    apr_int64_t created, launched, completed;   /* epoch ms; 0: not yet */
    apr_int64_t submitted;        /* epoch ms the current attempt was handed on */
    int has_exit;
    int exit_code;
    const char *diagnostics;
    apr_int64_t cpus, memory_mb, gpus;           /* the job's demand */
    const char *config;           /* normalized JSON; "" in lists (pai_store_job_config) */
    apr_array_header_t *tags;     /* const char *: in v2's lists only (else NULL) */
    int tasks, roles;             /* how many tasks and task roles (0: a row made before
                                   * these were kept); in v2's lists */
    const char *protocol;         /* a v2 job's protocol as submitted, secrets masked (JSON;
                                   * NULL or "" for a v1 job): written at insert, read
                                   * with pai_store_job_protocol only */
    const char *launch_tag;       /* the current attempt's tag in the launcher ("": none yet) */
    const char *placement;        /* the attempt's task slots, pai_placement_slots ("": one node) */
    const char *hosts;            /* the attempt's node addresses, comma list in slot order */
    apr_int64_t version;          /* bumped by every write: saves are checked against it */
    int platform_retries;         /* automatic retries after platform failures (pai_exitspec),
                                   * not counted against retryCount */
    const char *exit_task;        /* the attempt's first failing task ("role-index", "": none) */
    const char *exit_why;         /* the batch script's word on it; NULL: not known to this
                                   * row (a save then keeps what the history has) */
} pai_job_row;

/* PAI_ERR_JOB_DUPLICATE when the name is taken. */
pai_error *pai_store_job_insert(pai_db *db, apr_pool_t *p, const pai_job_row *j);
/* *out NULL when absent. */
pai_error *pai_store_job_get(pai_db *db, apr_pool_t *p, const char *name, pai_job_row **out);
/* A page of the job list, newest first; NULL filters match all, limit 0: no limit.
 * The rows hold the summary fields only (name, owner, VC, states, retries,
 * created, completed, exit). */
typedef struct pai_job_filter {
    const char *username, *state, *vc;
    int offset, limit;
} pai_job_filter;
pai_error *pai_store_job_page(pai_db *db, apr_pool_t *p, const pai_job_filter *f,
                              apr_array_header_t **out);

/* v2's job list: any of these users, VCs and states (NULL or empty: any), with
 * one of tags_in and none of tags_out, a
 * keyword in the user's, job's or VC's name, ordered by one column (name,
 * created, username, vc, retries, gpus, tasks, state or completed; the name
 * breaks ties), one page (by offset, or after a row); *total (when asked)
 * counts every match.  The rows
 * hold the summary fields, launched, gpus, tasks and roles. */
#define PAI_JOB_QUERY_LIST_MAX 32
typedef struct pai_job_query {
    const apr_array_header_t *usernames, *vcs, *states;   /* const char *, each at most
                                                           * PAI_JOB_QUERY_LIST_MAX */
    const apr_array_header_t *tags_in, *tags_out;         /* has one of / none of */
    const char *keyword;
    const char *order;            /* NULL: created */
    int descending;
    int limit, offset;
    const char *after_value, *after_name;  /* keyset: rows after this one (its order
                                            * column's value as text, its name); NULL:
                                            * from the start */
} pai_job_query;
pai_error *pai_store_job_query(pai_db *db, apr_pool_t *p, const pai_job_query *q,
                               apr_array_header_t **out, apr_int64_t *total);

/* A job's tags (v2): added once (PAI_ERR_INVALID past PAI_JOB_TAGS_MAX),
 * removed, listed in order.  They go with the job. */
#define PAI_JOB_TAGS_MAX 64
pai_error *pai_store_job_tag_add(pai_db *db, apr_pool_t *p, const char *name, const char *tag);
pai_error *pai_store_job_tag_delete(pai_db *db, apr_pool_t *p, const char *name,
                                    const char *tag);
pai_error *pai_store_job_tags(pai_db *db, apr_pool_t *p, const char *name,
                              apr_array_header_t **out);

/* Jobs still WAITING or RUNNING, without their configs (read on demand:
 * a config may be a megabyte, and the sync runs every second). */
pai_error *pai_store_job_list_active(pai_db *db, apr_pool_t *p, apr_array_header_t **out);
/* The active jobs summed per VC, queued or not, and state (kept with every
 * job write, not summed when asked); a caller adds rows of a VC up. */
typedef struct pai_active_total {
    const char *vc;
    int queued;                   /* sub_state QUEUED: waiting inside mod_pairest */
    int waiting;                  /* state WAITING (else RUNNING) */
    int jobs;
    apr_int64_t cpus, memory_mb, gpus;
} pai_active_total;
pai_error *pai_store_active_totals(pai_db *db, apr_pool_t *p, apr_array_header_t **out);

/* Jobs queued inside mod_pairest, oldest hand-over first, without configs. */
pai_error *pai_store_job_list_queued(pai_db *db, apr_pool_t *p, apr_array_header_t **out);
/* A v2 job's protocol (see pai_job_row.protocol); "" for a v1 job, NULL: no job. */
pai_error *pai_store_job_protocol(pai_db *db, apr_pool_t *p, const char *name,
                                  const char **protocol);
/* A v2 job's secrets (JSON), apart from its row; NULL: none. */
pai_error *pai_store_job_secrets_put(pai_db *db, apr_pool_t *p, const char *name,
                                     const char *secrets);
pai_error *pai_store_job_secrets_get(pai_db *db, apr_pool_t *p, const char *name,
                                     const char **secrets);
/* A job's stored config; NULL when the job is gone. */
pai_error *pai_store_job_config(pai_db *db, apr_pool_t *p, const char *name, const char **config);
/* How many of a user's jobs wait (WAITING) and run (RUNNING). */
pai_error *pai_store_user_job_counts(pai_db *db, apr_pool_t *p, const char *username,
                                     int *waiting, int *running);

/* A job's SSH key pair and the secret its tasks report with. */
pai_error *pai_store_ssh_keys_put(pai_db *db, apr_pool_t *p, const char *name,
                                  const char *private_key, const char *public_key,
                                  const char *secret);
/* The outputs are NULL when the job has none. */
pai_error *pai_store_ssh_keys_get(pai_db *db, apr_pool_t *p, const char *name,
                                  const char **private_key, const char **public_key,
                                  const char **secret);
/* A new secret for the reports of the job's next attempt. */
pai_error *pai_store_ssh_secret_set(pai_db *db, apr_pool_t *p, const char *name,
                                    const char *secret);
/* Where a task's sshd listens, as the task reported it. */
typedef struct pai_ssh_endpoint {
    const char *role;
    int index;
    const char *ip;
    int port;
    const char *host_key;         /* "ssh-ed25519 AAAA...", or "" */
} pai_ssh_endpoint;
/* Records a task's endpoint once: a second report of the same task and
 * attempt is refused (403). */
pai_error *pai_store_ssh_endpoint_put(pai_db *db, apr_pool_t *p, const char *name, int attempt,
                                      const pai_ssh_endpoint *ep);
pai_error *pai_store_ssh_endpoints(pai_db *db, apr_pool_t *p, const char *name, int attempt,
                                   apr_array_header_t **out);

/* The cluster's size as the launcher last reported it (0s: not known yet). */
typedef struct pai_cluster_size {
    apr_int64_t cpus, memory_mb, gpus, updated_ms;
    int nodes;
    const char *shapes;           /* pai_node_shapes_format ("": not known) */
} pai_cluster_size;
pai_error *pai_store_cluster_get(pai_db *db, apr_pool_t *p, pai_cluster_size *out);
pai_error *pai_store_cluster_set(pai_db *db, apr_pool_t *p, const pai_cluster_size *c);

/* Admission decisions run one at a time across every process and host: a
 * transaction that first writes the one cluster row. */
pai_error *pai_store_admission_begin(pai_db *db, apr_pool_t *p, apr_dbd_transaction_t **tx);
pai_error *pai_store_admission_end(pai_db *db, apr_pool_t *p, apr_dbd_transaction_t *tx,
                                   int commit);
/* Whether the last failure on db was a deadlock (MariaDB: ER_LOCK_DEADLOCK),
 * after which the whole transaction may be run again; reading it clears it. */
int pai_store_deadlocked(pai_db *db);
/* How many times a transaction lost to a deadlock is run again. */
#define PAI_STORE_DEADLOCK_RETRIES 3
/* Writes every mutable column if the row is still at attempt `expected_retries`
 * and nobody wrote it since j was read (j->version); then j->version moves on.
 * *saved is 0 when another writer came first. */
pai_error *pai_store_job_save(pai_db *db, apr_pool_t *p, pai_job_row *j,
                              int expected_retries, int *saved);
/* Records the launcher's id, and where the attempt's tasks go, if none is
 * recorded yet for this attempt. */
pai_error *pai_store_job_set_launched(pai_db *db, apr_pool_t *p, const char *name, int retries,
                                      apr_int64_t launcher_id, const char *placement);
/* Moves job name, if still at version, to the deleted jobs (with who and
 * when), its keys and SSH endpoints gone; *deleted 0 when it had changed. */
pai_error *pai_store_job_delete(pai_db *db, apr_pool_t *p, const char *name,
                                 apr_int64_t version, const char *deleted_by,
                                 apr_int64_t now_ms, int *deleted);
/* A task of an attempt as it reported itself (POST .../tasks/report). */
typedef struct pai_task_status {
    const char *role;
    int index;
    const char *node;             /* the node it ran on ("": not reported) */
    apr_int64_t launched, completed;   /* epoch ms; 0: not (yet) reported */
    int has_exit;
    int exit_code;
    const char *exit_why;         /* the batch script's word on a failure, or "" */
} pai_task_status;
/* Adds what t says to the task's record in j's current attempt (an end,
 * has_exit: its node, time and exit; else a start: its node and time; the
 * other fields stay as an earlier report left them); j's version stays. */
pai_error *pai_store_task_report(pai_db *db, apr_pool_t *p, const pai_job_row *j,
                                 const pai_task_status *t);
/* The tasks of one attempt that reported, keyed "role-index" (pai_task_status *). */
pai_error *pai_store_task_statuses(pai_db *db, apr_pool_t *p, const char *name,
                                   apr_int64_t created, int attempt, apr_hash_t **out);
/* Sets j->exit_task and j->exit_why from the history of j's current attempt
 * ("" when it has none). */
pai_error *pai_store_job_attempt_exit(pai_db *db, apr_pool_t *p, pai_job_row *j);
/* The attempts of the job name created at created (ms), oldest first: rows
 * with the attempt fields only (retries is the attempt's index). */
pai_error *pai_store_job_attempts(pai_db *db, apr_pool_t *p, const char *name,
                                  apr_int64_t created, apr_array_header_t **out);
/* Removes a job whose first submission never reached the launcher. */
pai_error *pai_store_job_delete_unsubmitted(pai_db *db, apr_pool_t *p, const char *name);

/* A lease in the database: *held is 1 when `holder` has it (renewed, or taken
 * over after it expired) until now_ms + ttl_ms.  The first call makes it. */
pai_error *pai_store_lease_take(pai_db *db, apr_pool_t *p, const char *name, const char *holder,
                                apr_int64_t now_ms, apr_int64_t ttl_ms, int *held);
/* Gives the lease up at once if `holder` has it, so that another takes it over
 * on its next try instead of when it would have expired. */
pai_error *pai_store_lease_release(pai_db *db, apr_pool_t *p, const char *name,
                                   const char *holder);

/* Failed logins under a key, counted in a fixed window of seconds. */
pai_error *pai_store_login_failures(pai_db *db, apr_pool_t *p, const char *key,
                                    apr_int64_t *window_start, int *failures);
/* One more failure; a window older than `window` seconds starts over at 1. */
pai_error *pai_store_login_failure_add(pai_db *db, apr_pool_t *p, const char *key,
                                       apr_int64_t now, apr_int64_t window);
pai_error *pai_store_login_failures_clear(pai_db *db, apr_pool_t *p, const char *key);
/* One failure fewer (an attempt counted first proved good). */
pai_error *pai_store_login_failure_undo(pai_db *db, apr_pool_t *p, const char *key);
/* Forgets windows that started before `before` (epoch seconds). */
pai_error *pai_store_login_failures_expire(pai_db *db, apr_pool_t *p, apr_int64_t before);

/* Tokens ended by a logout, by SHA-256 (hex), kept until they expire (epoch s). */
pai_error *pai_store_token_revoke(pai_db *db, apr_pool_t *p, const char *hash,
                                  apr_int64_t expires);
pai_error *pai_store_token_revoked(pai_db *db, apr_pool_t *p, const char *hash, int *revoked);
/* Also the issued tokens' rows past their expiry. */
pai_error *pai_store_tokens_expire(pai_db *db, apr_pool_t *p, apr_int64_t before);

/* One thing that happened to a job's attempt (or one of its tasks). */
typedef struct pai_job_event {
    const char *name;
    apr_int64_t created;         /* the job's creation (ms): tells it from a later namesake */
    int attempt;
    const char *type;            /* "Normal" or "Warning" */
    const char *reason;          /* a CamelCase word */
    const char *message;
    const char *task_role;       /* "" for the job */
    int task_index;              /* -1 for the job */
    apr_int64_t first_ms, last_ms;
    int count;
    const char *source;          /* who saw it: "mod_pairest", "slurm", "task" */
} pai_job_event;
/* Records e (at e->last_ms); the same reason for the same attempt and task
 * again counts one more, with the newer message. */
pai_error *pai_store_job_event(pai_db *db, apr_pool_t *p, const pai_job_event *e);
/* A change of a job's state (the change stream): the job as it was then. */
typedef struct pai_change {
    apr_int64_t id;               /* increasing; ids of writes rolled back are never seen */
    apr_int64_t at_ms;
    const char *name;
    apr_int64_t created;
    const char *username;
    const char *vc;
    const char *state;
    const char *sub_state;
    int retries;
    int has_exit;
    int exit_code;
    int deleted;                  /* the job was deleted (state: its last) */
} pai_change;
/* Changes after id `after`, oldest first, at most limit. */
pai_error *pai_store_changes_after(pai_db *db, apr_pool_t *p, apr_int64_t after, int limit,
                                   apr_array_header_t **out /* pai_change * */);
/* The first and last id kept (0, 0: none). */
pai_error *pai_store_changes_bounds(pai_db *db, apr_pool_t *p, apr_int64_t *first,
                                    apr_int64_t *last);
/* Changes older than before_ms, but for the last one. */
pai_error *pai_store_changes_expire(pai_db *db, apr_pool_t *p, apr_int64_t before_ms);
/* A job's events, the newest first (1000 at most). */
pai_error *pai_store_job_events(pai_db *db, apr_pool_t *p, const char *name, apr_int64_t created,
                                apr_array_header_t **out /* pai_job_event * */);

/* When the launcher expects a waiting job (the one created then) to start,
 * ms; 0 clears it / reads as none. */
pai_error *pai_store_job_wait_set(pai_db *db, apr_pool_t *p, const char *name,
                                  apr_int64_t created, apr_int64_t expected_start_ms);
pai_error *pai_store_job_wait_get(pai_db *db, apr_pool_t *p, const char *name,
                                  apr_int64_t created, apr_int64_t *expected_start_ms);

/* An issued token: never the token, its SHA-256 (epoch seconds). */
typedef struct pai_token_row {
    const char *id, *username, *hash;
    apr_int64_t created, expires, last_used;
    int application;
} pai_token_row;
pai_error *pai_store_token_add(pai_db *db, apr_pool_t *p, const pai_token_row *t);
/* A user's unexpired tokens, the newest first (1000 at most). */
pai_error *pai_store_token_list(pai_db *db, apr_pool_t *p, const char *username,
                                apr_int64_t now, apr_array_header_t **out /* pai_token_row * */);
pai_error *pai_store_token_get(pai_db *db, apr_pool_t *p, const char *id, pai_token_row **out);
pai_error *pai_store_token_delete(pai_db *db, apr_pool_t *p, const char *id);
pai_error *pai_store_token_used(pai_db *db, apr_pool_t *p, const char *id, apr_int64_t now);

/* One audited call: who (""= anonymous), from where, what, on what, and the
 * HTTP status it ended with. */
typedef struct pai_audit_row {
    apr_int64_t id;               /* set by the store */
    apr_int64_t at_ms;
    const char *actor, *address, *action, *target, *detail;
    int outcome;
    int repeats;                  /* anonymous refusals folded into this row */
} pai_audit_row;
typedef struct pai_audit_filter {
    const char *actor, *action;   /* NULL: any */
    int offset, limit;
} pai_audit_filter;
pai_error *pai_store_audit_add(pai_db *db, apr_pool_t *p, const pai_audit_row *a);
/* An anonymous refusal: folded into the row of the same refusal (address,
 * action, target, outcome) made since since_ms, if any, else a new row; so
 * that nobody without an account can grow the log faster than a row per
 * address, call and window. */
pai_error *pai_store_audit_add_anonymous(pai_db *db, apr_pool_t *p, const pai_audit_row *a,
                                         apr_int64_t since_ms);
/* Forgets records older than before_ms (PaiAuditRetention). */
pai_error *pai_store_audit_expire(pai_db *db, apr_pool_t *p, apr_int64_t before_ms);
/* Newest first: an array of pai_audit_row. */
pai_error *pai_store_audit_page(pai_db *db, apr_pool_t *p, const pai_audit_filter *f,
                                apr_array_header_t **out);

/* A webhook (POST /api/v2/webhooks): its owner, URL, events (a comma list),
 * the secret deliveries are signed with, and the last change fanned out. */
typedef struct pai_webhook_row {
    const char *id;               /* 32 hex digits */
    const char *username;
    const char *url;
    const char *events;
    const char *secret;
    apr_int64_t created;          /* epoch ms */
    apr_int64_t cursor;           /* the last change id turned into deliveries */
} pai_webhook_row;
/* One change for one hook, until the receiver took it or it was given up. */
typedef struct pai_webhook_delivery {
    const char *id;               /* "<hook id>-<change id>": the same on every attempt,
                                   * the receiver's key to drop a repeat */
    const char *hook_id;
    apr_int64_t change_id;
    const char *event;
    const char *body;             /* JSON, as signed and sent on every attempt */
    apr_int64_t created, next_at, last_at;   /* epoch ms; last_at 0: not tried */
    int attempts;
    const char *status;           /* "pending", "delivered" or "failed" */
    int last_status;              /* the receiver's HTTP status (0: none) */
    const char *last_error;       /* why the last attempt failed ("" if it did not) */
} pai_webhook_delivery;
/* Adds hook h unless its owner has max hooks already (PAI_ERR_INVALID). */
pai_error *pai_store_webhook_add(pai_db *db, apr_pool_t *p, const pai_webhook_row *h, int max);
/* A user's hooks (username NULL: everyone's), oldest first. */
pai_error *pai_store_webhook_list(pai_db *db, apr_pool_t *p, const char *username,
                                  apr_array_header_t **out /* pai_webhook_row * */);
/* *out NULL when there is no such hook. */
pai_error *pai_store_webhook_get(pai_db *db, apr_pool_t *p, const char *id,
                                 pai_webhook_row **out);
/* The hook and its deliveries; PAI_ERR_NOT_FOUND when absent. */
pai_error *pai_store_webhook_delete(pai_db *db, apr_pool_t *p, const char *id);
/* In one transaction: the deliveries (pai_webhook_delivery) added and the
 * hook's cursor moved to `cursor`. */
pai_error *pai_store_webhook_fanout(pai_db *db, apr_pool_t *p, const char *hook_id,
                                    const apr_array_header_t *deliveries, apr_int64_t cursor);
/* Pending deliveries due at now_ms, the longest due first (limit at most). */
pai_error *pai_store_webhook_due(pai_db *db, apr_pool_t *p, apr_int64_t now_ms, int limit,
                                 apr_array_header_t **out /* pai_webhook_delivery * */);
/* Records an attempt's outcome: attempts, status, next_at, last_* of d. */
pai_error *pai_store_webhook_attempt(pai_db *db, apr_pool_t *p, const pai_webhook_delivery *d);
/* A hook's deliveries, the newest first (limit at most); bodies left out. */
pai_error *pai_store_webhook_deliveries(pai_db *db, apr_pool_t *p, const char *hook_id,
                                        int limit, apr_array_header_t **out);
/* Forgets finished deliveries last tried before before_ms. */
pai_error *pai_store_webhook_deliveries_expire(pai_db *db, apr_pool_t *p, apr_int64_t before_ms);

#endif

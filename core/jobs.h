/* Jobs: the environment the job layer works in, submission, start/stop and
 * the read views (admit.h: admission; sync.h: the reconciliation that keeps
 * the store in step with the launcher).  The store is the truth users read;
 * the launcher is the truth of what runs. */
#ifndef PAI_JOBS_H
#define PAI_JOBS_H

#include "account.h"
#include "launcher.h"
#include "store.h"
#include "protocol.h"
#include "tasklog.h"

typedef struct pai_jobs_env {
    pai_db *db;
    pai_launcher *launcher;
    int port_lo, port_hi;        /* task ports are taken from this range */
    const char *log_dir;         /* where task logs live on the nodes */
    const char *report_base;     /* URL tasks reach this server at; NULL: no sshd in tasks */
    const char *job_user;        /* the account tasks (and SSH logins) run as */
    int per_user;                /* 1: as the job owner's same-named account instead */
    struct pai_view_cache *views;/* this process's rendered views; may be NULL */
    const unsigned char *tag_key;/* signs launch tags (the server's secret) */
    apr_size_t tag_key_len;
    int max_waiting, max_active; /* per user (0: no limit) */
    int containers;              /* 1: tasks run in the job's image (PaiContainerRuntime) */
    const apr_array_header_t *image_allow; /* PaiImageAllow patterns; NULL: any image */
    const char *public_url;      /* this server's URL, for the log URLs of job details */
    int log_retention_days;      /* PaiLogRetention: logs are served so long after a job ends */
} pai_jobs_env;

/* POST /jobs: validate, check the VC, store, hand to the launcher.  A job the
 * launcher did not take is not kept.  proto: a v2 submission's protocol (its
 * config is proto->config), or NULL. */
pai_error *pai_job_submit(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                          const json_t *config, const pai_protocol *proto, apr_int64_t now_ms,
                          const char **name);
/* 403 saying why when the PAI user's jobs could not run (their Unix account
 * may not be used); for user creation in the per-user mode. */
pai_error *pai_job_account_check(const pai_jobs_env *env, apr_pool_t *p, const char *username);
/* PUT /jobs/:name/executionType with START or STOP. */
pai_error *pai_job_execute(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                           const char *name, const char *value, apr_int64_t now_ms);

/* DELETE (owner or admin): stops an active job, then frees its name; the
 * job's record stays among the deleted jobs. */
pai_error *pai_job_remove(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                          const char *name, apr_int64_t now_ms);

/* 403 unless `who` owns job `name` or is an admin (404: no such job); for
 * PaiReadAccess owner and Require pai-job-owner. */
pai_error *pai_job_owner_check(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                               const char *name);

/* 404 JobNotFound unless job `name` exists and belongs to `username` (v0.8's
 * routes under /user/:username/jobs name a job by its owner too). */
pai_error *pai_job_of_user(const pai_jobs_env *env, apr_pool_t *p, const char *username,
                           const char *name);

/* The read views (store only, never the launcher). */
/* GET /api/v1/jobs: the store's page (pai_store_job_page) written as the
 * seed's list, one row at a time. */
void pai_job_list_write(pai_jsonw *w, const apr_array_header_t *rows);
/* GET /jobs/:name as JSON text (rendered once per change of the job). */
pai_error *pai_job_status_text(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                               const char **text);
pai_error *pai_job_config_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                               json_t **out);

/* GET /jobs/:name/ssh: the running tasks' sshd addresses and where the key is. */
pai_error *pai_job_ssh_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                            const char *base_url, json_t **out);
/* GET /jobs/:name/ssh/key: the private key, for the job's owner or an admin. */
pai_error *pai_job_ssh_key(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                           const char *name, const char **key);
/* POST /jobs/:name/ssh/report from a task, with the job's secret. */
pai_error *pai_job_ssh_report(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                              const char *secret, const json_t *body);

/* POST /jobs/:name/tasks/report from a task's wrapper (started) or the batch
 * script (exited, with the exit code), with the attempt's secret. */
pai_error *pai_job_task_report(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                               const char *secret, const json_t *body, apr_int64_t now_ms);

/* GET /api/v2/virtual-clusters/:name/sku-types and /api/v2/cluster/sku-types
 * (?vc=name; NULL: the cluster's): pai_vc_sku_types. */
pai_error *pai_vc_sku_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                           json_t **out);

/* GET /virtual-clusters (name NULL: all, keyed by name) and /virtual-clusters/:name;
 * v2: OpenPAI v1.8's view and error (pai_vc_view_v2). */
pai_error *pai_vc_status_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                              int v2, json_t **out);

/* /api/v2: v1.8's job list (an array, or {totalCount, data} with_total; with
 * keyset, {data, next[, totalCount]}: next is the cursor of the page after, or
 * null), a job's detail, and its protocol as YAML (a v1 job's config for a v1
 * job). */
typedef struct pai_job_page {
    apr_array_header_t *rows;       /* of pai_job_row * */
    apr_int64_t total;
    int with_total, keyset;
    const char *next;               /* keyset: the next page's cursor, NULL: none */
} pai_job_page;
pai_error *pai_job_query_page(const pai_jobs_env *env, apr_pool_t *p, const pai_job_query *q,
                              int with_total, int keyset, pai_job_page **out);
void pai_job_page_write(pai_jsonw *w, const pai_job_page *pg);
/* A cursor a page's next gave, for q's order: sets q->after_*; 400 otherwise. */
pai_error *pai_job_cursor_read(apr_pool_t *p, const char *cursor, pai_job_query *q);
/* GET /api/v2/jobs/:fw (attempt -1) and .../attempts/:attempt: the job as it
 * was in that attempt (404 NoJobError when it has none such). */
pai_error *pai_job_detail_v2(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                             int attempt, json_t **out);
/* GET /api/v2/jobs/:fw/attempts/:a/taskRoles/:role/taskIndex/:i/attempts:
 * one task of an attempt, with its one task attempt, in v1.8's shape. */
pai_error *pai_job_task_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                             int attempt, const char *role, int index, json_t **out);
/* Where a task's logs are (GET .../attempts/:ta/logs[/:logName]), for the
 * job's owner and admins; live: the attempt may still write them.  403 for
 * others, NoTaskLogError for no such task attempt or a log past retention. */
pai_error *pai_job_task_log_where(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                                  const char *name, int attempt, const char *role, int index,
                                  int task_attempt, apr_int64_t now_ms, pai_tasklog_where *w,
                                  int *live);
/* live: the job (the one created then) is still in that attempt and running. */
pai_error *pai_job_task_log_live(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                                 apr_int64_t created, int attempt, int *live);
/* GET /api/v2/jobs/:fw/events: v1.8's {totalCount, data}, newest first;
 * type "Normal" or "Warning" (NULL: both). */
pai_error *pai_job_events_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                               const char *type, json_t **out);
pai_error *pai_job_protocol_text(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                                 const char **yaml);
/* GET /api/v2/jobs/:fw/job-attempts (index -1: all, the latest first, then the
 * others oldest first) and .../job-attempts/:index, in v1.8's shape. */
pai_error *pai_job_attempts_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                                 int index, json_t **out);
/* PUT (add 1) or DELETE (add 0) /api/v2/jobs/:fw/tag: the owner or an admin. */
pai_error *pai_job_tag(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                       const char *name, const char *tag, int add);

#endif

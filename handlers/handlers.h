/* The contract between the router (mod_pairest.c) and the resource handlers:
 * a handler reads a pai_req, calls core, and leaves a result for the one
 * responder to render.  No httpd type crosses this line. */
#ifndef PAI_HANDLERS_H
#define PAI_HANDLERS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "../core/json.h"
#include "../core/account.h"
#include "../core/jobs.h"
#include "../core/route.h"
#include "../core/changes.h"

typedef struct pai_settings {
    apr_int64_t token_lifetime;      /* default token expiration, seconds */
    apr_int64_t token_max_lifetime;  /* the most a client may ask for */
    apr_int64_t app_token_max_lifetime; /* PaiApplicationTokenMaxLifetime, seconds */
    pai_secret secret;
    int bcrypt_cost;
    int port_lo, port_hi;            /* task ports */
    const char *job_log_dir;         /* task logs on the nodes */
    const char *report_base;         /* URL tasks reach this server at */
    const char *job_user;            /* the account jobs and SSH logins run as */
    int per_user;                    /* 1: each user's jobs run as their own account */
    pai_login_limits login_limits;
    int max_waiting, max_active;     /* jobs per user (0: no limit) */
    const char *public_url;          /* this server's URL for links in replies (never Host) */
    const char *container_runtime;   /* PaiContainerRuntime: "runc" or "none" */
    int containers;                  /* 1: tasks run in their job's image (runc) */
    const apr_array_header_t *image_allow; /* PaiImageAllow patterns; NULL: any image */
    int log_retention_days;          /* PaiLogRetention (0: no limit) */
    int log_follow_seconds;          /* PaiLogFollowSeconds: a followed log's longest read */
    int stream_seconds;              /* PaiStreamSeconds: a change stream's longest life */
    int stream_max;                  /* PaiStreamMax: streams a process holds (-1: unset) */
    int stream_retention_hours;      /* PaiStreamRetention: changes kept to resume from */
    const apr_array_header_t *webhook_allow; /* PaiWebhookAllow: apr_ipsubnet_t * a hook may
                                      * reach though private; NULL: none */
} pai_settings;

/* PaiReadAccess: who may read jobs and VCs (per location). */
typedef enum {
    PAI_READ_PUBLIC,                 /* anyone, as OpenPAI (the default) */
    PAI_READ_USERS,                  /* any valid token */
    PAI_READ_OWNER                   /* any valid token; a job's config and SSH info its owner
                                      * and admins only; a user lists their own jobs */
} pai_read_access;

/* A watcher of the change stream, as its handler sets it out. */
typedef struct pai_change_watch {
    pai_change_filter filter;
    apr_int64_t cursor;              /* the last change the watcher has */
    apr_int64_t until;               /* the store's last when it came: read from the store */
    int reset;                       /* changes after its Last-Event-ID were let go */
} pai_change_watch;

typedef struct pai_req {
    apr_pool_t *pool;
    const pai_settings *cfg;
    pai_db *db;
    pai_launcher *launcher;          /* this process's; NULL if it could not be made */
    pai_auth_cache *auth_cache;      /* this process's verified tokens; may be NULL */
    pai_identity who;                /* who.username NULL: anonymous */
    const char *token;               /* the bearer token that proved who (NULL: none) */
    json_t *body;                    /* an object, or NULL for body-less routes */
    const char *params[PAI_ROUTE_MAX_PARAMS]; /* the route's :params, in order */
    apr_table_t *query;              /* decoded query arguments */
    const char *base_url;            /* scheme://host:port of this server, from its
                                      * configuration (a client's Host header never is) */
    const char *job_secret;          /* X-PAI-Job-Secret, from a task */
    const char *client_ip;           /* the caller's address (mod_remoteip's, if used) */
    pai_read_access read_access;     /* this location's PaiReadAccess */
    apr_int64_t now;                 /* epoch seconds */
    apr_int64_t now_ms;
    int status;                      /* the handler's success status */
    json_t *result;                  /* bound to pool */
    const char *text;                /* a plain-text answer instead (a key download) */
    const char *text_type;           /* its media type; NULL: text/plain */
    const char *json_text;           /* or JSON already rendered (a cached view) */
    struct pai_view_cache *views;    /* this process's rendered views; may be NULL */
    /* Or a part of a file, sent by httpd from the file itself (text/plain):
     * [file_offset, file_offset + file_length); with follow, then what the
     * file gains while follow_live says its writer may still write it. */
    apr_file_t *file;
    apr_off_t file_offset, file_length;
    int follow;
    /* A followed file is looked at every PAI_FOLLOW_POLL_MS, its writer's
     * state (follow_live) every PAI_FOLLOW_LIVE_MS. */
#define PAI_FOLLOW_POLL_MS 250
#define PAI_FOLLOW_LIVE_MS 2000
    int (*follow_live)(struct pai_req *rq, apr_pool_t *scratch);
    void *follow_ctx;
    /* Or, file NULL, a followed file its writer has not made yet: the glue
     * calls follow_open (which sets file, file_offset and file_length, or
     * *absent while it is not there) every PAI_FOLLOW_POLL_MS while
     * follow_live says the writer lives, up to PAI_FOLLOW_AWAIT_SECS (or the
     * follow's own bound), and answers its last error if it never comes. */
#define PAI_FOLLOW_AWAIT_SECS 30
    pai_error *(*follow_open)(struct pai_req *rq, int *absent);
    /* Or JSON the glue streams (a list of thousands of rows never becomes a
     * tree): emit writes emit_ctx, already read, through the writer. */
    void (*emit)(pai_jsonw *w, const void *ctx);
    const void *emit_ctx;
    /* Or a change stream (text/event-stream) the glue keeps sending. */
    pai_change_watch *watch;
    const char *last_event_id;       /* the Last-Event-ID header */
} pai_req;

typedef pai_error *(*pai_handler_fn)(pai_req *rq);

/* routes.c: the handler of a route of core/route.c's table (NULL: none). */
pai_handler_fn pai_route_handler(int id);
/* The route's body from what the client sent: NULL for a body-less route,
 * else an object from JSON (or a form, where the route takes one). */
pai_error *pai_route_body(apr_pool_t *p, int id, const char *content_type, const char *buf,
                          apr_size_t len, json_t **body);

/* The jobs layer's view of this server: its settings, a database, a launcher. */
void pai_jobs_env_init(pai_jobs_env *env, const pai_settings *cfg, pai_db *db,
                       pai_launcher *launcher);
/* The same for a request; 503 when this process has no launcher. */
pai_error *pai_req_jobs_env(pai_req *rq, pai_jobs_env *env);

/* Success answers: a JSON value, or OpenPAI's {"message": ...}, or JSON
 * written by emit from ctx (200). */
void pai_reply_stream(pai_req *rq, void (*emit)(pai_jsonw *w, const void *ctx),
                      const void *ctx);
void pai_reply(pai_req *rq, int status, json_t *body);
void pai_reply_message(pai_req *rq, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The answer another handler gave in sub (a route that is another's with
 * its parameters changed), whatever its kind. */
void pai_reply_take(pai_req *rq, const pai_req *sub);

/* A body that is {"value": text} and nothing else (START/STOP, a tag). */
pai_error *pai_body_value(pai_req *rq, const char **value);

/* v2's "user~job": 1 and its two halves when both are valid names (the
 * first '~' splits: a job name may hold more), else 0. */
int pai_framework_name_split(apr_pool_t *p, const char *fw, const char **user,
                             const char **name);

/* A query number in [lo, hi]; absent leaves *out as it is. */
pai_error *pai_query_int(pai_req *rq, const char *key, int lo, int hi, int *out);

/* token.c */
pai_error *pai_token_post(pai_req *rq);
pai_error *pai_v2_login_post(pai_req *rq);
pai_error *pai_v2_logout_delete(pai_req *rq);
pai_error *pai_v2_tokens_get(pai_req *rq);
pai_error *pai_v2_token_check_get(pai_req *rq);
pai_error *pai_v2_token_application_post(pai_req *rq);
pai_error *pai_v2_token_delete(pai_req *rq);
/* user.c */
pai_error *pai_user_put(pai_req *rq);
pai_error *pai_user_delete(pai_req *rq);
pai_error *pai_user_vcs_put(pai_req *rq);
/* job.c */
pai_error *pai_jobs_get(pai_req *rq);
pai_error *pai_jobs_post(pai_req *rq);
pai_error *pai_job_get(pai_req *rq);
pai_error *pai_job_config_get(pai_req *rq);
pai_error *pai_job_execution_put(pai_req *rq);
pai_error *pai_job_delete(pai_req *rq);
pai_error *pai_job_ssh_get(pai_req *rq);
pai_error *pai_job_ssh_key_get(pai_req *rq);
pai_error *pai_job_ssh_report_post(pai_req *rq);
pai_error *pai_job_task_report_post(pai_req *rq);
/* vc.c */
pai_error *pai_vcs_get(pai_req *rq);
pai_error *pai_vc_get(pai_req *rq);
pai_error *pai_v2_vcs_get(pai_req *rq);
pai_error *pai_v2_vc_get(pai_req *rq);
/* stream.c */
pai_error *pai_v2_events_stream_get(pai_req *rq);
/* webhook.c */
pai_error *pai_v2_webhooks_get(pai_req *rq);
pai_error *pai_v2_webhooks_post(pai_req *rq);
pai_error *pai_v2_webhook_get(pai_req *rq);
pai_error *pai_v2_webhook_delete(pai_req *rq);
pai_error *pai_v2_webhook_deliveries_get(pai_req *rq);
/* v2job.c */
pai_error *pai_v2_jobs_get(pai_req *rq);
pai_error *pai_v2_jobs_post(pai_req *rq);
pai_error *pai_v2_job_get(pai_req *rq);
pai_error *pai_v2_job_config_get(pai_req *rq);
pai_error *pai_v2_job_execution_put(pai_req *rq);
pai_error *pai_v2_job_tag_put(pai_req *rq);
pai_error *pai_v2_job_tag_delete(pai_req *rq);
pai_error *pai_v2_job_attempts_healthz_get(pai_req *rq);
pai_error *pai_v2_job_attempts_get(pai_req *rq);
pai_error *pai_v2_job_attempt_get(pai_req *rq);
pai_error *pai_v2_vc_sku_types_get(pai_req *rq);
pai_error *pai_v2_cluster_sku_types_get(pai_req *rq);
pai_error *pai_v2_job_attempt_detail_get(pai_req *rq);
pai_error *pai_v2_job_task_attempts_get(pai_req *rq);
pai_error *pai_v2_job_task_logs_get(pai_req *rq);
pai_error *pai_v2_job_task_log_get(pai_req *rq);
pai_error *pai_v2_job_events_get(pai_req *rq);
/* audit.c */
pai_error *pai_audit_get(pai_req *rq);
/* user.c: the user list; GET /api/v1 */
pai_error *pai_users_get(pai_req *rq);
pai_error *pai_api_get(pai_req *rq);
pai_error *pai_v2_info_get(pai_req *rq);
pai_error *pai_v2_users_get(pai_req *rq);
pai_error *pai_v2_user_get(pai_req *rq);
/* userjob.c: v0.8's routes under /api/v1/user/:username/jobs */
pai_error *pai_user_jobs_get(pai_req *rq);
pai_error *pai_user_jobs_post(pai_req *rq);
pai_error *pai_user_job_get(pai_req *rq);
pai_error *pai_user_job_config_get(pai_req *rq);
pai_error *pai_user_job_execution_put(pai_req *rq);
pai_error *pai_user_job_delete(pai_req *rq);
pai_error *pai_user_job_ssh_get(pai_req *rq);

#endif

/* mod_pairest's glue shared by its files (mod_pairest.c: hooks and the one
 * responder; mod_pairest_config.c: directives; mod_pairest_auth.c: PAI tokens
 * in httpd's auth phases; mod_pairest_sync.c: the sync on mod_watchdog): the
 * configuration, this process's state, the request's database and caller. */
#ifndef MOD_PAIREST_H
#define MOD_PAIREST_H

#include <httpd.h>
#include <http_config.h>
#include <apr_thread_mutex.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "handlers/handlers.h"

extern module AP_MODULE_DECLARE_DATA pairest_module;

/* ---- configuration ---------------------------------------------------- */

#define PAI_UNSET (-1)

typedef struct pai_server_conf {
    pai_settings s;
    const char *secret_file;
    const char *admin_user;
    const char *admin_password_file;
    const char *admin_password;
    pai_slurm_conf slurm;
    const char *slurm_key_file;
    apr_int64_t launcher_timeout;    /* seconds */
    apr_int64_t sync_interval;       /* milliseconds */
    apr_int64_t auth_cache_ttl;      /* milliseconds; 0: every call asks the database */
    apr_int64_t answer_cache_ttl;    /* milliseconds; 0: no answer cache */
    apr_array_header_t *vcs;         /* pai_vc as declared; `default` added at start */
    apr_array_header_t *deny;        /* PaiSlurmUserDeny, const char * */
    apr_int64_t audit_retention;     /* days; 0: kept for ever */
} pai_server_conf;

/* mod_pairest_config.c: the module's records and directives. */
void *pai_config_create_server(apr_pool_t *p, server_rec *s);
void *pai_config_merge_server(apr_pool_t *p, void *basev, void *addv);
void *pai_config_create_dir(apr_pool_t *p, char *dir);
void *pai_config_merge_dir(apr_pool_t *p, void *basev, void *addv);
extern const command_rec pai_cmds[];
/* Defaults, secrets and cross-setting checks, once at start-up: OK, or the
 * start-up error (logged). */
int pai_config_post(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
/* This location's PaiReadAccess and PaiBodyLimit (defaults included). */
pai_read_access pai_dir_read_access(request_rec *r);

/* mod_pairest_file.c: a handler's file part (rq->file), followed for at most
 * follow_seconds when rq->follow. */
int pai_render_file(request_rec *r, pai_req *rq, int follow_seconds);
/* A followed file not made yet (rq->follow_open): waited for, without a
 * database connection between looks; NULL once rq->file is open. */
pai_error *pai_file_await(request_rec *r, pai_req *rq, int follow_seconds);
apr_off_t pai_dir_body_limit(request_rec *r);

/* mod_pairest_stream.c: the change stream.  pai_stream_claim takes one of
 * this process's PaiStreamMax places (429 when none is left), then
 * pai_render_stream sends until the stream ends and gives it back. */
void pai_stream_child_init(apr_pool_t *pchild, server_rec *s, int stream_max);
pai_error *pai_stream_claim(request_rec *r);
int pai_render_stream(request_rec *r, pai_req *rq, int seconds);

/* ---- this process (made in child_init) ---------------------------------- */

extern pai_launcher *pai_proc_launcher;      /* NULL if it could not be made */
extern pai_auth_cache *pai_proc_auth_cache;  /* NULL without shared memory */
extern struct pai_view_cache *pai_proc_views;
extern apr_thread_mutex_t *pai_proc_write_lock; /* SQLite's writers, one at a time */

/* A pai_db over one of mod_dbd's connections, the schema bootstrapped once
 * per process; for requests and the sync. */
pai_error *pai_db_from_dbd(const pai_server_conf *c, ap_dbd_t *dbd, apr_pool_t *p,
                           pai_db *db);

/* The request's database (one of mod_dbd's connections, bootstrapped once),
 * held until the request ends or pai_request_db_release. */
pai_error *pai_request_db(request_rec *r, pai_db *db);
void pai_request_db_release(request_rec *r);
/* One of mod_dbd's connections for a while, outside a request's. */
ap_dbd_t *pai_dbd_open(apr_pool_t *p, server_rec *s);
void pai_dbd_close(server_rec *s, ap_dbd_t *dbd);
/* fn on one of mod_dbd's connections for a moment, given back after: what
 * waits long (a change stream, a followed log) keeps none between looks. */
pai_error *pai_with_db(server_rec *s, apr_pool_t *p,
                       pai_error *(*fn)(pai_db *db, apr_pool_t *p, void *baton), void *baton);

/* The caller of a request with a bearer token: verified once per request
 * (the auth phases and the handler share it); sets r->user.  db: the
 * request's database when the caller has it ready, else NULL (taken here
 * only if the token is new to this request). */
pai_error *pai_request_identity(request_rec *r, pai_db *db, const char *token,
                                const pai_identity **who);

/* The bearer token of a request, or NULL. */
const char *pai_bearer(request_rec *r);

/* AuthType pai-bearer and the Require providers (mod_pairest_auth.c). */
void pai_auth_register_hooks(apr_pool_t *p);

/* mod_pairest_sync.c: the job sync on mod_watchdog, one server of all at a
 * time.  post_config registers it (OK, or the start-up error, logged);
 * child_init readies this process's part. */
int pai_sync_post_config(apr_pool_t *pconf, server_rec *s);
void pai_sync_child_init(apr_pool_t *pchild, server_rec *s);

#endif

/* mod_pairest: OpenPAI's REST API v1 as an httpd module.  This file is the
 * glue's core: start-up and child hooks, the request's database and caller,
 * and the one responder (directives: mod_pairest_config.c; httpd's auth
 * phases: mod_pairest_auth.c; the sync: mod_pairest_sync.c). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>
#include <apr_strings.h>
#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <curl/curl.h>

#include "core/route.h"
#include "core/audit.h"
#include "core/auth.h"
#include "core/authcache.h"
#include "core/viewcache.h"
#include "mod_pairest.h"

#define PAI_HANDLER "pairest"
/* Anonymous refusals of one kind from one address fold into one audit row
 * per this many ms. */
#define PAI_AUDIT_ANON_WINDOW_MS   60000

module AP_MODULE_DECLARE_DATA pairest_module __attribute__((visibility("default")));
APLOG_USE_MODULE(pairest);

/* ---- start-up --------------------------------------------------------- */

static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *pai_dbd_open_fn;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *pai_dbd_close_fn;

pai_launcher *pai_proc_launcher;
/* Verified tokens of this process, and the host-wide epoch that user changes
 * move (shared memory made before the children fork). */
pai_auth_cache *pai_proc_auth_cache;
pai_view_cache *pai_proc_views;
/* Whole answers of the cacheable reads (pai_routes[].cache) of this process. */
static pai_view_cache *pai_proc_answers;
#define PAI_ANSWER_CACHE_BYTES (2 * 1024 * 1024)
static apr_shm_t *pai_epoch_shm;

/* The host's counters in shared memory: user changes (the token cache's
 * epoch) and writes to the database (the answer cache's). */
typedef struct pai_host_epochs {
    apr_uint32_t users;
    apr_uint32_t writes;
} pai_host_epochs;

static pai_host_epochs *pai_epochs(void)
{
    return pai_epoch_shm ? apr_shm_baseaddr_get(pai_epoch_shm) : NULL;
}
/* SQLite's writers of this process, one at a time (see store.c). */
apr_thread_mutex_t *pai_proc_write_lock;

static int pai_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    const char *why;
    int i, rc;

    (void)plog;
    /* Retrieved here: the optional_fn_retrieve hook runs after post_config. */
    pai_dbd_open_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    pai_dbd_close_fn = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if ((rc = pai_config_post(pconf, ptemp, s)) != OK)
        return rc;
    if (!pai_dbd_open_fn || !pai_dbd_close_fn) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "PAI0001: mod_dbd is not loaded; mod_pairest stores everything through it");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (i = 0; i < PAI_R_COUNT; i++)
        if (!pai_route_handler(i)) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "PAI0002: no handler for %s %s",
                         pai_routes[i].method, pai_routes[i].pattern);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    /* Anonymous shared memory: inherited by every child of this generation. */
    if (apr_shm_create(&pai_epoch_shm, sizeof(pai_host_epochs), NULL, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "PAI0003: no shared memory for the token and answer caches; every call "
                     "asks the database");
        pai_epoch_shm = NULL;
    }
    else {
        memset(pai_epochs(), 0, sizeof(pai_host_epochs));
    }
    /* The first of httpd's two configuration passes only checks. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    if ((why = pai_store_sqlite_unlocked()))
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "PAI0017: %s", why);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return pai_sync_post_config(pconf, s);
}

static void pai_child_init(apr_pool_t *pchild, server_rec *s)
{
    pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    pai_error *e = pai_launcher_slurm_create(pchild, &c->slurm, &pai_proc_launcher);
    if (e)
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "PAI0009: no launcher in this process: %s",
                     e->message);
    pai_proc_views = pai_view_cache_create(pchild, 4096, 16 * 1024 * 1024);
    if (c->answer_cache_ttl > 0)
        pai_proc_answers = pai_view_cache_create(pchild, 1024, PAI_ANSWER_CACHE_BYTES);
    pai_stream_child_init(pchild, s, c->s.stream_max);
    /* As many password hashes at once as the machine has CPUs; the rest queue. */
    pai_password_gate_init(pchild, (int)sysconf(_SC_NPROCESSORS_ONLN));
    if (apr_thread_mutex_create(&pai_proc_write_lock, APR_THREAD_MUTEX_NESTED, pchild)
            != APR_SUCCESS)
        pai_proc_write_lock = NULL;
    if (pai_epoch_shm)
        pai_proc_auth_cache = pai_auth_cache_create(pchild, &pai_epochs()->users,
                                                    c->auth_cache_ttl);
    pai_sync_child_init(pchild, s);
}

/* ---- the responder ---------------------------------------------------- */

#define PAI_JSON_TYPE "application/json; charset=utf-8"

/* Every answer's status and type; none is cached (they carry jobs' state). */
static void pai_render_head(request_rec *r, int status, const char *type)
{
    r->status = status;
    ap_set_content_type(r, type);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
}

static int pai_render_text(request_rec *r, int status, const char *type, const char *text)
{
    pai_render_head(r, status, type);
    ap_set_content_length(r, (apr_off_t)strlen(text));
    ap_rputs(text, r);
    return OK;
}

static int pai_render(request_rec *r, int status, const json_t *body)
{
    return pai_render_text(r, status, PAI_JSON_TYPE, pai_json_dump(r->pool, body));
}

/* The streaming writer's sink: each chunk down the output filters as it is
 * made (the core filter sets aside what it cannot send at once). */
typedef struct pai_emit_sink_ctx {
    request_rec *r;
    apr_bucket_brigade *bb;
    /* A copy for the answer cache while it fits (keeping 0: none wanted, or
     * too long), in malloc'd memory freed once the answer is out: httpd keeps a
     * connection's freed pool memory for its next requests (MaxMemFree), so
     * a copy in the request's pool stayed with every connection that ever
     * made a long answer. */
    int keeping;
    char *kept;
    apr_size_t kept_len, kept_cap;
} pai_emit_sink_ctx;

/* What the answer cache may hold of one answer (a quarter of it all). */
#define PAI_ANSWER_MAX (PAI_ANSWER_CACHE_BYTES / 4)

static void pai_emit_keep(pai_emit_sink_ctx *ctx, const char *buf, apr_size_t len)
{
    if (!ctx->keeping)
        return;
    if (ctx->kept_len + len > PAI_ANSWER_MAX) {
        ctx->keeping = 0;
        return;
    }
    if (ctx->kept_len + len > ctx->kept_cap) {
        apr_size_t cap = ctx->kept_cap ? ctx->kept_cap : 16384;
        char *grown;
        while (cap < ctx->kept_len + len)
            cap *= 2;
        if (!(grown = realloc(ctx->kept, cap))) {
            ctx->keeping = 0;
            return;
        }
        ctx->kept = grown;
        ctx->kept_cap = cap;
    }
    memcpy(ctx->kept + ctx->kept_len, buf, len);
    ctx->kept_len += len;
}

static int pai_emit_sink(void *data, const char *buf, apr_size_t len)
{
    pai_emit_sink_ctx *ctx = data;
    apr_status_t rv;

    pai_emit_keep(ctx, buf, len);
    APR_BRIGADE_INSERT_TAIL(ctx->bb, apr_bucket_transient_create(buf, len,
                                                                 ctx->bb->bucket_alloc));
    rv = ap_pass_brigade(ctx->r->output_filters, ctx->bb);
    apr_brigade_cleanup(ctx->bb);
    return rv == APR_SUCCESS ? 0 : -1;
}

/* A cacheable read's place in the answer cache: its key, and the host's
 * write epoch and the time read before the database was (key NULL: not
 * cached). */
typedef struct pai_answer_slot {
    const char *key;
    apr_uint32_t epoch;
    apr_int64_t made_ms;
} pai_answer_slot;

/* A list streamed: an answer that fits the writer's buffer goes out whole
 * with its length; a longer one goes out in chunks as its rows are written. */
static int pai_render_emit(request_rec *r, const pai_req *rq, const pai_answer_slot *slot)
{
    pai_emit_sink_ctx ctx = {r, apr_brigade_create(r->pool, r->connection->bucket_alloc),
                             0, NULL, 0, 0};
    pai_jsonw *w = pai_jsonw_make(r->pool, pai_emit_sink, &ctx);
    apr_size_t len;

    ctx.keeping = slot->key && rq->status == HTTP_OK;
    pai_render_head(r, rq->status, PAI_JSON_TYPE);
    rq->emit(w, rq->emit_ctx);
    if (!pai_jsonw_sent(w)) {
        pai_jsonw_pending(w, &len);
        ap_set_content_length(r, (apr_off_t)len);
    }
    if (pai_jsonw_flush(w))
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "PAI0211: the client left during a list "
                      "after %" APR_SIZE_T_FMT " bytes", pai_jsonw_sent(w));
    else if (ctx.keeping)
        pai_view_cache_put(pai_proc_answers, slot->key, slot->epoch, slot->made_ms,
                           ctx.kept ? ctx.kept : "", ctx.kept_len);
    free(ctx.kept);
    return OK;
}

/* The answer a cacheable read had when nothing was written on this host
 * since, and no longer ago than PaiAnswerCacheTTL (writes made through
 * other servers); 1 when rq holds it.  Otherwise slot says where to keep
 * the answer about to be made. */
static int pai_answer_lookup(request_rec *r, const pai_server_conf *c, pai_req *rq, int id,
                             pai_answer_slot *slot)
{
    const char *text;

    slot->key = NULL;
    if (!pai_routes[id].cache || !pai_proc_answers || !pai_epoch_shm ||
        c->answer_cache_ttl <= 0)
        return 0;
    /* Everything the answer follows from: the server's settings, the
     * caller's reach, the route and its whole URL. */
    slot->key = apr_psprintf(r->pool, "%pp %d %d %s %d %s", (const void *)c, rq->read_access,
                             rq->who.admin, rq->who.username ? rq->who.username : "", id,
                             r->unparsed_uri);
    slot->epoch = apr_atomic_read32(&pai_epochs()->writes);
    slot->made_ms = (apr_int64_t)apr_time_as_msec(apr_time_now());
    text = pai_view_cache_get(pai_proc_answers, r->pool, slot->key, slot->epoch,
                              slot->made_ms - c->answer_cache_ttl, NULL);
    if (!text)
        return 0;
    slot->key = NULL;
    rq->status = HTTP_OK;
    rq->json_text = text;
    return 1;
}

/* A new answer of a cacheable read, made whole (a streamed one is kept as
 * it goes out: pai_render_emit). */
static void pai_answer_keep(const pai_answer_slot *slot, const pai_req *rq, const char *text)
{
    if (slot->key && rq->status == HTTP_OK && text)
        pai_view_cache_put(pai_proc_answers, slot->key, slot->epoch, slot->made_ms, text,
                           strlen(text));
}

/* Where httpd's own errors are sent (ErrorDocument) to be answered in JSON. */
#define PAI_ERROR_URI "/api/v1/_error"

/* The API version a request is answered in: its own path's, or for an error
 * httpd sent to PAI_ERROR_URI, that of the request that failed. */
static int pai_request_api(const request_rec *r)
{
    if (r->prev && r->uri && !strcmp(r->uri, PAI_ERROR_URI))
        r = r->prev;
    return pai_route_api(r->uri);
}

/* An error's body: {"error","message"} on /api/v1 (the seed's),
 * {"code","message"} on /api/v2 (OpenPAI v1.8's). */
static json_t *pai_error_body(request_rec *r, pai_errcode code, const char *message)
{
    return pai_json_pool(r->pool, json_pack("{s:s, s:s}",
                                            pai_request_api(r) == 2 ? "code" : "error",
                                            pai_error_name(code), "message", message));
}

/* Every error the module raises leaves here, with its status, logged once. */
static int pai_render_error(request_rec *r, const pai_error *e)
{
    int status = pai_error_status(e->code);
    json_t *body = pai_error_body(r, e->code, e->message);

    ap_log_rerror(APLOG_MARK, status >= 500 ? APLOG_ERR : APLOG_INFO, 0, r,
                  "PAI0100: %s %s -> %d %s: %s", r->method, r->uri, status,
                  pai_error_name(e->code), e->message);
    if (status == HTTP_UNAUTHORIZED)
        apr_table_setn(r->err_headers_out, "WWW-Authenticate", "Bearer");
    if (e->retry_after > 0)
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_ltoa(r->pool, e->retry_after));
    /* A client that sent more than we read cannot reuse the connection. */
    if (status == HTTP_REQUEST_ENTITY_TOO_LARGE)
        r->connection->keepalive = AP_CONN_CLOSE;
    return pai_render(r, status, body);
}

/* ---- request steps ---------------------------------------------------- */

static pai_error *pai_read_body(request_rec *r, apr_off_t limit, char **buf, apr_size_t *len)
{
    apr_size_t cap = 8192, n = 0;
    char *b;
    int rc;

    *buf = NULL;
    *len = 0;
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK)
        return pai_error_make(r->pool, PAI_ERR_INVALID, "cannot read the request body");
    if (r->remaining > limit)
        return pai_error_make(r->pool, PAI_ERR_TOO_LARGE,
                              "request body over the limit of %" APR_OFF_T_FMT " bytes", limit);
    if (!ap_should_client_block(r))
        return NULL;
    b = apr_palloc(r->pool, cap + 1);
    for (;;) {
        long got;
        if (n == cap) {
            char *nb;
            cap *= 2;
            nb = apr_palloc(r->pool, cap + 1);
            memcpy(nb, b, n);
            b = nb;
        }
        got = ap_get_client_block(r, b + n, cap - n);
        if (got < 0)
            return pai_error_make(r->pool, PAI_ERR_INVALID, "cannot read the request body");
        if (got == 0)
            break;
        n += (apr_size_t)got;
        if ((apr_off_t)n > limit)
            return pai_error_make(r->pool, PAI_ERR_TOO_LARGE,
                                  "request body over the limit of %" APR_OFF_T_FMT " bytes",
                                  limit);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return NULL;
}

/* The body as the route takes it, within this location's PaiBodyLimit. */
static pai_error *pai_parse_body(request_rec *r, int id, json_t **body)
{
    pai_error *err;
    apr_size_t len;
    char *buf;

    *body = NULL;
    if ((err = pai_read_body(r, pai_dir_body_limit(r), &buf, &len)))
        return err;
    return pai_route_body(r->pool, id, apr_table_get(r->headers_in, "Content-Type"), buf, len,
                          body);
}

const char *pai_bearer(request_rec *r)
{
    const char *h = apr_table_get(r->headers_in, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

/* What a request's token proved (or why it proved nothing), kept for the
 * request's later phases: the auth phases and the handler check it once. */
typedef struct pai_request_note {
    const char *token;
    pai_error *err;
    pai_identity who;
} pai_request_note;

pai_error *pai_request_identity(request_rec *r, pai_db *db, const char *token,
                                const pai_identity **who)
{
    const pai_server_conf *c = ap_get_module_config(r->server->module_config, &pairest_module);
    pai_request_note *n = ap_get_module_config(r->request_config, &pairest_module);
    pai_db own;

    if (n && !strcmp(n->token, token)) {
        *who = &n->who;
        return n->err;
    }
    n = apr_pcalloc(r->pool, sizeof(*n));
    n->token = apr_pstrdup(r->pool, token);
    ap_set_module_config(r->request_config, &pairest_module, n);
    *who = &n->who;
    if (!db && (n->err = pai_request_db(r, db = &own)))
        return n->err;
    if ((n->err = pai_account_authenticate(db, pai_proc_auth_cache, r->pool, &c->s.secret,
                                           token, (apr_int64_t)apr_time_sec(r->request_time),
                                           &n->who)))
        return n->err;
    r->user = apr_pstrdup(r->pool, n->who.username);
    /* For what else the request runs (CGI, mod_headers, logs). */
    apr_table_setn(r->subprocess_env, "PAI_USER", r->user);
    apr_table_setn(r->subprocess_env, "PAI_ADMIN", n->who.admin ? "1" : "0");
    return NULL;
}

static pai_error *pai_authenticate(request_rec *r, pai_req *rq, pai_auth level)
{
    const char *token = pai_bearer(r);
    const pai_identity *who;
    pai_error *err;

    if (level == PAI_AUTH_NONE)
        return NULL;
    /* PaiReadAccess users/owner: no anonymous reads. */
    if (level == PAI_AUTH_OPTIONAL && rq->read_access != PAI_READ_PUBLIC)
        level = PAI_AUTH_USER;
    if (!token) {
        if (apr_table_get(r->headers_in, "Authorization") || level >= PAI_AUTH_USER)
            return pai_error_make(r->pool, PAI_ERR_UNAUTHORIZED,
                                  "Guest is not allowed to do this operation.");
        return NULL;
    }
    if ((err = pai_request_identity(r, rq->db, token, &who)))
        return err;
    rq->who = *who;
    rq->token = token;
    if (level == PAI_AUTH_ADMIN && !rq->who.admin)
        return pai_error_make(r->pool, PAI_ERR_NOT_AUTHORIZED, "not authorized");
    return NULL;
}

/* Schema, VCs and first admin, once per process; cheap to repeat if racing. */
static volatile int pai_bootstrapped;

/* A pai_db over mod_dbd's connection, bootstrapped; for requests and the sync. */
pai_error *pai_db_from_dbd(const pai_server_conf *c, ap_dbd_t *dbd, apr_pool_t *p,
                           pai_db *db)
{
    pai_error *err;

    if (!dbd)
        return pai_error_make(p, PAI_ERR_DB, "the database is not reachable");
    db->driver = dbd->driver;
    db->handle = dbd->handle;
    db->prepared = dbd->prepared;
    db->conn_pool = dbd->pool;
    db->in_tx = 0;
    db->deadlocked = 0;
    db->write_lock = strcmp(apr_dbd_name(dbd->driver), "sqlite3") ? NULL : pai_proc_write_lock;
    db->write_epoch = pai_epoch_shm ? &pai_epochs()->writes : NULL;
    if (!pai_bootstrapped) {
        if ((err = pai_account_bootstrap(db, p, c->vcs, c->admin_user, c->admin_password,
                                         c->s.bcrypt_cost)))
            return err;
        pai_bootstrapped = 1;
    }
    return NULL;
}

ap_dbd_t *pai_dbd_open(apr_pool_t *p, server_rec *s)
{
    return pai_dbd_open_fn(p, s);
}

void pai_dbd_close(server_rec *s, ap_dbd_t *dbd)
{
    pai_dbd_close_fn(s, dbd);
}

pai_error *pai_with_db(server_rec *s, apr_pool_t *p,
                       pai_error *(*fn)(pai_db *db, apr_pool_t *p, void *baton), void *baton)
{
    const pai_server_conf *c = ap_get_module_config(s->module_config, &pairest_module);
    ap_dbd_t *dbd = pai_dbd_open(p, s);
    pai_db db;
    pai_error *e;

    if (!dbd)
        return pai_error_make(p, PAI_ERR_DB, "the database is not reachable");
    if (!(e = pai_db_from_dbd(c, dbd, p, &db)))
        e = fn(&db, p, baton);
    pai_dbd_close(s, dbd);
    return e;
}

/* A request's connection, as mod_dbd's ap_dbd_acquire keeps one, but one
 * that can be given back before the request ends (a change stream's). */
typedef struct pai_request_conn {
    server_rec *s;
    ap_dbd_t *dbd;
} pai_request_conn;

#define PAI_REQUEST_CONN_KEY "pairest-dbd"

static apr_status_t pai_request_conn_close(void *data)
{
    pai_request_conn *rc = data;
    if (rc->dbd)
        pai_dbd_close_fn(rc->s, rc->dbd);
    rc->dbd = NULL;
    return APR_SUCCESS;
}

static pai_request_conn *pai_request_conn_of(request_rec *r, int make)
{
    pai_request_conn *rc = NULL;

    /* The initial request's, as ap_dbd_acquire finds it: an internal
     * redirect or a subrequest shares its connection. */
    while (!ap_is_initial_req(r))
        r = r->prev ? r->prev : r->main;
    (void)apr_pool_userdata_get((void **)&rc, PAI_REQUEST_CONN_KEY, r->pool);
    if (!rc && make) {
        rc = apr_pcalloc(r->pool, sizeof(*rc));
        rc->s = r->server;
        apr_pool_userdata_setn(rc, PAI_REQUEST_CONN_KEY, NULL, r->pool);
        apr_pool_cleanup_register(r->pool, rc, pai_request_conn_close, apr_pool_cleanup_null);
    }
    return rc;
}

static ap_dbd_t *pai_request_dbd(request_rec *r)
{
    pai_request_conn *rc = pai_request_conn_of(r, 1);
    if (!rc->dbd)
        rc->dbd = pai_dbd_open_fn(r->pool, rc->s);
    return rc->dbd;
}

void pai_request_db_release(request_rec *r)
{
    pai_request_conn *rc = pai_request_conn_of(r, 0);
    if (rc)
        pai_request_conn_close(rc);
}

pai_error *pai_request_db(request_rec *r, pai_db *db)
{
    return pai_db_from_dbd(ap_get_module_config(r->server->module_config, &pairest_module),
                        pai_request_dbd(r), r->pool, db);
}

/* A password route's place in the password queue (core/auth.h), held until
 * its handler is done (pai_password_unqueue) or, failing that, the request. */
#define PAI_PASSWORD_QUEUE_KEY "pairest-password-queue"

static apr_status_t pai_password_leave(void *data)
{
    int *held = data;
    if (*held) {
        *held = 0;
        pai_password_gate_leave();
    }
    return APR_SUCCESS;
}

static void pai_password_queue(request_rec *r)
{
    int *held = apr_pcalloc(r->pool, sizeof(*held));

    pai_password_gate_enter();
    *held = 1;
    apr_pool_userdata_setn(held, PAI_PASSWORD_QUEUE_KEY, NULL, r->pool);
    apr_pool_cleanup_register(r->pool, held, pai_password_leave, apr_pool_cleanup_null);
}

static void pai_password_unqueue(request_rec *r)
{
    int *held = NULL;

    (void)apr_pool_userdata_get((void **)&held, PAI_PASSWORD_QUEUE_KEY, r->pool);
    if (held)
        apr_pool_cleanup_run(r->pool, held, pai_password_leave);
}

/* Body, database, caller, then the endpoint's handler: the first error wins. */
static pai_error *pai_dispatch(request_rec *r, const pai_server_conf *c, pai_req *rq, int id,
                               int *db_ok, pai_answer_slot *slot)
{
    const pai_route *rt = &pai_routes[id];
    pai_error *err;

    if ((err = pai_parse_body(r, id, &rq->body)))
        return err;
    if (rt->password)
        pai_password_queue(r);
    if ((err = pai_request_db(r, rq->db)))
        return err;
    *db_ok = 1;
    if ((err = pai_authenticate(r, rq, rt->auth)))
        return err;
    if (rq->who.application && !pai_route_for_applications(id))
        return pai_error_make(r->pool, PAI_ERR_FORBIDDEN, "an application token may be used "
                              "on job routes only, not on %s %s", r->method, r->uri);
    ap_args_to_table(r, &rq->query);
    if (pai_answer_lookup(r, c, rq, id, slot))
        return NULL;
    if ((err = pai_route_handler(id)(rq)))
        return err;
    if (!rq->text && !rq->json_text && !rq->result && !rq->file && !rq->follow_open &&
        !rq->watch && !rq->emit)
        return pai_error_make(r->pool, PAI_ERR_INTERNAL, "handler gave no answer");
    return NULL;
}

/* The audit row goes to the database; when it cannot, to the error log, so
 * that no state-changing call goes unrecorded. */
static void pai_audit_record(request_rec *r, const pai_server_conf *c, const pai_req *rq,
                             const pai_route *rt, pai_db *db, const pai_error *err)
{
    pai_db fresh;
    int status = err ? pai_error_status(err->code) : rq->status;
    pai_audit_row *a = pai_audit_describe(r->pool, rt, rq->params, rq->body,
                                          rq->who.username, rq->client_ip, status,
                                          err ? pai_error_name(err->code) : NULL,
                                          err ? err->message : NULL,
                                          (apr_int64_t)apr_time_as_msec(apr_time_now()));
    pai_error *e = NULL;

    /* A call refused before it reached the database (a bad body) still counts. */
    if (!db && !(e = pai_db_from_dbd(c, pai_request_dbd(r), r->pool, &fresh)))
        db = &fresh;
    if (db)
        e = !rq->who.username && status >= 400
            ? pai_store_audit_add_anonymous(db, r->pool, a, a->at_ms - PAI_AUDIT_ANON_WINDOW_MS)
            : pai_store_audit_add(db, r->pool, a);

    if (e)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "PAI0110: audit record not stored (%s): %s %s by '%s' from %s -> %d %s",
                      e->message, a->action, a->target, a->actor, a->address, a->outcome,
                      a->detail);
}

/* The API's URLs map to no file: claiming them here (as mod_proxy claims its
 * own) spares httpd a file-system walk per request and keeps paths that are
 * no file name (an 8 KiB job name) from becoming httpd's HTML 403. */
static int pai_map_to_storage(request_rec *r)
{
    return r->uri && pai_route_api(r->uri) ? OK : DECLINED;
}

/* An error httpd raised before the module ran (a header over its limits, a
 * %00 in the path), internally redirected here by ErrorDocument: the same
 * body as every other error. */
static int pai_render_httpd_error(request_rec *r)
{
    static const struct { int status; pai_errcode code; const char *what; } known[] = {
        {400, PAI_ERR_INVALID, "the request is malformed or a header is over httpd's limits"},
        {401, PAI_ERR_UNAUTHORIZED, "authentication is required"},
        {403, PAI_ERR_FORBIDDEN, "access is denied"},
        {404, PAI_ERR_NOT_FOUND, "no such resource"},
        {405, PAI_ERR_METHOD, "the method is not allowed here"},
        {408, PAI_ERR_INVALID, "the request took too long to arrive"},
        {413, PAI_ERR_TOO_LARGE, "the request is too large"},
        {414, PAI_ERR_INVALID, "the request's URL is too long"},
    };
    const char *st = apr_table_get(r->subprocess_env, "REDIRECT_STATUS");
    int status = st ? atoi(st) : HTTP_INTERNAL_SERVER_ERROR;
    pai_errcode code = status >= 500 ? PAI_ERR_INTERNAL : PAI_ERR_INVALID;
    const char *what = status >= 500 ? "the server failed" : "the request was refused";
    size_t i;

    const pai_request_note *n = r->prev ? ap_get_module_config(r->prev->request_config,
                                                                &pairest_module) : NULL;

    if (status < 400 || status > 599)
        status = HTTP_INTERNAL_SERVER_ERROR;
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i].status == status) {
            code = known[i].code;
            what = known[i].what;
        }
    /* A token httpd's auth phases refused (a Require under /api/v1): why. */
    if (n && n->err && status == HTTP_UNAUTHORIZED)
        return pai_render_error(r, n->err);
    if (status == HTTP_REQUEST_ENTITY_TOO_LARGE || status == HTTP_BAD_REQUEST)
        r->connection->keepalive = AP_CONN_CLOSE;
    return pai_render(r, status, pai_error_body(r, code, apr_psprintf(r->pool, "HTTP %d: %s",
                                                                      status, what)));
}

static int pai_handler(request_rec *r)
{
    const pai_server_conf *c;
    pai_req rq;
    pai_db db;
    pai_error *err;
    const char *allow;
    pai_answer_slot slot = {NULL, 0, 0};
    int id, rc, db_ok = 0;

    if (!r->handler || strcmp(r->handler, PAI_HANDLER) != 0)
        return DECLINED;
    if (r->prev && !strcmp(r->uri, PAI_ERROR_URI))
        return pai_render_httpd_error(r);
    c = ap_get_module_config(r->server->module_config, &pairest_module);
    memset(&rq, 0, sizeof(rq));
    rq.pool = r->pool;
    rq.cfg = &c->s;
    rq.db = &db;
    rq.now = (apr_int64_t)apr_time_sec(r->request_time);
    rq.now_ms = (apr_int64_t)apr_time_as_msec(r->request_time);
    rq.launcher = pai_proc_launcher;
    rq.auth_cache = pai_proc_auth_cache;
    rq.views = pai_proc_views;
    rq.base_url = c->s.public_url;
    rq.job_secret = apr_table_get(r->headers_in, "X-PAI-Job-Secret");
    rq.last_event_id = apr_table_get(r->headers_in, "Last-Event-ID");
    rq.client_ip = r->useragent_ip;
    rq.read_access = pai_dir_read_access(r);

    id = pai_route_find(r->pool, r->method, r->uri, rq.params, &allow);
    if (id < 0) {
        if (allow) {
            apr_table_setn(r->headers_out, "Allow", allow);
            return pai_render_error(r, pai_error_make(r->pool, PAI_ERR_METHOD,
                                    "method %s is not allowed on %s", r->method, r->uri));
        }
        if ((allow = pai_route_unprovided(r->uri)))
            return pai_render_error(r, pai_error_make(r->pool, PAI_ERR_NOT_IMPLEMENTED,
                                    "%s is not provided by this server: %s", r->uri, allow));
        return pai_render_error(r, pai_error_make(r->pool, PAI_ERR_NOT_FOUND,
                                "no such endpoint: %s", r->uri));
    }
    err = pai_dispatch(r, c, &rq, id, &db_ok, &slot);
    if (pai_routes[id].password)
        pai_password_unqueue(r);
    if (!err && slot.key && rq.result && !rq.json_text)
        rq.json_text = pai_json_dump(r->pool, rq.result);
    if (!err && !rq.emit)
        pai_answer_keep(&slot, &rq, rq.json_text);
    if (!err && (rq.file || rq.follow_open)) {
        /* A file goes out (and a followed one waits for its writer) without
         * this request's database connection: a follower may stay for
         * PaiLogFollowSeconds, and a process has DBDMax for everyone. */
        pai_request_db_release(r);
        db_ok = 0;
        if (!rq.file)
            err = pai_file_await(r, &rq, c->s.log_follow_seconds);
    }
    if (!err && rq.watch)
        err = pai_stream_claim(r);
    rc = err ? pai_render_error(r, err)
       : rq.watch ? pai_render_stream(r, &rq, c->s.stream_seconds)
       : rq.file ? pai_render_file(r, &rq, c->s.log_follow_seconds)
       : rq.text ? pai_render_text(r, rq.status,
                                   rq.text_type ? rq.text_type : "text/plain; charset=utf-8",
                                   rq.text)
       : rq.emit ? pai_render_emit(r, &rq, &slot)
       : rq.json_text ? pai_render_text(r, rq.status, PAI_JSON_TYPE, rq.json_text)
       : pai_render(r, rq.status, rq.result);
    if (pai_routes[id].audit.action)
        pai_audit_record(r, c, &rq, &pai_routes[id], db_ok ? &db : NULL, err);
    return rc;
}

static void pai_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_init(pai_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(pai_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(pai_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(pai_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    pai_auth_register_hooks(p);
}

module AP_MODULE_DECLARE_DATA pairest_module = {
    STANDARD20_MODULE_STUFF,
    pai_config_create_dir,
    pai_config_merge_dir,
    pai_config_create_server,
    pai_config_merge_server,
    pai_cmds,
    pai_register_hooks,
    AP_MODULE_FLAG_NONE
};

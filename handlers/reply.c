/* Success results for the responder (the only way a handler answers), and the
 * jobs environment every job and VC handler and the sync start from. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "handlers.h"
#include "../core/auth.h"
#include "../core/jobspec.h"

void pai_reply(pai_req *rq, int status, json_t *body)
{
    rq->status = status;
    rq->result = pai_json_pool(rq->pool, body);
}

void pai_reply_stream(pai_req *rq, void (*emit)(pai_jsonw *w, const void *ctx),
                      const void *ctx)
{
    rq->status = 200;
    rq->emit = emit;
    rq->emit_ctx = ctx;
}

void pai_reply_take(pai_req *rq, const pai_req *sub)
{
    rq->status = sub->status;
    rq->result = sub->result;
    rq->text = sub->text;
    rq->text_type = sub->text_type;
    rq->json_text = sub->json_text;
    rq->emit = sub->emit;
    rq->emit_ctx = sub->emit_ctx;
    rq->file = sub->file;
    rq->file_offset = sub->file_offset;
    rq->file_length = sub->file_length;
    rq->follow = sub->follow;
    rq->follow_live = sub->follow_live;
    rq->follow_ctx = sub->follow_ctx;
    rq->follow_open = sub->follow_open;
    rq->watch = sub->watch;
}

void pai_reply_message(pai_req *rq, int status, const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(rq->pool, fmt, ap);
    va_end(ap);
    pai_reply(rq, status, json_pack("{s:s}", "message", msg));
}

void pai_jobs_env_init(pai_jobs_env *env, const pai_settings *cfg, pai_db *db,
                       pai_launcher *launcher)
{
    env->db = db;
    env->launcher = launcher;
    env->port_lo = cfg->port_lo;
    env->port_hi = cfg->port_hi;
    env->log_dir = cfg->job_log_dir;
    env->report_base = cfg->report_base;
    env->job_user = cfg->job_user;
    env->per_user = cfg->per_user;
    env->views = NULL;
    env->tag_key = cfg->secret.key;
    env->tag_key_len = cfg->secret.len;
    env->max_waiting = cfg->max_waiting;
    env->max_active = cfg->max_active;
    env->containers = cfg->containers;
    env->image_allow = cfg->image_allow;
    env->public_url = cfg->public_url;
    env->log_retention_days = cfg->log_retention_days;
}

pai_error *pai_req_jobs_env(pai_req *rq, pai_jobs_env *env)
{
    if (!rq->launcher)
        return pai_error_make(rq->pool, PAI_ERR_LAUNCHER_DOWN, "no launcher is configured");
    pai_jobs_env_init(env, rq->cfg, rq->db, rq->launcher);
    env->views = rq->views;
    return NULL;
}

int pai_framework_name_split(apr_pool_t *p, const char *fw, const char **user,
                             const char **name)
{
    const char *tilde = strchr(fw, '~');

    if (!tilde)
        return 0;
    *user = apr_pstrmemdup(p, fw, (apr_size_t)(tilde - fw));
    *name = tilde + 1;
    return pai_username_valid(*user) && pai_job_name_valid(*name);
}

/* A query number in [lo, hi]; absent leaves *out as it is. */
pai_error *pai_query_int(pai_req *rq, const char *key, int lo, int hi, int *out)
{
    const char *v = rq->query ? apr_table_get(rq->query, key) : NULL;
    char *end;
    long n;

    if (!v)
        return NULL;
    n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi)
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter '%s' must be an integer "
                              "from %d to %d", key, lo, hi);
    *out = (int)n;
    return NULL;
}

pai_error *pai_body_value(pai_req *rq, const char **value)
{
    static const char *const fields[] = {"value", NULL};
    pai_error *err = pai_field_only(rq->pool, rq->body, NULL, fields);
    return err ? err : pai_field_str(rq->pool, rq->body, NULL, "value", 1, value);
}

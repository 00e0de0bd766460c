/* /api/v1/jobs: list, submit, status, config, and START/STOP. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "handlers.h"

/* A name that cannot be valid cannot be a job either. */
static pai_error *job_name_param(pai_req *rq, const char **name)
{
    *name = rq->params[0];
    return pai_job_name_valid(*name) ? NULL
        : pai_error_make(rq->pool, PAI_ERR_JOB_NOT_FOUND, "could not find job %s", *name);
}

static void jobs_emit(pai_jsonw *w, const void *rows)
{
    pai_job_list_write(w, rows);
}

/* GET /jobs: the seed's full list; with ?username= ?state= ?virtualCluster=
 * it is filtered, with ?limit= (and ?offset=) paged. */
pai_error *pai_jobs_get(pai_req *rq)
{
    static const char *const states[] = {"WAITING", "RUNNING", "SUCCEEDED", "STOPPED", "FAILED",
                                         "UNKNOWN", NULL};
    pai_job_filter f = {NULL, NULL, NULL, 0, 0};
    const char *const *st;
    apr_array_header_t *rows;
    pai_error *err;

    if (rq->query) {
        f.username = apr_table_get(rq->query, "username");
        f.state = apr_table_get(rq->query, "state");
        f.vc = apr_table_get(rq->query, "virtualCluster");
    }
    if (f.username && !pai_username_valid(f.username))
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter 'username' must match [_A-Za-z0-9]+");
    if (f.vc && !pai_username_valid(f.vc))
        return pai_error_make(rq->pool, PAI_ERR_INVALID,
                              "parameter 'virtualCluster' must match [A-Za-z0-9_]+");
    for (st = states; f.state && *st && strcmp(*st, f.state); st++)
        ;
    if (f.state && !*st)
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter 'state' must be one of "
                              "WAITING, RUNNING, SUCCEEDED, STOPPED, FAILED, UNKNOWN");
    /* PaiReadAccess owner: a user sees their own jobs, whatever they ask. */
    if (rq->read_access == PAI_READ_OWNER && !rq->who.admin)
        f.username = rq->who.username;
    if ((err = pai_query_int(rq, "limit", 1, 1000, &f.limit)) ||
        (err = pai_query_int(rq, "offset", 0, 1000000000, &f.offset)))
        return err;
    if (f.offset && !f.limit)
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter 'offset' needs 'limit'");
    if ((err = pai_store_job_page(rq->db, rq->pool, &f, &rows)))
        return err;
    pai_reply_stream(rq, jobs_emit, rows);
    return NULL;
}

pai_error *pai_jobs_post(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;

    if ((err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_job_submit(&env, rq->pool, &rq->who, rq->body, NULL, rq->now_ms, &name)))
        return err;
    pai_reply_message(rq, 201, "update job %s successfully", name);
    return NULL;
}

pai_error *pai_job_get(pai_req *rq)
{
    const char *name, *text;
    pai_jobs_env env;
    pai_error *err;

    if ((err = job_name_param(rq, &name)) || (err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_job_status_text(&env, rq->pool, name, &text)))
        return err;
    rq->status = 200;
    rq->json_text = text;
    return NULL;
}

pai_error *pai_job_config_get(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;
    json_t *c;

    if ((err = job_name_param(rq, &name)) || (err = pai_req_jobs_env(rq, &env)) ||
        (rq->read_access == PAI_READ_OWNER &&
         (err = pai_job_owner_check(&env, rq->pool, &rq->who, name))) ||
        (err = pai_job_config_view(&env, rq->pool, name, &c)))
        return err;
    pai_reply(rq, 200, json_incref(c));
    return NULL;
}

pai_error *pai_job_execution_put(pai_req *rq)
{
    const char *name, *value;
    pai_jobs_env env;
    pai_error *err;

    if ((err = job_name_param(rq, &name)) || (err = pai_body_value(rq, &value)) ||
        (err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_job_execute(&env, rq->pool, &rq->who, name, value, rq->now_ms)))
        return err;
    pai_reply_message(rq, 200, "execute job %s successfully", name);
    return NULL;
}

pai_error *pai_job_delete(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;

    if ((err = job_name_param(rq, &name)) || (err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_job_remove(&env, rq->pool, &rq->who, name, rq->now_ms)))
        return err;
    /* v0.8's answer: 202 and this message. */
    pai_reply_message(rq, 202, "deleted job %s successfully", name);
    return NULL;
}

pai_error *pai_job_ssh_get(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;
    json_t *info;

    if ((err = job_name_param(rq, &name)) || (err = pai_req_jobs_env(rq, &env)) ||
        (rq->read_access == PAI_READ_OWNER &&
         (err = pai_job_owner_check(&env, rq->pool, &rq->who, name))) ||
        (err = pai_job_ssh_view(&env, rq->pool, name, rq->base_url, &info)))
        return err;
    pai_reply(rq, 200, json_incref(info));
    return NULL;
}

pai_error *pai_job_ssh_key_get(pai_req *rq)
{
    const char *name, *key;
    pai_jobs_env env;
    pai_error *err;

    if ((err = job_name_param(rq, &name)) || (err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_job_ssh_key(&env, rq->pool, &rq->who, name, &key)))
        return err;
    rq->status = 200;
    rq->text = key;
    return NULL;
}

pai_error *pai_job_ssh_report_post(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;

    if ((err = job_name_param(rq, &name)) || (err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_job_ssh_report(&env, rq->pool, name, rq->job_secret, rq->body)))
        return err;
    pai_reply_message(rq, 200, "reported");
    return NULL;
}

pai_error *pai_job_task_report_post(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;

    if ((err = job_name_param(rq, &name)) || (err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_job_task_report(&env, rq->pool, name, rq->job_secret, rq->body, rq->now_ms)))
        return err;
    pai_reply_message(rq, 200, "reported");
    return NULL;
}

/* /api/v1/jobs: list, submit, status, config, and START/STOP. */
#include <apr_strings.h>
#include "handlers.h"

static pai_error *job_env(pai_req *rq, pai_jobs_env *env)
{
    if (!rq->launcher)
        return pai_error_make(rq->pool, PAI_ERR_LAUNCHER_DOWN, "no launcher is configured");
    pai_jobs_env_init(env, rq->cfg, rq->db, rq->launcher);
    return NULL;
}

/* A name that cannot be valid cannot be a job either. */
static pai_error *job_name_param(pai_req *rq, const char **name)
{
    *name = rq->params[0];
    return pai_job_name_valid(*name) ? NULL
        : pai_error_make(rq->pool, PAI_ERR_JOB_NOT_FOUND, "could not find job %s", *name);
}

pai_error *pai_jobs_get(pai_req *rq)
{
    const char *user = rq->query ? apr_table_get(rq->query, "username") : NULL;
    pai_jobs_env env;
    pai_error *err;
    json_t *list;

    if (user && !pai_username_valid(user))
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter 'username' must match [_A-Za-z0-9]+");
    if ((err = job_env(rq, &env)) ||
        (err = pai_job_list_view(&env, rq->pool, user, &list)))
        return err;
    pai_reply(rq, 200, json_incref(list));
    return NULL;
}

pai_error *pai_jobs_post(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;

    if ((err = job_env(rq, &env)) ||
        (err = pai_job_submit(&env, rq->pool, &rq->who, rq->body, rq->now_ms, &name)))
        return err;
    pai_reply_message(rq, 201, "update job %s successfully", name);
    return NULL;
}

pai_error *pai_job_get(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;
    json_t *st;

    if ((err = job_name_param(rq, &name)) || (err = job_env(rq, &env)) ||
        (err = pai_job_status_view(&env, rq->pool, name, &st)))
        return err;
    pai_reply(rq, 200, json_incref(st));
    return NULL;
}

pai_error *pai_job_config_get(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;
    json_t *c;

    if ((err = job_name_param(rq, &name)) || (err = job_env(rq, &env)) ||
        (err = pai_job_config_view(&env, rq->pool, name, &c)))
        return err;
    pai_reply(rq, 200, json_incref(c));
    return NULL;
}

pai_error *pai_job_execution_put(pai_req *rq)
{
    static const char *const fields[] = {"value", NULL};
    const char *name, *value;
    pai_jobs_env env;
    pai_error *err;

    if ((err = job_name_param(rq, &name)) ||
        (err = pai_field_only(rq->pool, rq->body, NULL, fields)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "value", 1, &value)) ||
        (err = job_env(rq, &env)) ||
        (err = pai_job_execute(&env, rq->pool, &rq->who, name, value, rq->now_ms)))
        return err;
    pai_reply_message(rq, 200, "execute job %s successfully", name);
    return NULL;
}

pai_error *pai_job_ssh_get(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;
    json_t *info;

    if ((err = job_name_param(rq, &name)) || (err = job_env(rq, &env)) ||
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

    if ((err = job_name_param(rq, &name)) || (err = job_env(rq, &env)) ||
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

    if ((err = job_name_param(rq, &name)) || (err = job_env(rq, &env)) ||
        (err = pai_job_ssh_report(&env, rq->pool, name, rq->job_secret, rq->body)))
        return err;
    pai_reply_message(rq, 200, "reported");
    return NULL;
}

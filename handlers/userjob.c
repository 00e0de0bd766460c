/* v0.8's job routes under a user, /api/v1/user/:username/jobs[/:jobName[/config|
 * /ssh|/executionType]], which OpenPAI's v1 SDK client calls: the same
 * handlers as /api/v1/jobs, for a job that must belong to :username. */
#include <string.h>
#include <apr_strings.h>
#include "handlers.h"

static pai_error *user_param(pai_req *rq, const char **username)
{
    *username = rq->params[0];
    return pai_username_valid(*username) ? NULL
        : pai_error_make(rq->pool, PAI_ERR_INVALID, "user name must match [_A-Za-z0-9]+");
}

/* Runs handler on a copy of rq whose first parameter is the job's name (the
 * audit keeps reading rq's), after checking the job is :username's. */
static pai_error *user_job_call(pai_req *rq, pai_handler_fn handler)
{
    const char *username, *name = rq->params[1];
    pai_jobs_env env;
    pai_error *err;
    pai_req sub;

    if ((err = user_param(rq, &username)))
        return err;
    if (!pai_job_name_valid(name))
        return pai_error_make(rq->pool, PAI_ERR_JOB_NOT_FOUND, "could not find job %s", name);
    if ((err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_job_of_user(&env, rq->pool, username, name)))
        return err;
    sub = *rq;
    sub.params[0] = name;
    sub.params[1] = NULL;
    err = handler(&sub);
    pai_reply_take(rq, &sub);
    return err;
}

/* GET /user/:username/jobs: that user's jobs (the list's other filters apply). */
pai_error *pai_user_jobs_get(pai_req *rq)
{
    const char *username;
    pai_error *err;
    pai_req sub;

    if ((err = user_param(rq, &username)))
        return err;
    /* PaiReadAccess owner: another user's list holds nothing for a non-admin. */
    if (rq->read_access == PAI_READ_OWNER && !rq->who.admin &&
        (!rq->who.username || strcmp(rq->who.username, username))) {
        pai_reply(rq, 200, json_array());
        return NULL;
    }
    sub = *rq;
    sub.query = rq->query ? apr_table_copy(rq->pool, rq->query) : apr_table_make(rq->pool, 1);
    apr_table_setn(sub.query, "username", username);
    err = pai_jobs_get(&sub);
    pai_reply_take(rq, &sub);
    return err;
}

/* POST /user/:username/jobs: a submission of one's own. */
pai_error *pai_user_jobs_post(pai_req *rq)
{
    const char *username;
    pai_error *err;

    if ((err = user_param(rq, &username)))
        return err;
    if (strcmp(username, rq->who.username))
        return pai_error_make(rq->pool, PAI_ERR_FORBIDDEN, "User %s may submit jobs as "
                              "themselves only, not as %s.", rq->who.username, username);
    return pai_jobs_post(rq);
}

pai_error *pai_user_job_get(pai_req *rq)
{
    return user_job_call(rq, pai_job_get);
}

pai_error *pai_user_job_config_get(pai_req *rq)
{
    return user_job_call(rq, pai_job_config_get);
}

pai_error *pai_user_job_delete(pai_req *rq)
{
    return user_job_call(rq, pai_job_delete);
}

pai_error *pai_user_job_execution_put(pai_req *rq)
{
    return user_job_call(rq, pai_job_execution_put);
}

pai_error *pai_user_job_ssh_get(pai_req *rq)
{
    return user_job_call(rq, pai_job_ssh_get);
}

/* PUT/DELETE /api/v1/user and PUT /api/v1/user/:username/virtualClusters. */
#include "handlers.h"

pai_error *pai_user_put(pai_req *rq)
{
    static const char *const fields[] = {"username", "password", "admin", "modify", NULL};
    pai_user_change c = {NULL, NULL, -1, 0};
    int admin, has_admin, created;
    pai_error *err;

    if ((err = pai_field_only(rq->pool, rq->body, NULL, fields)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "username", 1, &c.username)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "password", 0, &c.password)) ||
        (err = pai_field_bool(rq->pool, rq->body, NULL, "admin", 0, &admin, &has_admin)) ||
        (err = pai_field_bool(rq->pool, rq->body, NULL, "modify", 0, &c.modify, NULL)))
        return err;
    if (has_admin)
        c.admin = admin;
    /* With one Unix account per user, a user whose account may not run jobs
     * (none, a system or service account, root) is not made at all. */
    if (!c.modify && rq->cfg->per_user) {
        pai_jobs_env env;
        if ((err = pai_req_jobs_env(rq, &env)) ||
            (err = pai_job_account_check(&env, rq->pool, c.username)))
            return err;
    }
    if ((err = pai_account_put(rq->db, rq->auth_cache, rq->pool, &rq->who, &c, rq->cfg->bcrypt_cost, &created)))
        return err;
    pai_reply_message(rq, 201, "update successfully");
    return NULL;
}

pai_error *pai_user_delete(pai_req *rq)
{
    static const char *const fields[] = {"username", NULL};
    const char *username;
    pai_error *err;

    if ((err = pai_field_only(rq->pool, rq->body, NULL, fields)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "username", 1, &username)) ||
        (err = pai_account_remove(rq->db, rq->auth_cache, rq->pool, username)))
        return err;
    pai_reply_message(rq, 200, "remove successfully");
    return NULL;
}

pai_error *pai_user_vcs_put(pai_req *rq)
{
    static const char *const fields[] = {"virtualClusters", NULL};
    const char *list;
    pai_error *err;

    if ((err = pai_field_only(rq->pool, rq->body, NULL, fields)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "virtualClusters", 1, &list)) ||
        (err = pai_account_set_vcs(rq->db, rq->pool, rq->params[0], list)))
        return err;
    pai_reply_message(rq, 201, "update user virtual clusters successfully");
    return NULL;
}

/* GET/PUT/DELETE /api/v1/user, PUT /api/v1/user/:username/virtualClusters,
 * GET /api/v2/users[/:username], and GET /api/v1 and /api/v2/info (what this
 * server is). */
#include <string.h>
#include <apr_strings.h>
#include "handlers.h"

/* GET /api/v1: the API's front door (OpenPAI answered it too). */
pai_error *pai_api_get(pai_req *rq)
{
    pai_reply(rq, 200, json_pack("{s:s, s:s}", "message", "PAI RESTful API",
                                 "name", "mod_pairest"));
    return NULL;
}

/* GET /api/v2/info: v1.8's answer; the launcher is Slurm, logins are basic. */
pai_error *pai_v2_info_get(pai_req *rq)
{
    pai_reply(rq, 200, json_pack("{s:s, s:s, s:s, s:s}", "name", "PAI RESTful API",
                                 "version", "v1.8.0", "launcherType", "slurm",
                                 "authnMethod", "basic"));
    return NULL;
}

/* A user as v1.8 shows one: its VCs (an admin: every VC) also as its groups,
 * admins in "admingroup"; no e-mail or storage here, never a password. */
static pai_error *v2_user_view(pai_req *rq, const char *username, int admin,
                               const apr_array_header_t *granted, json_t **out)
{
    apr_array_header_t *all = NULL;
    json_t *vcs = json_array(), *groups;
    pai_error *err;
    int i;

    if (admin) {
        if ((err = pai_store_vc_list(rq->db, rq->pool, &all)))
            return err;
        for (i = 0; i < all->nelts; i++)
            json_array_append_new(vcs, json_string(APR_ARRAY_IDX(all, i, pai_vc).name));
    }
    else {
        json_array_append_new(vcs, json_string("default"));
        for (i = 0; i < granted->nelts; i++)
            if (strcmp(APR_ARRAY_IDX(granted, i, const char *), "default"))
                json_array_append_new(vcs, json_string(APR_ARRAY_IDX(granted, i, const char *)));
    }
    groups = json_deep_copy(vcs);
    if (admin)
        json_array_append_new(groups, json_string("admingroup"));
    *out = json_pack("{s:s, s:o, s:s, s:{}, s:b, s:o, s:[]}", "username", username,
                     "grouplist", groups, "email", "", "extension", "admin", admin,
                     "virtualCluster", vcs, "storageConfig");
    return NULL;
}

/* GET /api/v2/users (admins): every user, v1.8's shape. */
pai_error *pai_v2_users_get(pai_req *rq)
{
    apr_array_header_t *users;
    json_t *list, *u;
    pai_error *err;
    int i;

    if ((err = pai_store_user_list(rq->db, rq->pool, &users)))
        return err;
    list = pai_json_pool(rq->pool, json_array());
    for (i = 0; i < users->nelts; i++) {
        const pai_user_entry *e = &APR_ARRAY_IDX(users, i, pai_user_entry);
        if ((err = v2_user_view(rq, e->username, e->admin, e->vcs, &u)))
            return err;
        json_array_append_new(list, u);
    }
    pai_reply(rq, 200, json_incref(list));
    return NULL;
}

/* GET /api/v2/users/:username: oneself, or anyone for an admin. */
pai_error *pai_v2_user_get(pai_req *rq)
{
    const char *username = rq->params[0];
    apr_array_header_t *granted;
    pai_user *user = NULL;
    pai_error *err;
    json_t *u;

    if (!pai_username_valid(username))
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "user name must match [_A-Za-z0-9]+");
    if (!rq->who.admin && strcmp(rq->who.username, username))
        return pai_error_make(rq->pool, PAI_ERR_FORBIDDEN,
                              "User %s is not allowed to read user %s.", rq->who.username,
                              username);
    if ((err = pai_store_user_get(rq->db, rq->pool, username, &user)))
        return err;
    if (!user)
        return pai_error_make(rq->pool, PAI_ERR_NO_USER, "User %s is not found.", username);
    if ((err = pai_store_grants_get(rq->db, rq->pool, username, &granted)) ||
        (err = v2_user_view(rq, username, user->admin, granted, &u)))
        return err;
    pai_reply(rq, 200, u);
    return NULL;
}

/* GET /api/v1/user (admins): every user as v0.8 listed them, with the VCs
 * they may use (`default` always) as one comma list; never a password. */
pai_error *pai_users_get(pai_req *rq)
{
    apr_array_header_t *users;
    json_t *list;
    pai_error *err;
    int i, k;

    if ((err = pai_store_user_list(rq->db, rq->pool, &users)))
        return err;
    list = json_array();
    for (i = 0; i < users->nelts; i++) {
        const pai_user_entry *u = &APR_ARRAY_IDX(users, i, pai_user_entry);
        const char *vcs = "default";
        for (k = 0; k < u->vcs->nelts; k++) {
            const char *vc = APR_ARRAY_IDX(u->vcs, k, const char *);
            if (strcmp(vc, "default"))
                vcs = apr_pstrcat(rq->pool, vcs, ",", vc, NULL);
        }
        json_array_append_new(list, json_pack("{s:s, s:b, s:s}", "username", u->username,
                                              "admin", u->admin, "virtualCluster", vcs));
    }
    pai_reply(rq, 200, list);
    return NULL;
}

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

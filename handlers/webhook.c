/* /api/v2/webhooks: a user's webhooks registered, listed, read and removed,
 * and each one's deliveries with their outcome.  The secret is never shown. */
#include <string.h>
#include <apr_strings.h>
#include "handlers.h"
#include "../core/webhook.h"

static json_t *webhook_json(apr_pool_t *p, const pai_webhook_row *h)
{
    json_t *events = json_array();
    char *last, *e;

    for (e = apr_strtok(apr_pstrdup(p, h->events), ",", &last); e;
         e = apr_strtok(NULL, ",", &last))
        json_array_append_new(events, json_string(e));
    return json_pack("{s:s, s:s, s:s, s:o, s:I}", "id", h->id, "username", h->username,
                     "url", h->url, "events", events, "createdTime", (json_int_t)h->created);
}

/* The hook of the path's id, if the caller owns it or is an admin: another
 * user's hook is not found, as if it were not there. */
static pai_error *webhook_of_caller(pai_req *rq, pai_webhook_row **out)
{
    pai_error *err = pai_store_webhook_get(rq->db, rq->pool, rq->params[0], out);

    if (!err && (!*out || (!rq->who.admin && strcmp((*out)->username, rq->who.username))))
        err = pai_error_make(rq->pool, PAI_ERR_NOT_FOUND, "webhook %s not found", rq->params[0]);
    return err;
}

pai_error *pai_v2_webhooks_get(pai_req *rq)
{
    apr_array_header_t *hooks;
    pai_error *err;
    json_t *list;
    int i;

    if ((err = pai_store_webhook_list(rq->db, rq->pool, rq->who.username, &hooks)))
        return err;
    list = json_array();
    for (i = 0; i < hooks->nelts; i++)
        json_array_append_new(list, webhook_json(rq->pool,
                                                 APR_ARRAY_IDX(hooks, i, pai_webhook_row *)));
    pai_reply(rq, 200, json_pack("{s:o}", "webhooks", list));
    return NULL;
}

pai_error *pai_v2_webhooks_post(pai_req *rq)
{
    static const char *const fields[] = {"url", "events", "secret", NULL};
    const char *url, *secret;
    pai_webhook_row *h;
    pai_error *err;

    if ((err = pai_field_only(rq->pool, rq->body, NULL, fields)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "url", 1, &url)) ||
        (err = pai_field_str(rq->pool, rq->body, NULL, "secret", 1, &secret)) ||
        (err = pai_webhook_create(rq->db, rq->pool, rq->cfg->webhook_allow, rq->who.username,
                                  url, json_object_get(rq->body, "events"), secret, rq->now_ms,
                                  &h)))
        return err;
    pai_reply(rq, 201, webhook_json(rq->pool, h));
    return NULL;
}

pai_error *pai_v2_webhook_get(pai_req *rq)
{
    pai_webhook_row *h;
    pai_error *err;

    if ((err = webhook_of_caller(rq, &h)))
        return err;
    pai_reply(rq, 200, webhook_json(rq->pool, h));
    return NULL;
}

pai_error *pai_v2_webhook_delete(pai_req *rq)
{
    pai_webhook_row *h;
    pai_error *err;

    if ((err = webhook_of_caller(rq, &h)) ||
        (err = pai_store_webhook_delete(rq->db, rq->pool, h->id)))
        return err;
    pai_reply_message(rq, 200, "webhook %s deleted", h->id);
    return NULL;
}

/* The newest first, ?limit (1..1000, default 100) of them. */
pai_error *pai_v2_webhook_deliveries_get(pai_req *rq)
{
    apr_array_header_t *rows;
    pai_webhook_row *h;
    pai_error *err;
    json_t *list;
    int i, limit = 100;

    if ((err = pai_query_int(rq, "limit", 1, 1000, &limit)) ||
        (err = webhook_of_caller(rq, &h)) ||
        (err = pai_store_webhook_deliveries(rq->db, rq->pool, h->id, limit, &rows)))
        return err;
    list = json_array();
    for (i = 0; i < rows->nelts; i++) {
        const pai_webhook_delivery *d = APR_ARRAY_IDX(rows, i, const pai_webhook_delivery *);
        int pending = !strcmp(d->status, "pending");
        json_array_append_new(list, json_pack(
            "{s:s, s:s, s:I, s:s, s:I, s:i, s:o, s:o, s:o, s:o}", "id", d->id,
            "event", d->event, "changeId", (json_int_t)d->change_id, "status", d->status,
            "createdTime", (json_int_t)d->created, "attempts", d->attempts,
            "lastAttemptTime", d->last_at ? json_integer(d->last_at) : json_null(),
            "lastStatus", d->last_status ? json_integer(d->last_status) : json_null(),
            "lastError", *d->last_error ? json_string(d->last_error) : json_null(),
            "nextAttemptTime", pending ? json_integer(d->next_at) : json_null()));
    }
    pai_reply(rq, 200, json_pack("{s:o}", "deliveries", list));
    return NULL;
}

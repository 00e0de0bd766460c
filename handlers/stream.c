/* GET /api/v2/events/stream: who watches which changes, and from where; the
 * glue (mod_pairest_stream.c) then keeps sending them. */
#include <string.h>
#include <apr_strings.h>
#include "handlers.h"
#include "../core/auth.h"
#include "../core/jobspec.h"

/* A change id as Last-Event-ID (or lastEventId=) carries it. */
static pai_error *stream_event_id(pai_req *rq, const char *s, apr_int64_t *out)
{
    const char *c;

    if (!*s || strlen(s) > 18)
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "Last-Event-ID must be an event id");
    for (c = s; *c; c++)
        if (*c < '0' || *c > '9')
            return pai_error_make(rq->pool, PAI_ERR_INVALID, "Last-Event-ID must be an event id");
    *out = apr_atoi64(s);
    return NULL;
}

pai_error *pai_v2_events_stream_get(pai_req *rq)
{
    const char *user = apr_table_get(rq->query, "user");
    const char *vc = apr_table_get(rq->query, "vc");
    const char *job = apr_table_get(rq->query, "job");
    const char *from = rq->last_event_id ? rq->last_event_id
                                         : apr_table_get(rq->query, "lastEventId");
    pai_change_watch *w = apr_pcalloc(rq->pool, sizeof(*w));
    apr_int64_t first, last;
    pai_error *err;

    if (user && !pai_username_valid(user))
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "user must be a user name");
    if (vc && !pai_username_valid(vc))
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "vc must be a virtual cluster name");
    /* job: a frameworkName (user~job) or a job's name. */
    if (job && strchr(job, '~')) {
        const char *owner, *name;
        if (!pai_framework_name_split(rq->pool, job, &owner, &name))
            return pai_error_make(rq->pool, PAI_ERR_INVALID, "job must be a frameworkName "
                                  "(user~job) or a job name");
        if (user && strcmp(user, owner))
            return pai_error_make(rq->pool, PAI_ERR_INVALID, "job %s is not of user %s", job,
                                  user);
        user = owner;
        job = name;
    }
    else if (job && !pai_job_name_valid(job))
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "job must be a job name");
    /* PaiReadAccess owner: a user watches their own jobs, as they list them. */
    if (rq->read_access == PAI_READ_OWNER && !rq->who.admin) {
        if (user && strcmp(user, rq->who.username))
            return pai_error_make(rq->pool, PAI_ERR_FORBIDDEN, "you may watch your own jobs "
                                  "only");
        user = rq->who.username;
    }
    w->filter.username = user;
    w->filter.vc = vc;
    w->filter.job = job;
    if ((err = pai_store_changes_bounds(rq->db, rq->pool, &first, &last)))
        return err;
    w->until = last;
    w->cursor = last;
    if (from) {
        if ((err = stream_event_id(rq, from, &w->cursor)))
            return err;
        if (w->cursor > last)
            return pai_error_make(rq->pool, PAI_ERR_INVALID, "Last-Event-ID %" APR_INT64_T_FMT
                                  " is after the last event (%" APR_INT64_T_FMT ")",
                                  w->cursor, last);
        /* Changes after it were let go (PaiStreamRetention): the watcher
         * hears so, then what is kept. */
        if (first > 0 && w->cursor < first - 1) {
            w->reset = 1;
            w->cursor = first - 1;
        }
    }
    rq->status = 200;
    rq->watch = w;
    return NULL;
}

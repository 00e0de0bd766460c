/* Job events: recorded at the changes they tell, read newest first. */
#include <stdarg.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "events.h"
#include "pending.h"

void pai_event_record(pai_db *db, apr_pool_t *p, const pai_job_row *j, const char *task_role,
                      int task_index, const char *type, const char *reason, const char *source,
                      apr_int64_t now_ms, const char *fmt, ...)
{
    pai_job_event e;
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    if (strlen(msg) > PAI_EVENT_MESSAGE_MAX)
        msg[PAI_EVENT_MESSAGE_MAX] = '\0';
    memset(&e, 0, sizeof(e));
    e.name = j->name;
    e.created = j->created;
    e.attempt = j->retries;
    e.type = type;
    e.reason = reason;
    e.message = msg;
    e.task_role = task_role ? task_role : "";
    e.task_index = task_role ? task_index : -1;
    e.first_ms = e.last_ms = now_ms;
    e.source = source;
    (void)pai_store_job_event(db, p, &e);
}

static int event_is(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

void pai_event_transition(pai_db *db, apr_pool_t *p, const pai_job_row *before,
                          const pai_job_row *after, apr_int64_t now_ms)
{
    const pai_job_row *j = after;

    /* Slurm holds it: its reason, each time it changes. */
    if (event_is(j->state, "WAITING") && event_is(j->sub_state, "PENDING") &&
        !strncmp(j->diagnostics, "PENDING: ", 9) &&
        !(event_is(before->sub_state, "PENDING") &&
          event_is(before->diagnostics, j->diagnostics))) {
        const pai_slurm_reason *r = pai_pending_slurm_reason(p, j->diagnostics + 9);
        pai_event_record(db, p, j, NULL, 0, r->warning ? PAI_EVENT_WARNING : PAI_EVENT_NORMAL,
                         "Pending", "slurm", now_ms, "Slurm holds it (%s): %s; what releases "
                         "it: %s", r->code, r->why, r->release);
    }
    if (event_is(j->state, "RUNNING") && !event_is(before->state, "RUNNING"))
        pai_event_record(db, p, j, NULL, 0, PAI_EVENT_NORMAL, "Started", "slurm", now_ms,
                         "attempt %d started on %s", j->retries,
                         *j->hosts ? j->hosts : *j->host ? j->host : "its node");
    if (event_is(before->state, j->state))
        return;
    if (event_is(j->state, "SUCCEEDED"))
        pai_event_record(db, p, j, NULL, 0, PAI_EVENT_NORMAL, "Succeeded", "slurm", now_ms,
                         "attempt %d succeeded", j->retries);
    else if (event_is(j->state, "FAILED"))
        pai_event_record(db, p, j, NULL, 0, PAI_EVENT_WARNING,
                         event_is(j->sub_state, "LOST") ? "Lost" : "Failed",
                         "slurm", now_ms, "attempt %d failed%s%s%s", j->retries,
                         j->has_exit ? apr_psprintf(p, " with exit code %d", j->exit_code) : "",
                         *j->diagnostics ? ": " : "", j->diagnostics);
    else if (event_is(j->state, "STOPPED"))
        pai_event_record(db, p, j, NULL, 0,
                         event_is(j->execution_type, "STOP") ? PAI_EVENT_NORMAL
                                                             : PAI_EVENT_WARNING,
                         event_is(j->execution_type, "STOP") ? "Stopped" : "Cancelled",
                         "slurm", now_ms, event_is(j->execution_type, "STOP")
                         ? "attempt %d stopped as asked"
                         : "attempt %d was cancelled outside mod_pairest", j->retries);
}

/* ms as ISO 8601 with milliseconds, in UTC, as OpenPAI's events. */
const char *pai_event_iso(apr_pool_t *p, apr_int64_t ms)
{
    apr_time_exp_t t;

    apr_time_exp_gmt(&t, apr_time_from_msec(ms));
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900, t.tm_mon + 1,
                        t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, (int)(ms % 1000));
}

json_t *pai_event_list_json(apr_pool_t *p, const char *username, const char *name,
                            const apr_array_header_t *events, const char *type)
{
    json_t *data = json_array();
    int i;

    for (i = 0; i < events->nelts; i++) {
        const pai_job_event *e = APR_ARRAY_IDX(events, i, const pai_job_event *);
        int task = *e->task_role != '\0';
        if (type && strcmp(type, e->type))
            continue;
        json_array_append_new(data, json_pack(
            "{s:s, s:i, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:n}",
            "frameworkName", apr_pstrcat(p, username, "~", name, NULL), "attemptId", e->attempt,
            "taskroleName", task ? json_string(e->task_role) : json_null(),
            "taskName", task ? json_string(apr_psprintf(p, "%s-%d", e->task_role, e->task_index))
                             : json_null(),
            "taskIndex", task ? json_integer(e->task_index) : json_null(),
            "type", e->type, "reason", e->reason, "message", e->message,
            "firstTimestamp", pai_event_iso(p, e->first_ms), "lastTimestamp",
            pai_event_iso(p, e->last_ms), "count", e->count, "sourceComponent", e->source,
            "sourceHost"));
    }
    return json_pack("{s:I, s:o}", "totalCount", (json_int_t)json_array_size(data), "data", data);
}

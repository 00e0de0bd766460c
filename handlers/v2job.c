/* /api/v2/jobs, OpenPAI v1.8's job resource: the list with its filters, a
 * submission in the job protocol (YAML), and a job named "user~job": its
 * detail, its config, START/STOP and its tags. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "../core/protocol.h"
#include "handlers.h"

#define V2_LIMIT_DEFAULT 5000
#define V2_LIMIT_MAX 50000
#define V2_KEYWORD_MAX 256

/* v1.8's names for v1's errors. */
static pai_error *v2_error(pai_error *e)
{
    if (e && e->code == PAI_ERR_JOB_NOT_FOUND)
        e->code = PAI_ERR_NO_JOB;
    else if (e && e->code == PAI_ERR_JOB_DUPLICATE)
        e->code = PAI_ERR_CONFLICT_JOB;
    return e;
}

/* "user~job": the job's name, when that user owns that job. */
static pai_error *framework_param(pai_req *rq, pai_jobs_env *env, const char **name)
{
    const char *fw = rq->params[0], *user;
    pai_error *err;

    if ((err = pai_req_jobs_env(rq, env)))
        return err;
    if (!pai_framework_name_split(rq->pool, fw, &user, name))
        return pai_error_make(rq->pool, PAI_ERR_NO_JOB, "Job %s is not found.", fw);
    return v2_error(pai_job_of_user(env, rq->pool, user, *name));
}

/* A comma list of the query (NULL: absent), each item checked by valid. */
static pai_error *query_list(pai_req *rq, const char *key, int (*valid)(const char *),
                             const apr_array_header_t **out)
{
    const char *v = rq->query ? apr_table_get(rq->query, key) : NULL;
    apr_array_header_t *list;
    char *copy, *last, *item;

    *out = NULL;
    if (!v)
        return NULL;
    list = apr_array_make(rq->pool, 4, sizeof(const char *));
    copy = apr_pstrdup(rq->pool, v);
    for (item = apr_strtok(copy, ",", &last); item; item = apr_strtok(NULL, ",", &last)) {
        if (!valid(item))
            return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter '%s' has a bad item "
                                  "'%.64s'", key, item);
        if (list->nelts >= PAI_JOB_QUERY_LIST_MAX)
            return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter '%s' has more than %d "
                                  "items", key, PAI_JOB_QUERY_LIST_MAX);
        APR_ARRAY_PUSH(list, const char *) = item;
    }
    *out = list;
    return NULL;
}

static int state_valid(const char *s)
{
    static const char *const states[] = {"WAITING", "RUNNING", "SUCCEEDED", "STOPPED", "FAILED",
                                         "UNKNOWN", NULL};
    const char *const *st;
    for (st = states; *st && strcmp(*st, s); st++)
        ;
    return *st != NULL;
}

static int tag_valid(const char *s)
{
    return *s && strlen(s) <= 256;
}

/* v1.8's order fields and our columns; jobPriority has no column here (one
 * priority for all), so it orders as submissionTime. */
static const struct { const char *field, *column; } v2_orders[] = {
    {"jobName", "name"}, {"submissionTime", "created"}, {"username", "username"},
    {"vc", "vc"}, {"retries", "retries"}, {"totalTaskNumber", "tasks"},
    {"totalGpuNumber", "gpus"}, {"state", "state"}, {"completionTime", "completed"},
    {"jobPriority", "created"},
};

static void jobs_page_emit(pai_jsonw *w, const void *page)
{
    pai_job_page_write(w, page);
}

/* GET /api/v2/jobs?username=a,b&vc=&state=&tagsContain=&tagsNotContain=&keyword=
 * &offset=&limit=&withTotalCount=true&order=field,ASC|DESC, or after= for keyset pages */
pai_error *pai_v2_jobs_get(pai_req *rq)
{
    pai_job_query q;
    const char *order = rq->query ? apr_table_get(rq->query, "order") : NULL;
    const char *total = rq->query ? apr_table_get(rq->query, "withTotalCount") : NULL;
    const char *after = rq->query ? apr_table_get(rq->query, "after") : NULL;
    pai_jobs_env env;
    pai_job_page *page;
    pai_error *err;

    memset(&q, 0, sizeof(q));
    q.descending = 1;
    q.limit = V2_LIMIT_DEFAULT;
    if ((err = query_list(rq, "username", pai_username_valid, &q.usernames)) ||
        (err = query_list(rq, "vc", pai_username_valid, &q.vcs)) ||
        (err = query_list(rq, "state", state_valid, &q.states)) ||
        (err = query_list(rq, "tagsContain", tag_valid, &q.tags_in)) ||
        (err = query_list(rq, "tagsNotContain", tag_valid, &q.tags_out)) ||
        (err = pai_query_int(rq, "offset", 0, 1000000000, &q.offset)) ||
        (err = pai_query_int(rq, "limit", 1, 1000000000, &q.limit)))
        return err;
    if (q.limit > V2_LIMIT_MAX)
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "Limit exceeds max number %d.",
                              V2_LIMIT_MAX);
    if ((q.keyword = rq->query ? apr_table_get(rq->query, "keyword") : NULL) &&
        strlen(q.keyword) > V2_KEYWORD_MAX)
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter 'keyword' is longer than %d",
                              V2_KEYWORD_MAX);
    if (order) {
        const char *comma = strchr(order, ',');
        size_t i;
        for (i = 0; i < sizeof(v2_orders) / sizeof(*v2_orders); i++)
            if (comma && !strncmp(order, v2_orders[i].field, comma - order) &&
                !v2_orders[i].field[comma - order])
                q.order = v2_orders[i].column;
        if (!q.order || (strcmp(comma + 1, "ASC") && strcmp(comma + 1, "DESC")))
            return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter 'order' must be "
                                  "<field>,ASC or <field>,DESC with a field of jobName, "
                                  "submissionTime, username, vc, retries, totalTaskNumber, "
                                  "totalGpuNumber, state, completionTime, jobPriority");
        q.descending = !strcmp(comma + 1, "DESC");
    }
    /* Keyset paging: after= (empty: the first page), then each answer's next. */
    if (after) {
        if (q.offset)
            return pai_error_make(rq->pool, PAI_ERR_INVALID, "parameter 'offset' and 'after' "
                                  "do not go together");
        if (*after && (err = pai_job_cursor_read(rq->pool, after, &q)))
            return err;
    }
    /* PaiReadAccess owner: a user sees their own jobs, whatever they ask. */
    if (rq->read_access == PAI_READ_OWNER && !rq->who.admin) {
        apr_array_header_t *self = apr_array_make(rq->pool, 1, sizeof(const char *));
        APR_ARRAY_PUSH(self, const char *) = rq->who.username;
        q.usernames = self;
    }
    if ((err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_job_query_page(&env, rq->pool, &q, total && !strcmp(total, "true"),
                                  after != NULL, &page)))
        return err;
    pai_reply_stream(rq, jobs_page_emit, page);
    return NULL;
}

/* POST /api/v2/jobs: the job protocol (YAML, or JSON of that shape). */
pai_error *pai_v2_jobs_post(pai_req *rq)
{
    pai_protocol proto;
    const char *name;
    pai_jobs_env env;
    pai_error *err;

    if ((err = pai_protocol_read(rq->pool, rq->body, &proto)) ||
        (err = pai_req_jobs_env(rq, &env)) ||
        (err = v2_error(pai_job_submit(&env, rq->pool, &rq->who, proto.config, &proto,
                                       rq->now_ms, &name))))
        return err;
    pai_reply(rq, 202, json_pack("{s:i, s:s}", "status", 202, "message",
                                 apr_psprintf(rq->pool, "Update job %s for user %s successfully.",
                                              name, rq->who.username)));
    return NULL;
}

/* A path's number (an attempt, a task index): 400 naming it otherwise. */
static pai_error *index_param(pai_req *rq, int i, const char *what, int *out)
{
    const char *s = rq->params[i];
    char *end;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < 0 || v > 100000)
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "%s must be a number", what);
    *out = (int)v;
    return NULL;
}

/* The job as it is (attempt -1), or as it was in one attempt. */
static pai_error *job_detail(pai_req *rq, int attempt)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;
    json_t *out;

    if ((err = framework_param(rq, &env, &name)) ||
        (err = v2_error(pai_job_detail_v2(&env, rq->pool, name, attempt, &out))))
        return err;
    pai_reply(rq, 200, json_incref(out));
    return NULL;
}

pai_error *pai_v2_job_get(pai_req *rq)
{
    return job_detail(rq, -1);
}

pai_error *pai_v2_job_attempt_detail_get(pai_req *rq)
{
    int attempt = 0;
    pai_error *err = index_param(rq, 1, "jobAttemptId", &attempt);
    return err ? err : job_detail(rq, attempt);
}

/* One task of one attempt, with its task attempts. */
pai_error *pai_v2_job_task_attempts_get(pai_req *rq)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;
    json_t *out;
    int attempt = 0, index = 0;

    if ((err = index_param(rq, 1, "jobAttemptId", &attempt)) ||
        (err = index_param(rq, 3, "taskIndex", &index)) ||
        (err = framework_param(rq, &env, &name)) ||
        (err = v2_error(pai_job_task_view(&env, rq->pool, name, attempt, rq->params[2], index,
                                          &out))))
        return err;
    pai_reply(rq, 200, json_incref(out));
    return NULL;
}

/* A task's logs: the job, attempt, role, index and task attempt of the path
 * (params 0 to 4), for the caller. */
typedef struct v2_log_follow {
    pai_jobs_env env;
    const char *name;
    apr_int64_t created;
    int attempt;
    /* the file, and the part of it asked for, to open once it is there */
    pai_tasklog_where where;
    apr_int64_t tail;
    int tail_mode;
} v2_log_follow;

static pai_error *task_log_where(pai_req *rq, pai_jobs_env *env, const char **name,
                                 pai_tasklog_where *w, int *live)
{
    int attempt = 0, index = 0, task_attempt = 0;
    pai_error *err;

    if ((err = index_param(rq, 1, "jobAttemptId", &attempt)) ||
        (err = index_param(rq, 3, "taskIndex", &index)) ||
        (err = index_param(rq, 4, "taskAttemptId", &task_attempt)) ||
        (err = framework_param(rq, env, name)))
        return err;
    return v2_error(pai_job_task_log_where(env, rq->pool, &rq->who, *name, attempt,
                                           rq->params[2], index, task_attempt, rq->now_ms, w,
                                           live));
}

static int query_true(pai_req *rq, const char *key)
{
    const char *v = apr_table_get(rq->query, key);
    return v && !strcmp(v, "true");
}

/* v1.8's log list: this server's URIs, which carry no credential (a client
 * reads them with its own token). */
pai_error *pai_v2_job_task_logs_get(pai_req *rq)
{
    static const char *const names[] = {PAI_TASKLOG_STDOUT, PAI_TASKLOG_STDERR, PAI_TASKLOG_ALL};
    const char *name, *base;
    pai_tasklog_where w;
    pai_jobs_env env;
    pai_error *err;
    json_t *list;
    int live, i, tail = query_true(rq, "tailMode") || query_true(rq, "tail-mode");

    if ((err = task_log_where(rq, &env, &name, &w, &live)))
        return err;
    /* The path's names were checked (framework_param, the role in the job). */
    base = apr_psprintf(rq->pool, "%s/api/v2/jobs/%s/attempts/%d/taskRoles/%s/taskIndex/%s"
                        "/attempts/0/logs/", rq->base_url, rq->params[0], w.attempt,
                        rq->params[2], rq->params[3]);
    list = json_array();
    for (i = 0; i < 3; i++)
        json_array_append_new(list, json_pack("{s:s, s:s}", "name", names[i], "uri",
                                              apr_pstrcat(rq->pool, base, names[i],
                                                          tail ? "?tail-mode=true" : "", NULL)));
    pai_reply(rq, 200, json_pack("{s:o}", "locations", list));
    return NULL;
}

static int task_log_live(pai_req *rq, apr_pool_t *scratch)
{
    v2_log_follow *f = rq->follow_ctx;
    int live = 0;
    pai_job_task_log_live(&f->env, scratch, f->name, f->created, f->attempt, &live);
    return live;
}

/* The followed log, and the part asked for (the glue calls it again while
 * a running task has not made the file yet: *absent). */
static pai_error *task_log_open(pai_req *rq, int *absent)
{
    v2_log_follow *f = rq->follow_ctx;
    apr_off_t size;
    pai_error *err;

    if ((err = pai_tasklog_open(rq->pool, &f->where, &rq->file, &size, absent)))
        return err;
    pai_tasklog_span(size, f->tail, f->tail_mode, &rq->file_offset, &rq->file_length);
    return NULL;
}

/* One log's content: all of it (httpd answers a Range with 206), its last
 * ?tail=<bytes>, its last 16 KiB (tail-mode), and with ?follow=true what
 * the task writes next, until its attempt ends or PaiLogFollowSeconds. */
pai_error *pai_v2_job_task_log_get(pai_req *rq)
{
    const char *name, *tail_arg = apr_table_get(rq->query, "tail");
    apr_int64_t tail = -1;
    pai_tasklog_where w;
    pai_jobs_env env;
    v2_log_follow *f;
    pai_error *err;
    char *end;
    int live, absent;

    if (tail_arg) {
        tail = apr_strtoi64(tail_arg, &end, 10);
        if (!*tail_arg || *end || tail < 0 || tail > ((apr_int64_t)1 << 40))
            return pai_error_make(rq->pool, PAI_ERR_INVALID, "tail must be a number of bytes");
    }
    if (!pai_tasklog_file(rq->pool, "", rq->params[5]))
        return pai_error_make(rq->pool, PAI_ERR_NO_TASK_LOG, "no log named %s: stdout, stderr "
                              "or all", rq->params[5]);
    if ((err = task_log_where(rq, &env, &name, &w, &live)))
        return err;
    w.which = rq->params[5];
    f = apr_pcalloc(rq->pool, sizeof(*f));
    f->env = env;
    f->name = name;
    f->created = w.job_created;
    f->attempt = w.attempt;
    f->where = w;
    f->tail = tail;
    f->tail_mode = query_true(rq, "tail-mode") || query_true(rq, "tailMode");
    rq->follow_ctx = f;
    if (query_true(rq, "follow")) {
        rq->follow = 1;
        rq->follow_live = task_log_live;
    }
    err = task_log_open(rq, &absent);
    /* Slurm says RUNNING a moment before the task's first line runs: a
     * follower asking at once waits for the file (the glue, without this
     * request's database connection) instead of a 404. */
    if (err && absent && live && rq->follow) {
        rq->follow_open = task_log_open;
        err = NULL;
    }
    if (err)
        return err;
    rq->text_type = "text/plain; charset=utf-8";
    rq->status = 200;
    return NULL;
}

/* What happened to the job, newest first; ?type=Normal|Warning. */
pai_error *pai_v2_job_events_get(pai_req *rq)
{
    const char *name, *type = apr_table_get(rq->query, "type");
    pai_jobs_env env;
    pai_error *err;
    json_t *out;

    if (type && strcmp(type, "Normal") && strcmp(type, "Warning"))
        return pai_error_make(rq->pool, PAI_ERR_INVALID, "type must be Normal or Warning");
    if ((err = framework_param(rq, &env, &name)) ||
        (err = v2_error(pai_job_events_view(&env, rq->pool, name, type, &out))))
        return err;
    pai_reply(rq, 200, json_incref(out));
    return NULL;
}

/* The job as submitted, in YAML (secrets masked). */
pai_error *pai_v2_job_config_get(pai_req *rq)
{
    const char *name, *yaml;
    pai_jobs_env env;
    pai_error *err;

    if ((err = framework_param(rq, &env, &name)) ||
        (rq->read_access == PAI_READ_OWNER &&
         (err = pai_job_owner_check(&env, rq->pool, &rq->who, name))) ||
        (err = v2_error(pai_job_protocol_text(&env, rq->pool, name, &yaml))))
        return err;
    rq->status = 200;
    rq->text = yaml;
    rq->text_type = "text/yaml; charset=utf-8";
    return NULL;
}

pai_error *pai_v2_job_execution_put(pai_req *rq)
{
    const char *name, *value;
    pai_jobs_env env;
    pai_error *err;

    if ((err = framework_param(rq, &env, &name)) || (err = pai_body_value(rq, &value)) ||
        (err = v2_error(pai_job_execute(&env, rq->pool, &rq->who, name, value, rq->now_ms))))
        return err;
    pai_reply(rq, 202, json_pack("{s:i, s:s}", "status", 202, "message",
                                 apr_psprintf(rq->pool, "Execute job %s successfully.",
                                              rq->params[0])));
    return NULL;
}

static pai_error *job_tag(pai_req *rq, int add)
{
    const char *name, *tag;
    pai_jobs_env env;
    pai_error *err;

    if ((err = framework_param(rq, &env, &name)) || (err = pai_body_value(rq, &tag)) ||
        (err = v2_error(pai_job_tag(&env, rq->pool, &rq->who, name, tag, add))))
        return err;
    pai_reply(rq, 200, json_pack("{s:i, s:s}", "status", 200, "message",
                                 apr_psprintf(rq->pool, add ? "Add tag %s for job %s successfully."
                                              : "Delete tag %s from job %s successfully.", tag,
                                              rq->params[0])));
    return NULL;
}

pai_error *pai_v2_job_tag_put(pai_req *rq)
{
    return job_tag(rq, 1);
}

pai_error *pai_v2_job_tag_delete(pai_req *rq)
{
    return job_tag(rq, 0);
}

/* The history is in the database: healthy whenever this answers. */
pai_error *pai_v2_job_attempts_healthz_get(pai_req *rq)
{
    rq->status = 200;
    rq->text = "ok";
    return NULL;
}

static pai_error *job_attempts(pai_req *rq, int index)
{
    const char *name;
    pai_jobs_env env;
    pai_error *err;
    json_t *out;

    if ((err = framework_param(rq, &env, &name)) ||
        (err = v2_error(pai_job_attempts_view(&env, rq->pool, name, index, &out))))
        return err;
    pai_reply(rq, 200, json_incref(out));
    return NULL;
}

pai_error *pai_v2_job_attempts_get(pai_req *rq)
{
    return job_attempts(rq, -1);
}

pai_error *pai_v2_job_attempt_get(pai_req *rq)
{
    int index = 0;
    pai_error *err = index_param(rq, 1, "jobAttemptIndex", &index);
    return err ? err : job_attempts(rq, index);
}

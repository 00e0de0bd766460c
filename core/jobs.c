/* The job commands (submit, STOP, START) and the read views over the store;
 * admission is admit.c's, the sync sync.c's. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_base64.h>
#include <apr_hash.h>
#include <apr_general.h>
#include "admit.h"
#include "exitspec.h"
#include "pending.h"
#include "events.h"
#include "viewcache.h"
#include "vc.h"
#include "sshkey.h"
#include "placement.h"
#include "image.h"
#include "yaml.h"

static int job_is_active(const pai_job_row *j)
{
    return !strcmp(j->state, "WAITING") || !strcmp(j->state, "RUNNING");
}

/* The account the launcher runs j as (the mapping alone). */
static const char *job_account(const pai_jobs_env *env, const pai_job_row *j)
{
    return env->per_user ? j->username : env->job_user;
}


pai_error *pai_job_account_check(const pai_jobs_env *env, apr_pool_t *p, const char *username)
{
    const char *account;
    return env->launcher->ops->account(env->launcher->ctx, p, username, &account);
}



/* The job, or the seed's 404 JobNotFound. */
static pai_error *job_find(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                           pai_job_row **j)
{
    pai_error *e = pai_store_job_get(env->db, p, name, j);
    if (!e && !*j)
        e = pai_error_make(p, PAI_ERR_JOB_NOT_FOUND, "could not find job %s", name);
    return e;
}

/* Whether `who` may act on or read job j beyond its public view: its owner
 * or an admin. */
static int job_owned_by(const pai_identity *who, const pai_job_row *j)
{
    return who->username && (who->admin || !strcmp(who->username, j->username));
}



/* With containers, the image must be a reference a node can pull, from a
 * registry the site allows, and authFile a path the node can read as the
 * job's account (it travels in the job's Slurm comment, so no ';' or ','). */
static pai_error *jobs_check_image(const pai_jobs_env *env, apr_pool_t *p,
                                   const pai_jobspec *spec)
{
    pai_image_ref ref;
    pai_error *e;

    if (!env->containers)
        return NULL;
    if ((e = pai_image_ref_parse(p, spec->image, &ref)))
        return e;
    if (!pai_image_allowed(&ref, env->image_allow))
        return pai_error_make(p, PAI_ERR_INVALID, "image '%s' (%s) is not allowed here: it "
                              "matches none of PaiImageAllow %s", spec->image, ref.name,
                              apr_array_pstrcat(p, env->image_allow, ' '));
    if (*spec->auth_file && !pai_image_mount_path_ok(spec->auth_file))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'authFile' must be an absolute path "
                              "on the nodes, of letters, digits and . _ - /");
    return NULL;
}

/* 400 when the job's tasks need more ports than PaiTaskPortRange holds. */
static pai_error *jobs_check_ports(const pai_jobs_env *env, apr_pool_t *p,
                                   const pai_jobspec *spec)
{
    int span = pai_job_port_span(spec), range = env->port_hi - env->port_lo + 1;

    if (span > range)
        return pai_error_make(p, PAI_ERR_INVALID, "the job's tasks need %d ports (one more than "
                              "each task's portList, for its sshd, times %d tasks), more than the "
                              "%d of the cluster's task port range", span, spec->total_tasks, range);
    return NULL;
}



pai_error *pai_job_submit(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                          const json_t *config, const pai_protocol *proto, apr_int64_t now_ms,
                          const char **name)
{
    const char *private_key = NULL, *public_key = NULL, *secret = NULL;
    pai_capacity cluster;
    pai_placement *placement;
    pai_jobspec *spec;
    pai_job_row j;
    pai_error *e;
    int admitted;

    if ((e = pai_jobspec_parse(p, config, &spec)) ||
        (e = jobs_check_image(env, p, spec)) ||
        (e = jobs_check_ports(env, p, spec)) ||
        (e = pai_account_may_use_vc(env->db, p, who, spec->virtual_cluster)))
        return e;
    memset(&j, 0, sizeof(j));
    j.name = spec->job_name;
    j.username = who->username;
    j.vc = spec->virtual_cluster;
    j.state = "WAITING";
    j.sub_state = "SUBMITTING";
    j.execution_type = "START";
    j.port_base = pai_admit_port_base(env, spec);
    j.host = j.hosts = j.placement = "";
    j.diagnostics = "";
    j.created = j.submitted = now_ms;
    j.cpus = spec->total_cpus;
    j.memory_mb = spec->total_memory_mb;
    j.gpus = spec->total_gpus;
    j.config = pai_json_dump(p, spec->normalized);
    j.tasks = spec->total_tasks;
    j.roles = spec->roles->nelts;
    j.protocol = proto ? pai_json_dump(p, proto->kept) : "";
    if ((e = pai_admit_check_fits(env, p, &j, spec, &cluster, &placement)) ||
        (e = pai_admit_prepare(env, p, &j)))
        return e;
    if (env->report_base &&
        ((e = pai_ssh_keygen(p, apr_pstrcat(p, "pai-job-", j.name, NULL), &private_key,
                             &public_key)) || (e = pai_random_hex(p, &secret))))
        return e;
    /* The row comes first: a launcher job never exists without its record.
     * A job its VC has no room for now waits in the store, QUEUED. */
    if ((e = pai_admit(env, p, &cluster, &j, 1, 0, 1, "SUBMITTING", &admitted)))
        return e;
    /* On failure the row goes; if even that fails, the sync removes a first
     * submission that never reached the launcher after its grace period. */
    if ((env->report_base &&
         (e = pai_store_ssh_keys_put(env->db, p, j.name, private_key, public_key, secret))) ||
        (proto && proto->secrets &&
         (e = pai_store_job_secrets_put(env->db, p, j.name, pai_json_dump(p, proto->secrets))))) {
        (void)pai_store_job_delete_unsubmitted(env->db, p, j.name);
        return e;
    }
    if (admitted && (e = pai_admit_launch(env, p, &j, spec, placement))) {
        (void)pai_store_job_delete_unsubmitted(env->db, p, j.name);
        return e;
    }
    *name = j.name;
    return NULL;
}

/* How often a user's START, STOP or DELETE is tried when another writer (the
 * sync saving what Slurm says, another server) changed the job between its
 * read and its write: the user asked once, so the lost race is ours to
 * absorb; only a job that keeps changing is answered "try again". */
#define JOB_WRITE_TRIES 5

static pai_error *job_lost_race(apr_pool_t *p, const char *name)
{
    return pai_error_make(p, PAI_ERR_JOB_EXECUTE, "job %s changed meanwhile; try again", name);
}

/* STOP of j as read; *cancelled is the launcher job already cancelled by an
 * earlier try, which is not asked again.  A lost race is a
 * PAI_ERR_JOB_EXECUTE error, the caller's to retry. */
static pai_error *job_stop(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                           pai_job_row *j, apr_int64_t now_ms, apr_int64_t *cancelled)
{
    pai_job_row prev = *j;
    pai_error *e;
    int saved = 0;

    j->execution_type = "STOP";
    if (job_is_active(j)) {
        const char *account = NULL;
        /* The account the job runs as; a refusal (the account is gone)
         * still names it, and the cancel is tried as it. */
        env->launcher->ops->account(env->launcher->ctx, p, j->username, &account);
        if (j->launcher_id && account && j->launcher_id != *cancelled) {
            if ((e = env->launcher->ops->cancel(env->launcher->ctx, p, j->launcher_id, account)))
                return e;
            *cancelled = j->launcher_id;
        }
        /* Resources are free for others from now on; the launcher's
         * CANCELLED confirms it on the next sync. */
        j->state = "STOPPED";
        j->sub_state = j->launcher_id ? "CANCELLED" : "STOPPED";
        j->completed = now_ms;
        j->diagnostics = apr_psprintf(p, "stopped by %s", who->username);
        j->exit_task = "";
        j->exit_why = "stop";
    }
    if ((e = pai_store_job_save(env->db, p, j, j->retries, &saved)))
        return e;
    if (!saved)
        return job_lost_race(p, j->name);
    pai_event_record(env->db, p, j, NULL, 0, PAI_EVENT_NORMAL, "StopRequested",
                     "mod_pairest", now_ms, "%s asked to stop it%s", who->username,
                     strcmp(j->state, prev.state) ? "" : " (it was not running)");
    /* Its resources are free from now on (the launcher's end only confirms it). */
    if (strcmp(j->state, prev.state))
        pai_event_record(env->db, p, j, NULL, 0, PAI_EVENT_NORMAL, "Stopped", "mod_pairest",
                         now_ms, "attempt %d stopped as asked", j->retries);
    return NULL;
}

/* START of j as read: a lost race is a PAI_ERR_JOB_EXECUTE error, written
 * before anything reached the launcher. */
static pai_error *job_start(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                            pai_job_row *j, apr_int64_t now_ms)
{
    pai_job_row prev = *j;
    pai_capacity cluster;
    pai_placement *placement;
    pai_jobspec *spec;
    pai_error *e;
    int saved = 0;

    /* A job that still runs or waits needs nothing. */
    if (job_is_active(j)) {
        if (strcmp(j->execution_type, "START")) {
            j->execution_type = "START";
            if ((e = pai_store_job_save(env->db, p, j, j->retries, &saved)))
                return e;
            if (!saved)
                return job_lost_race(p, j->name);
        }
        return NULL;
    }
    if ((e = pai_admit_spec_of(env, p, j, &spec)))
        return e;
    j->execution_type = "START";
    j->run_retries = 0;
    pai_admit_new_attempt(env, j, spec, now_ms);
    if ((e = pai_admit_prepare(env, p, j)) ||
        (e = pai_admit_check_fits(env, p, j, spec, &cluster, &placement)) ||
        (e = pai_admit(env, p, &cluster, j, 0, prev.retries, 1, "ADMITTED", &saved)))
        return e;
    if (saved)
        pai_event_record(env->db, p, j, NULL, 0, PAI_EVENT_NORMAL, "StartRequested",
                         "mod_pairest", now_ms, "%s started it again: attempt %d",
                         who->username, j->retries);
    if (saved && (e = pai_admit_launch(env, p, j, spec, placement))) {
        /* Not taken: the job stays as it was before the START.  Should that
         * write fail, the attempt has no launcher id, and the sync queues it
         * again after its grace period (a hand-over that died midway). */
        prev.version = j->version;
        (void)pai_store_job_save(env->db, p, &prev, j->retries, &saved);
        return e;
    }
    return NULL;
}

pai_error *pai_job_execute(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                           const char *name, const char *value, apr_int64_t now_ms)
{
    apr_int64_t cancelled = 0;
    pai_job_row *j;
    pai_error *e;
    int tries;

    if (strcmp(value, "START") && strcmp(value, "STOP"))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'value' must be START or STOP");
    for (tries = 1; ; tries++) {
        if ((e = job_find(env, p, name, &j)))
            return e;
        if (!job_owned_by(who, j))
            return pai_error_make(p, PAI_ERR_FORBIDDEN,
                                  "User %s is not allowed to execute job %s.", who->username,
                                  name);
        e = strcmp(value, "STOP") ? job_start(env, p, who, j, now_ms)
                                  : job_stop(env, p, who, j, now_ms, &cancelled);
        if (!e || e->code != PAI_ERR_JOB_EXECUTE || tries == JOB_WRITE_TRIES)
            return e;
    }
}

/* DELETE: an active job is stopped first (as STOP does), then its row moves to
 * the deleted jobs, which frees the name.  The job's folders on the nodes stay
 * (the next job of that name moves them aside: scripts/job/batch.sh). */
pai_error *pai_job_remove(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                          const char *name, apr_int64_t now_ms)
{
    pai_job_row *j;
    pai_error *e;
    int deleted = 0, tries;

    for (tries = 1; ; tries++) {
        if ((e = job_find(env, p, name, &j)))
            return e;
        if (!job_owned_by(who, j))
            return pai_error_make(p, PAI_ERR_FORBIDDEN,
                                  "User %s is not allowed to delete job %s.", who->username,
                                  name);
        if (job_is_active(j)) {
            if ((e = pai_job_execute(env, p, who, name, "STOP", now_ms)) ||
                (e = job_find(env, p, name, &j)))
                return e;
        }
        if ((e = pai_store_job_delete(env->db, p, name, j->version, who->username, now_ms,
                                      &deleted)))
            return e;
        if (deleted)
            return NULL;
        if (tries == JOB_WRITE_TRIES)
            return job_lost_race(p, name);
    }
}

/* ---- views --------------------------------------------------------------- */

static json_t *ms_or_null(apr_int64_t ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}

/* The seed's summary of a job, the first fields of its status and of each
 * list item. */
#define JOB_SUMMARY_N 10
static void job_summary_fields(const pai_job_row *j, pai_json_field *f)
{
    const pai_json_field s[JOB_SUMMARY_N] = {
        PAI_JF_STR("name", j->name), PAI_JF_STR("username", j->username),
        PAI_JF_STR("state", j->state), PAI_JF_STR("subState", j->sub_state),
        PAI_JF_STR("executionType", j->execution_type), PAI_JF_INT("retries", j->retries),
        PAI_JF_INT("createdTime", j->created), PAI_JF_MS("completedTime", j->completed),
        {"appExitCode", NULL, j->exit_code, !j->has_exit},
        PAI_JF_STR("virtualCluster", j->vc),
    };
    memcpy(f, s, sizeof(s));
}

static json_t *job_summary(const pai_job_row *j)
{
    pai_json_field f[JOB_SUMMARY_N];
    json_t *o = json_object();
    job_summary_fields(j, f);
    pai_json_fields_set(o, f, JOB_SUMMARY_N);
    return o;
}

void pai_job_list_write(pai_jsonw *w, const apr_array_header_t *rows)
{
    pai_json_field f[JOB_SUMMARY_N];
    int i;

    pai_jsonw_open(w, '[');
    for (i = 0; i < rows->nelts; i++) {
        job_summary_fields(APR_ARRAY_IDX(rows, i, const pai_job_row *), f);
        pai_jsonw_open(w, '{');
        pai_jsonw_fields(w, f, JOB_SUMMARY_N);
        pai_jsonw_close(w, '}');
    }
    pai_jsonw_close(w, ']');
}

static int job_finished(const pai_job_row *j)
{
    return !job_is_active(j) && strcmp(j->state, "UNKNOWN");
}

/* The address of each task's node, in job-wide task order: the attempt's
 * placement picks it from the job's nodes; "" while nothing runs. */
static const char **job_task_hosts(apr_pool_t *p, const pai_job_row *j, const pai_jobspec *spec)
{
    const char **out = apr_pcalloc(p, sizeof(*out) * (spec->total_tasks ? spec->total_tasks : 1));
    int *slot = pai_placement_slots_parse(p, j->placement, spec->total_tasks);
    apr_array_header_t *hosts = apr_array_make(p, 4, sizeof(const char *));
    char *list = apr_pstrdup(p, j->hosts ? j->hosts : ""), *last, *h;
    int k;

    for (h = apr_strtok(list, ",", &last); h; h = apr_strtok(NULL, ",", &last))
        APR_ARRAY_PUSH(hosts, const char *) = h;
    for (k = 0; k < spec->total_tasks; k++) {
        int n = slot ? slot[k] : 0;
        out[k] = n < hosts->nelts ? APR_ARRAY_IDX(hosts, n, const char *) : j->host;
    }
    return out;
}

/* v1.8's appExit* fields of an ended attempt: its exit spec and the task
 * that failed first.  j->exit_why NULL: read from the attempt's history. */
static pai_error *job_exit_fields(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                                  json_t *st)
{
    const pai_exit_spec *x = NULL;
    const char *task, *dash;
    pai_error *e;

    if (job_finished(j)) {
        if (!j->exit_why && (e = pai_store_job_attempt_exit(env->db, p, j)))
            return e;
        x = pai_exit_classify(j->state, j->sub_state, j->has_exit, j->exit_code, j->exit_why,
                              !strcmp(j->exit_why, "stop") || !strcmp(j->execution_type, "STOP"));
    }
    /* "-": the batch script refused the folder before any task ran. */
    task = x && j->exit_task && *j->exit_task && strcmp(j->exit_task, "-") ? j->exit_task : NULL;
    dash = task ? strrchr(task, '-') : NULL;
    json_object_set_new(st, "appExitSpec", pai_exit_spec_json(x, j->exit_code));
    json_object_set_new(st, "appExitTriggerMessage",
                        x && x->code != 0 && j->diagnostics ? json_string(j->diagnostics)
                                                            : json_null());
    json_object_set_new(st, "appExitTriggerTaskRoleName",
                        dash ? json_stringn(task, (size_t)(dash - task)) : json_null());
    json_object_set_new(st, "appExitTriggerTaskIndex",
                        dash ? json_integer(atoi(dash + 1)) : json_null());
    return NULL;
}

/* v1.8's retryDetails: retries after platform failures apart from the
 * others (a retry after the user's failure, or a START). */
#define JOB_RETRY_N 3
static void job_retry_fields(const pai_job_row *j, pai_json_field *f)
{
    const pai_json_field s[JOB_RETRY_N] = {
        PAI_JF_INT("user", j->retries - j->platform_retries),
        PAI_JF_INT("platform", j->platform_retries), PAI_JF_INT("resource", 0),
    };
    memcpy(f, s, sizeof(s));
}

static json_t *job_retry_details(const pai_job_row *j)
{
    pai_json_field f[JOB_RETRY_N];
    json_t *o = json_object();
    job_retry_fields(j, f);
    pai_json_fields_set(o, f, JOB_RETRY_N);
    return o;
}

/* A task as v1.8 shows it beside its container: its state, its node, times
 * and exit, as the task reported them (POST .../tasks/report); a task that
 * did not report reads as its job. */
static void job_task_fields(apr_pool_t *p, const pai_job_row *j, const pai_task_status *t,
                            json_t *o)
{
    const char *state;
    const pai_exit_spec *x = NULL;

    if (t && t->has_exit) {
        /* A task the completion rule or a STOP ended (TERM) stopped; others
         * succeeded or failed. */
        state = t->exit_code == 0 ? "SUCCEEDED"
              : !strcmp(t->exit_why, "ended") ||
                (!strcmp(j->state, "STOPPED") && t->exit_code == 143) ? "STOPPED" : "FAILED";
        x = pai_exit_classify(state, "", 1, t->exit_code,
                              t->exit_code ? t->exit_why : "", !strcmp(state, "STOPPED"));
    }
    else if (job_is_active(j))
        state = t && t->launched ? "RUNNING" : "WAITING";
    else
        state = j->state;
    pai_json_set_str(o, "taskState", state);
    pai_json_set_int(o, "retries", 0);
    pai_json_set_int(o, "accountableRetries", 0);
    json_object_set_new(o, "createdTime", ms_or_null(j->submitted));
    json_object_set_new(o, "launchedTime", ms_or_null(t ? t->launched : 0));
    json_object_set_new(o, "completedTime", ms_or_null(t ? t->completed : 0));
    json_object_set_new(o, "containerNodeName",
                        t && t->node && *t->node ? json_string(t->node) : json_null());
    json_object_set_new(o, "containerExitCode",
                        t && t->has_exit ? json_integer(t->exit_code) : json_null());
    json_object_set_new(o, "containerExitSpec", pai_exit_spec_json(x, t ? t->exit_code : 0));
    json_object_set_new(o, "containerExitDiagnostics",
                        t && t->has_exit && t->exit_code
                        ? json_string(pai_exit_why_text(p, *t->exit_why ? t->exit_why
                                      : apr_psprintf(p, "exit%d", t->exit_code), NULL))
                        : json_null());
}

static pai_error *job_status_json(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                                  json_t **out)
{
    pai_jobspec *spec;
    json_t *st, *roles, *top;
    apr_hash_t *reported;
    const char **task_host;
    pai_error *e;
    int r, t, i, k;

    if ((e = pai_admit_spec_of(env, p, j, &spec)) ||
        (e = pai_store_task_statuses(env->db, p, j->name, j->created, j->retries, &reported)))
        return e;
    task_host = job_task_hosts(p, j, spec);
    st = job_summary(j);
    json_object_set_new(st, "appId", j->launcher_id
                        ? json_string(apr_psprintf(p, "%" APR_INT64_T_FMT, j->launcher_id))
                        : json_null());
    json_object_set_new(st, "appProgress", json_integer(job_finished(j) ? 1 : 0));
    pai_json_set_str(st, "appTrackingUrl", "");
    json_object_set_new(st, "appLaunchedTime", ms_or_null(j->launched));
    json_object_set_new(st, "appCompletedTime", ms_or_null(j->completed));
    pai_json_set_str(st, "appExitDiagnostics", j->diagnostics);
    json_object_set_new(st, "appExitType", job_finished(j) ? json_string(j->state) : json_null());
    if ((e = job_exit_fields(env, p, j, st))) {
        json_decref(st);
        return e;
    }

    roles = json_object();
    for (r = 0; r < spec->roles->nelts; r++) {
        const pai_task_role *tr = &APR_ARRAY_IDX(spec->roles, r, pai_task_role);
        json_t *tasks = json_array();
        for (t = 0; t < tr->task_number; t++) {
            json_t *ports = json_object();
            for (i = 0; i < tr->ports->nelts; i++) {
                const pai_port_spec *ps = &APR_ARRAY_IDX(tr->ports, i, pai_port_spec);
                apr_array_header_t *list = apr_array_make(p, ps->count, sizeof(const char *));
                for (k = 0; k < ps->count; k++)
                    APR_ARRAY_PUSH(list, const char *) =
                        apr_itoa(p, pai_task_port(spec, j->port_base, r, t, i, k));
                pai_json_set_str(ports, ps->label, apr_array_pstrcat(p, list, ','));
            }
            json_t *task = json_pack(
                "{s:i, s:s, s:o, s:o, s:i, s:s}",
                "taskIndex", t,
                "containerId", apr_psprintf(p, "%s-%d-%s-%d", j->name, j->retries, tr->name, t),
                "containerIp", *task_host[tr->first_task + t]
                               ? json_string(task_host[tr->first_task + t]) : json_null(),
                "containerPorts", ports,
                "containerGpus", tr->gpu_number,
                /* The task's log list on this server (its owner reads it). */
                "containerLog", apr_psprintf(p, "%s/api/v2/jobs/%s~%s/attempts/%d/taskRoles/%s"
                                             "/taskIndex/%d/attempts/0/logs",
                                             env->public_url ? env->public_url : "",
                                             j->username, j->name, j->retries, tr->name, t));
            job_task_fields(p, j, apr_hash_get(reported, apr_psprintf(p, "%s-%d", tr->name, t),
                                               APR_HASH_KEY_STRING), task);
            json_array_append_new(tasks, task);
        }
        json_object_set_new(roles, tr->name, json_pack("{s:{s:s}, s:o}", "taskRoleStatus",
                                                       "name", tr->name, "taskStatuses", tasks));
    }
    /* The seed's flat fields, and OpenPAI v0.7's jobStatus/taskRoles beside them. */
    top = pai_json_pool(p, json_deep_copy(st));
    json_object_set_new(top, "jobStatus", st);
    json_object_set_new(top, "taskRoles", roles);
    *out = top;
    return NULL;
}

/* A waiting job's "pending" object (NULL when it does not wait): held in
 * its VC's queue, or in Slurm for Slurm's reason. */
static pai_error *job_pending(const pai_jobs_env *env, apr_pool_t *p, const pai_job_row *j,
                              json_t **out)
{
    apr_array_header_t *queued, *vcs;
    apr_int64_t expected = 0;
    pai_demand need, room;
    pai_capacity cluster;
    apr_hash_t *usage;
    const char *code = "None";
    pai_error *e;
    int i, position = 1;

    *out = NULL;
    if (strcmp(j->state, "WAITING"))
        return NULL;
    if (!strcmp(j->sub_state, "QUEUED")) {
        if ((e = pai_store_job_list_queued(env->db, p, &queued)) ||
            (e = pai_admit_usage(env, p, &usage)) || (e = pai_store_vc_list(env->db, p, &vcs)) ||
            (e = pai_admit_capacity(env, p, &cluster)))
            return e;
        for (i = 0; i < queued->nelts; i++) {
            const pai_job_row *q = APR_ARRAY_IDX(queued, i, const pai_job_row *);
            if (!strcmp(q->name, j->name))
                break;
            position += !strcmp(q->vc, j->vc);
        }
        need.cpus = j->cpus;
        need.memory_mb = j->memory_mb;
        need.gpus = j->gpus;
        pai_vc_headroom(&cluster, vcs, usage, j->vc, &room);
        *out = pai_pending_vc(p, j->vc, position, &need, &room);
        return NULL;
    }
    /* In Slurm: the launcher's reason is the diagnostics' "PENDING: <reason>". */
    if (!strcmp(j->sub_state, "PENDING") && !strncmp(j->diagnostics, "PENDING: ", 9))
        code = j->diagnostics + 9;
    if ((e = pai_store_job_wait_get(env->db, p, j->name, j->created, &expected)))
        return e;
    *out = pai_pending_slurm(p, code, expected);
    return NULL;
}

pai_error *pai_job_events_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                               const char *type, json_t **out)
{
    apr_array_header_t *events;
    pai_job_row *j;
    pai_error *e;

    if ((e = job_find(env, p, name, &j)) ||
        (e = pai_store_job_events(env->db, p, j->name, j->created, &events)))
        return e;
    *out = pai_json_pool(p, pai_event_list_json(p, j->username, j->name, events, type));
    return NULL;
}

pai_error *pai_job_status_text(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                               const char **text)
{
    pai_job_row *j;
    json_t *o;
    pai_error *e;
    const char *key;

    json_t *pending;

    if ((e = job_find(env, p, name, &j)))
        return e;
    /* A waiting job's view also depends on other jobs (its place in the
     * queue): it is made fresh. */
    if (!strcmp(j->state, "WAITING")) {
        if ((e = job_status_json(env, p, j, &o)) || (e = job_pending(env, p, j, &pending)))
            return e;
        json_object_set_new(o, "pending", pending ? pending : json_null());
        *text = pai_json_dump(p, o);
        return NULL;
    }
    /* The row's version moves with every write; its creation time tells a
     * job from an earlier one of the same name. */
    key = apr_psprintf(p, "%s@%" APR_INT64_T_FMT, j->name, j->created);
    if ((*text = pai_view_cache_get(env->views, p, key, j->version, 0, NULL)))
        return NULL;
    if ((e = job_status_json(env, p, j, &o)))
        return e;
    json_object_set_new(o, "pending", json_null());
    *text = pai_json_dump(p, o);
    pai_view_cache_put(env->views, key, j->version, 0, *text, strlen(*text));
    return NULL;
}

pai_error *pai_job_config_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                               json_t **out)
{
    pai_job_row *j;
    pai_error *e;

    if ((e = job_find(env, p, name, &j)))
        return e;
    *out = pai_json_parse(p, j->config, strlen(j->config), &e);
    return *out ? NULL : pai_error_make(p, PAI_ERR_INTERNAL, "stored config of %s is unreadable",
                                        name);
}

pai_error *pai_job_ssh_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                            const char *base_url, json_t **out)
{
    apr_array_header_t *eps;
    pai_job_row *j;
    pai_error *e;
    json_t *containers, *o;
    int i;

    if ((e = job_find(env, p, name, &j)))
        return e;
    containers = json_array();
    /* Only a running attempt's tasks have an sshd to reach. */
    if (!strcmp(j->state, "RUNNING") &&
        !pai_store_ssh_endpoints(env->db, p, name, j->retries, &eps)) {
        for (i = 0; i < eps->nelts; i++) {
            const pai_ssh_endpoint *ep = &APR_ARRAY_IDX(eps, i, pai_ssh_endpoint);
            const char *fp = *ep->host_key ? pai_ssh_host_key_fingerprint(p, ep->host_key) : NULL;
            json_t *c = json_pack("{s:s, s:s, s:s}",
                "id", apr_psprintf(p, "%s-%d-%s-%d", name, j->retries, ep->role, ep->index),
                "sshIp", ep->ip, "sshPort", apr_itoa(p, ep->port));
            /* The task's host key as the task reported it: a client checks
             * whom it reaches (ssh -o UserKnownHostsFile with this line). */
            if (fp) {
                pai_json_set_str(c, "hostKey", ep->host_key);
                pai_json_set_str(c, "hostKeyFingerprint", fp);
                pai_json_set_str(c, "knownHosts", apr_psprintf(p, "[%s]:%d %s", ep->ip, ep->port,
                                                               ep->host_key));
            }
            json_array_append_new(containers, c);
        }
    }
    o = json_pack("{s:o, s:{s:s, s:s, s:s, s:s}, s:s}",
        "containers", containers,
        "keyPair",
        "folderPath", apr_pstrcat(p, "/api/v1/jobs/", name, "/ssh", NULL),
        "publicKeyFileName", apr_pstrcat(p, name, ".pub", NULL),
        "privateKeyFileName", name,
        "privateKeyDirectDownloadLink", apr_pstrcat(p, base_url, "/api/v1/jobs/", name,
                                                    "/ssh/key", NULL),
        "username", job_account(env, j) ? job_account(env, j) : "");
    *out = pai_json_pool(p, o);
    return NULL;
}

pai_error *pai_job_of_user(const pai_jobs_env *env, apr_pool_t *p, const char *username,
                           const char *name)
{
    pai_job_row *j;
    pai_error *e;

    if ((e = job_find(env, p, name, &j)))
        return e;
    if (strcmp(j->username, username))
        return pai_error_make(p, PAI_ERR_JOB_NOT_FOUND, "could not find job %s of user %s",
                              name, username);
    return NULL;
}

pai_error *pai_job_owner_check(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                               const char *name)
{
    pai_job_row *j;
    pai_error *e;

    if ((e = job_find(env, p, name, &j)))
        return e;
    if (!job_owned_by(who, j))
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "User %s is not allowed to read job %s: "
                              "only its owner and admins may here.",
                              who->username ? who->username : "guest", name);
    return NULL;
}

pai_error *pai_job_ssh_key(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                           const char *name, const char **key)
{
    const char *pub, *secret;
    pai_job_row *j;
    pai_error *e;

    if ((e = job_find(env, p, name, &j)))
        return e;
    if (!job_owned_by(who, j))
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "User %s is not allowed to read the key of "
                              "job %s.", who->username, name);
    if ((e = pai_store_ssh_keys_get(env->db, p, name, key, &pub, &secret)))
        return e;
    return *key ? NULL : pai_error_make(p, PAI_ERR_JOB_NOT_FOUND, "job %s has no SSH key", name);
}

/* A task's report: its job, when the secret is the current attempt's. */
static pai_error *job_report_find(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                                  const char *secret, pai_job_row **j)
{
    const char *priv, *pub, *want;
    pai_error *e;

    if ((e = job_find(env, p, name, j)) ||
        (e = pai_store_ssh_keys_get(env->db, p, name, &priv, &pub, &want)))
        return e;
    if (!want || !secret || !pai_secret_equal(want, secret))
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "wrong secret for job %s", name);
    return NULL;
}

/* The task's role, when the job has a task role-index. */
static const pai_task_role *job_report_role(const pai_jobspec *spec, const char *role,
                                            json_int_t index)
{
    int r;
    for (r = 0; r < spec->roles->nelts; r++) {
        const pai_task_role *tr = &APR_ARRAY_IDX(spec->roles, r, pai_task_role);
        if (!strcmp(tr->name, role) && index >= 0 && index < tr->task_number)
            return tr;
    }
    return NULL;
}

pai_error *pai_job_task_report(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                               const char *secret, const json_t *body, apr_int64_t now_ms)
{
    static const char *const fields[] = {"attempt", "taskRole", "taskIndex", "event", "node",
                                         "exitCode", "why", NULL};
    const char *event, *c;
    json_int_t attempt, index, code = 0;
    pai_task_status t;
    pai_jobspec *spec;
    pai_job_row *j;
    pai_error *e;
    int has_code = 0;

    memset(&t, 0, sizeof(t));
    if ((e = job_report_find(env, p, name, secret, &j)) ||
        (e = pai_field_only(p, body, NULL, fields)) ||
        (e = pai_field_int(p, body, NULL, "attempt", 1, 0, &attempt, NULL)) ||
        (e = pai_field_str(p, body, NULL, "taskRole", 1, &t.role)) ||
        (e = pai_field_int(p, body, NULL, "taskIndex", 1, 0, &index, NULL)) ||
        (e = pai_field_str(p, body, NULL, "event", 1, &event)) ||
        (e = pai_field_str(p, body, NULL, "node", 0, &t.node)) ||
        (e = pai_field_int(p, body, NULL, "exitCode", 0, 0, &code, &has_code)) ||
        (e = pai_field_str(p, body, NULL, "why", 0, &t.exit_why)) ||
        (e = pai_admit_spec_of(env, p, j, &spec)))
        return e;
    /* A host name, and one short word (they go into the job's detail). */
    for (c = t.node ? t.node : ""; *c; c++)
        if (!apr_isalnum(*c) && !strchr(".-_", *c))
            break;
    if (*c || (t.node && strlen(t.node) > 255))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'node' is not a host name");
    for (c = t.exit_why ? t.exit_why : ""; *c; c++)
        if (!apr_islower(*c) && !apr_isdigit(*c) && *c != '-')
            break;
    if (*c || (t.exit_why && strlen(t.exit_why) > 32))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'why' is not a word of [a-z0-9-]");
    /* The secret is the attempt's own: a report of another attempt is stale. */
    if (attempt != j->retries)
        return pai_error_make(p, PAI_ERR_INVALID, "attempt %" APR_INT64_T_FMT " of job %s is "
                              "not its current one", (apr_int64_t)attempt, name);
    if (!job_report_role(spec, t.role, index))
        return pai_error_make(p, PAI_ERR_INVALID, "job %s has no task %s-%" APR_INT64_T_FMT,
                              name, t.role, (apr_int64_t)index);
    t.index = (int)index;
    if (!strcmp(event, "started"))
        t.launched = now_ms;
    else if (!strcmp(event, "exited")) {
        if (!has_code || code < 0 || code > 255)
            return pai_error_make(p, PAI_ERR_INVALID, "field 'exitCode' (0 to 255) is required "
                                  "when a task exited");
        t.completed = now_ms;
        t.has_exit = 1;
        t.exit_code = (int)code;
    }
    else
        return pai_error_make(p, PAI_ERR_INVALID, "field 'event' must be started or exited");
    if ((e = pai_store_task_report(env->db, p, j, &t)))
        return e;
    if (t.has_exit)
        pai_event_record(env->db, p, j, t.role, t.index,
                         t.exit_code ? PAI_EVENT_WARNING : PAI_EVENT_NORMAL,
                         t.exit_code ? "TaskFailed" : "TaskSucceeded", "task", now_ms,
                         "task %s-%d exited with code %d%s%s%s", t.role, t.index, t.exit_code,
                         t.exit_code ? ": " : "",
                         t.exit_code ? pai_exit_why_text(p, t.exit_why && *t.exit_why
                                                         ? t.exit_why
                                                         : apr_psprintf(p, "exit%d",
                                                                        t.exit_code), NULL)
                                     : "",
                         t.node ? apr_pstrcat(p, " on ", t.node, NULL) : "");
    return NULL;
}

pai_error *pai_job_ssh_report(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                              const char *secret, const json_t *body)
{
    static const char *const fields[] = {"attempt", "taskRole", "taskIndex", "ip", "port",
                                         "hostKey", NULL};
    const char *c;
    pai_ssh_endpoint ep;
    json_int_t attempt, index, port;
    pai_jobspec *spec;
    pai_job_row *j;
    pai_error *e;

    if ((e = job_report_find(env, p, name, secret, &j)) ||
        (e = pai_field_only(p, body, NULL, fields)) ||
        (e = pai_field_int(p, body, NULL, "attempt", 1, 0, &attempt, NULL)) ||
        (e = pai_field_str(p, body, NULL, "taskRole", 1, &ep.role)) ||
        (e = pai_field_int(p, body, NULL, "taskIndex", 1, 0, &index, NULL)) ||
        (e = pai_field_str(p, body, NULL, "ip", 1, &ep.ip)) ||
        (e = pai_field_int(p, body, NULL, "port", 1, 0, &port, NULL)) ||
        (e = pai_field_str(p, body, NULL, "hostKey", 0, &ep.host_key)) ||
        (e = pai_admit_spec_of(env, p, j, &spec)))
        return e;
    if (ep.host_key && !pai_ssh_host_key_fingerprint(p, ep.host_key))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'hostKey' is not an SSH public key");
    for (c = ep.ip; *c; c++)
        if (!strchr("0123456789abcdefABCDEF.:", *c))
            break;
    if (*c || !*ep.ip || strlen(ep.ip) > 45 || port < 1 || port > 65535)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'ip' or 'port' is not an address");
    if (attempt != j->retries || !job_is_active(j))
        return pai_error_make(p, PAI_ERR_INVALID, "attempt %" APR_INT64_T_FMT " of job %s is "
                              "not running", (apr_int64_t)attempt, name);
    if (!job_report_role(spec, ep.role, index))
        return pai_error_make(p, PAI_ERR_INVALID, "job %s has no task %s-%" APR_INT64_T_FMT,
                              name, ep.role, (apr_int64_t)index);
    ep.index = (int)index;
    ep.port = (int)port;
    return pai_store_ssh_endpoint_put(env->db, p, name, (int)attempt, &ep);
}

pai_error *pai_vc_sku_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                           json_t **out)
{
    pai_capacity c;
    pai_vc *vc = NULL;
    pai_error *e;

    if (name && (e = pai_store_vc_get(env->db, p, name, &vc)))
        return e;
    if (name && !vc)
        return pai_error_make(p, PAI_ERR_NO_VC_SUBMIT, "Vc %s not found", name);
    /* Every VC is a share of every node: each has all the cluster's types. */
    if ((e = pai_admit_capacity(env, p, &c)))
        return e;
    *out = pai_json_pool(p, pai_vc_sku_types(&c));
    return NULL;
}

pai_error *pai_vc_status_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                              int v2, json_t **out)
{
    static const pai_vc_usage none;
    apr_array_header_t *vcs;
    apr_hash_t *usage;
    pai_capacity c;
    pai_error *e;
    json_t *all;
    int i;

    if ((e = pai_store_vc_list(env->db, p, &vcs)) || (e = pai_admit_usage(env, p, &usage)))
        return e;
    /* Without a known cluster size the shares read 0, rather than no answer. */
    if (pai_admit_capacity(env, p, &c))
        memset(&c, 0, sizeof(c));
    all = pai_json_pool(p, json_object());
    for (i = 0; i < vcs->nelts; i++) {
        const pai_vc *vc = &APR_ARRAY_IDX(vcs, i, pai_vc);
        const pai_vc_usage *u = apr_hash_get(usage, vc->name, APR_HASH_KEY_STRING);
        json_t *v = (v2 ? pai_vc_view_v2 : pai_vc_view)(&c, vc, u ? u : &none);
        if (name && !strcmp(name, vc->name)) {
            *out = pai_json_pool(p, v);
            return NULL;
        }
        json_object_set_new(all, vc->name, v);
    }
    if (name)
        return v2 ? pai_error_make(p, PAI_ERR_NO_VC_SUBMIT, "Vc %s not found", name)
                  : pai_error_make(p, PAI_ERR_VC_NOT_FOUND, "could not find virtual cluster %s",
                                   name);
    *out = all;
    return NULL;
}

/* ---- /api/v2 views (OpenPAI v1.8's shapes) --------------------------------- */

/* A v1.8 list item: the summary, then v1.8's own fields. */
static void job_item_v2_write(pai_jsonw *w, const pai_job_row *j)
{
    pai_json_field f[JOB_SUMMARY_N];
    const pai_json_field tail[] = {
        PAI_JF_INT("submissionTime", j->created), PAI_JF_MS("launchedTime", j->launched),
        PAI_JF_INT("totalGpuNumber", j->gpus), PAI_JF_INT("totalTaskNumber", j->tasks),
        PAI_JF_INT("totalTaskRoleNumber", j->roles), PAI_JF_STR("jobPriority", "default"),
    };
    int i;

    job_summary_fields(j, f);
    pai_jsonw_open(w, '{');
    pai_jsonw_fields(w, f, JOB_SUMMARY_N);
    pai_jsonw_key(w, "debugId");
    pai_jsonw_str(w, j->name);
    pai_jsonw_key(w, "tags");
    pai_jsonw_open(w, '[');
    for (i = 0; j->tags && i < j->tags->nelts; i++)
        pai_jsonw_str(w, APR_ARRAY_IDX(j->tags, i, const char *));
    pai_jsonw_close(w, ']');
    pai_jsonw_key(w, "retryDetails");
    job_retry_fields(j, f);
    pai_jsonw_open(w, '{');
    pai_jsonw_fields(w, f, JOB_RETRY_N);
    pai_jsonw_close(w, '}');
    pai_jsonw_fields(w, tail, (int)(sizeof(tail) / sizeof(*tail)));
    pai_jsonw_close(w, '}');
}

/* A keyset cursor: "k1|<order>|<a|d>|<value>|<name>" in base64url.  Nothing
 * in it is a secret; it is checked as any input when it comes back. */
#define CURSOR_TAG "k1"

static const char *job_order_value(apr_pool_t *p, const char *order, const pai_job_row *j)
{
    if (!strcmp(order, "name")) return j->name;
    if (!strcmp(order, "username")) return j->username;
    if (!strcmp(order, "vc")) return j->vc;
    if (!strcmp(order, "state")) return j->state;
    if (!strcmp(order, "retries")) return apr_itoa(p, j->retries);
    if (!strcmp(order, "gpus")) return apr_psprintf(p, "%" APR_INT64_T_FMT, j->gpus);
    if (!strcmp(order, "tasks")) return apr_itoa(p, j->tasks);
    if (!strcmp(order, "completed")) return apr_psprintf(p, "%" APR_INT64_T_FMT, j->completed);
    return apr_psprintf(p, "%" APR_INT64_T_FMT, j->created);
}

static const char *job_cursor(apr_pool_t *p, const pai_job_query *q, const pai_job_row *last)
{
    const char *order = q->order ? q->order : "created";
    const char *raw = apr_pstrcat(p, CURSOR_TAG "|", order, q->descending ? "|d|" : "|a|",
                                  job_order_value(p, order, last), "|", last->name, NULL);
    char *out = apr_palloc(p, apr_base64_encode_len((int)strlen(raw)));
    char *c;
    apr_base64_encode(out, raw, (int)strlen(raw));
    for (c = out; *c; c++)          /* base64url, without padding */
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    if ((c = strchr(out, '=')))
        *c = '\0';
    return out;
}

pai_error *pai_job_cursor_read(apr_pool_t *p, const char *cursor, pai_job_query *q)
{
    const char *order = q->order ? q->order : "created";
    size_t len = strlen(cursor), i;
    char *b64, *raw, *f[5], *last;
    int n;

    if (len == 0 || len > 1024 || strspn(cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                 "0123456789-_") != len)
        goto bad;
    b64 = apr_palloc(p, len + 4);
    for (i = 0; i < len; i++)
        b64[i] = cursor[i] == '-' ? '+' : cursor[i] == '_' ? '/' : cursor[i];
    while (i % 4)
        b64[i++] = '=';
    b64[i] = '\0';
    raw = apr_palloc(p, apr_base64_decode_len(b64) + 1);
    n = apr_base64_decode(raw, b64);
    raw[n] = '\0';
    if ((int)strlen(raw) != n)
        goto bad;
    f[0] = apr_strtok(raw, "|", &last);
    for (i = 1; i < 5; i++)
        f[i] = apr_strtok(NULL, "|", &last);
    if (!f[4] || apr_strtok(NULL, "|", &last) || strcmp(f[0], CURSOR_TAG))
        goto bad;
    if (strcmp(f[1], order) || strcmp(f[2], q->descending ? "d" : "a"))
        return pai_error_make(p, PAI_ERR_INVALID, "parameter 'after' is a cursor of another "
                              "order; ask with the order it came with");
    if (!pai_job_name_valid(f[4]))
        goto bad;
    if (!strcmp(order, "name") ? !pai_job_name_valid(f[3])
        : !strcmp(order, "username") || !strcmp(order, "vc") || !strcmp(order, "state")
        ? !pai_username_valid(f[3])
        : strspn(f[3], "-0123456789") != strlen(f[3]))
        goto bad;
    q->after_value = f[3];
    q->after_name = f[4];
    return NULL;
bad:
    return pai_error_make(p, PAI_ERR_INVALID, "parameter 'after' is not a cursor this server "
                          "gave");
}

pai_error *pai_job_query_page(const pai_jobs_env *env, apr_pool_t *p, const pai_job_query *q,
                              int with_total, int keyset, pai_job_page **out)
{
    pai_job_page *pg = apr_pcalloc(p, sizeof(*pg));
    pai_error *e;

    if ((e = pai_store_job_query(env->db, p, q, &pg->rows, with_total ? &pg->total : NULL)))
        return e;
    pg->with_total = with_total;
    pg->keyset = keyset;
    /* A full page may have more after it; a short one is the last. */
    if (keyset && pg->rows->nelts == q->limit && pg->rows->nelts > 0)
        pg->next = job_cursor(p, q, APR_ARRAY_IDX(pg->rows, pg->rows->nelts - 1, pai_job_row *));
    *out = pg;
    return NULL;
}

void pai_job_page_write(pai_jsonw *w, const pai_job_page *pg)
{
    int i, wrapped = pg->with_total || pg->keyset;

    if (wrapped) {
        pai_jsonw_open(w, '{');
        pai_jsonw_key(w, "data");
    }
    pai_jsonw_open(w, '[');
    for (i = 0; i < pg->rows->nelts; i++)
        job_item_v2_write(w, APR_ARRAY_IDX(pg->rows, i, const pai_job_row *));
    pai_jsonw_close(w, ']');
    if (pg->with_total) {
        pai_jsonw_key(w, "totalCount");
        pai_jsonw_int(w, pg->total);
    }
    if (pg->keyset) {
        pai_jsonw_key(w, "next");
        pai_jsonw_str(w, pg->next);
    }
    if (wrapped)
        pai_jsonw_close(w, '}');
}

/* The job j as it was in its attempt a: the job's own fields, the attempt's
 * state, exit, times and placement. */
static void job_at_attempt(const pai_job_row *j, const pai_job_row *a, pai_job_row *at)
{
    *at = *j;
    at->retries = a->retries; at->state = a->state; at->sub_state = a->sub_state;
    at->has_exit = a->has_exit; at->exit_code = a->exit_code; at->diagnostics = a->diagnostics;
    at->submitted = a->submitted; at->launched = a->launched; at->completed = a->completed;
    at->launcher_id = a->launcher_id; at->port_base = a->port_base; at->host = a->host;
    at->hosts = a->hosts; at->placement = a->placement;
    at->exit_task = a->exit_task; at->exit_why = a->exit_why;
    /* An earlier attempt was followed by a START or a retry: the job's STOP
     * now is not its end. */
    if (a->retries != j->retries)
        at->execution_type = "START";
}

/* The attempt `index` (< 0: the current one) of the job row j as *at; 404
 * when it has no such attempt. */
static pai_error *job_attempt_of(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                                 int index, pai_job_row *at)
{
    const char *name = j->name;
    apr_array_header_t *att;
    pai_error *e;
    int i;

    if (index < 0 || index == j->retries) {
        *at = *j;
        return NULL;
    }
    if ((e = pai_store_job_attempts(env->db, p, name, j->created, &att)))
        return e;
    for (i = 0; i < att->nelts; i++)
        if (APR_ARRAY_IDX(att, i, pai_job_row *)->retries == index) {
            job_at_attempt(j, APR_ARRAY_IDX(att, i, pai_job_row *), at);
            return NULL;
        }
    return pai_error_make(p, PAI_ERR_JOB_NOT_FOUND, "Job attempt not found in job %s with "
                          "jobAttemptIndex %d", name, index);
}

/* The same, for the job of that name. */
static pai_error *job_find_attempt(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                                   int index, pai_job_row *at)
{
    pai_job_row *j;
    pai_error *e = job_find(env, p, name, &j);
    return e ? e : job_attempt_of(env, p, j, index, at);
}

pai_error *pai_job_detail_v2(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                             int attempt, json_t **out)
{
    apr_array_header_t *tag_list;
    pai_job_row at, *j = &at;
    json_t *top, *st, *tags, *pending;
    pai_error *e;
    int i;

    /* (An earlier attempt's row has ended: it is not pending.) */
    if ((e = job_find_attempt(env, p, name, attempt, &at)) ||
        (e = job_status_json(env, p, j, &top)) ||
        (e = pai_store_job_tags(env->db, p, name, &tag_list)) ||
        (e = job_pending(env, p, j, &pending)))
        return e;
    tags = json_array();
    for (i = 0; i < tag_list->nelts; i++)
        json_array_append_new(tags, json_string(APR_ARRAY_IDX(tag_list, i, const char *)));
    st = json_object_get(top, "jobStatus");
    json_object_set_new(st, "retryDetails", job_retry_details(j));
    pai_json_set_int(st, "submissionTime", j->created);
    pai_json_set_int(st, "attemptId", j->retries);
    pai_json_set_str(st, "attemptState", j->state);
    *out = pai_json_pool(p, json_pack("{s:s, s:s, s:s, s:O, s:O, s:o, s:s, s:o}", "name",
                                      j->name, "frameworkName",
                                      apr_pstrcat(p, j->username, "~", j->name, NULL),
                                      "debugId", j->name, "jobStatus", st, "taskRoles",
                                      json_object_get(top, "taskRoles"), "tags", tags,
                                      "jobPriority", "default", "pending",
                                      pending ? pending : json_null()));
    return NULL;
}

pai_error *pai_job_protocol_text(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                                 const char **yaml)
{
    const char *kept;
    pai_job_row *j;
    pai_error *e;
    json_t *doc;

    if ((e = job_find(env, p, name, &j)) ||
        (e = pai_store_job_protocol(env->db, p, name, &kept)))
        return e;
    /* A v1 job has no protocol: its config, which YAML readers read too. */
    if (!kept || !*kept)
        kept = j->config;
    if (!(doc = pai_json_parse(p, kept, strlen(kept), &e)) || !(*yaml = pai_yaml_dump(p, doc)))
        return pai_error_make(p, PAI_ERR_INTERNAL, "stored config of %s is unreadable", name);
    return NULL;
}

pai_error *pai_job_tag(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                       const char *name, const char *tag, int add)
{
    pai_job_row *j;
    pai_error *e;

    if ((e = job_find(env, p, name, &j)))
        return e;
    if (!job_owned_by(who, j))
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "User %s is not allowed to %s job %s.",
                              who->username, add ? "add tag to" : "delete tag from", name);
    if (!*tag || strlen(tag) > 256 || strchr(tag, ','))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'value' must be 1 to 256 characters "
                              "without ','");
    return add ? pai_store_job_tag_add(env->db, p, name, tag)
               : pai_store_job_tag_delete(env->db, p, name, tag);
}

/* One attempt as v1.8's job history shows it, its tasks as they were placed. */
static pai_error *job_attempt_json(const pai_jobs_env *env, apr_pool_t *p, const pai_job_row *j,
                                   const pai_job_row *a, int latest, json_t **out)
{
    pai_job_row at;
    json_t *top, *o;
    pai_error *e;

    job_at_attempt(j, a, &at);
    if ((e = job_status_json(env, p, &at, &top)))
        return e;
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:o, s:o, s:o, s:s, s:I, s:i, s:i,"
                  " s:O, s:b}",
                  "jobName", j->name, "frameworkName",
                  apr_pstrcat(p, j->username, "~", j->name, NULL), "userName", j->username,
                  "state", a->state, "originState", a->sub_state, "attemptIndex", a->retries,
                  "jobStartedTime", (json_int_t)j->created,
                  "attemptStartedTime", ms_or_null(a->launched),
                  "attemptCompletedTime", ms_or_null(a->completed),
                  "exitCode", a->has_exit ? json_integer(a->exit_code) : json_null(),
                  "appExitDiagnostics", a->diagnostics,
                  "totalGpuNumber", (json_int_t)j->gpus, "totalTaskNumber", j->tasks,
                  "totalTaskRoleNumber", j->roles,
                  "taskRoles", json_object_get(top, "taskRoles"), "isLatest", latest);
    {
        static const char *const exit_keys[] = {"appExitSpec", "appExitTriggerMessage",
                                                "appExitTriggerTaskRoleName",
                                                "appExitTriggerTaskIndex", NULL};
        json_t *spec = json_object_get(top, "appExitSpec");
        int k;
        for (k = 0; exit_keys[k]; k++)
            json_object_set(o, exit_keys[k], json_object_get(top, exit_keys[k]));
        json_object_set_new(o, "exitPhrase", json_is_object(spec)
                            ? json_incref(json_object_get(spec, "phrase")) : json_null());
        json_object_set_new(o, "exitType", json_is_object(spec)
                            ? json_incref(json_object_get(spec, "type")) : json_null());
    }
    *out = o;
    return NULL;
}

pai_error *pai_job_attempts_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                                 int index, json_t **out)
{
    apr_array_header_t *att;
    pai_job_row *j;
    pai_error *e;
    json_t *list, *o;
    int i;

    if ((e = job_find(env, p, name, &j)) ||
        (e = pai_store_job_attempts(env->db, p, name, j->created, &att)))
        return e;
    /* The latest first, then the others oldest first, as v1.8 listed them. */
    list = pai_json_pool(p, json_array());
    for (i = 0; i < att->nelts; i++) {
        const pai_job_row *a = APR_ARRAY_IDX(att, i, pai_job_row *);
        int latest = a->retries == j->retries;
        if (index >= 0 && a->retries != index)
            continue;
        if ((e = job_attempt_json(env, p, j, a, latest, &o)))
            return e;
        if (index >= 0) {
            *out = pai_json_pool(p, o);
            return NULL;
        }
        if (latest)
            json_array_insert_new(list, 0, o);
        else
            json_array_append_new(list, o);
    }
    if (index >= 0)
        return pai_error_make(p, PAI_ERR_JOB_NOT_FOUND, "Job attempt not found in job %s with "
                              "jobAttemptIndex %d", name, index);
    *out = list;
    return NULL;
}

/* Logs are read from the job's folder on shared storage; the attempt and the
 * task must exist, and only the owner and admins may read them. */
pai_error *pai_job_task_log_where(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                                  const char *name, int attempt, const char *role, int index,
                                  int task_attempt, apr_int64_t now_ms, pai_tasklog_where *w,
                                  int *live)
{
    pai_jobspec *spec;
    pai_job_row at, *j;
    pai_error *e;

    if ((e = job_find(env, p, name, &j)))
        return e;
    if (!job_owned_by(who, j))
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "User %s is not allowed to read the logs "
                              "of job %s: only its owner and admins may.",
                              who->username ? who->username : "guest", name);
    /* The row just read: the attempt is looked up from it, not read again. */
    if ((e = job_attempt_of(env, p, j, attempt, &at)) ||
        (e = pai_admit_spec_of(env, p, &at, &spec)))
        return e;
    if (!job_report_role(spec, role, index) || task_attempt != 0)
        return pai_error_make(p, PAI_ERR_NO_TASK_LOG, "Job %s has no task attempt %d of "
                              "task %s-%d in attempt %d", name, task_attempt, role, index,
                              at.retries);
    if (job_finished(&at) && env->log_retention_days > 0 &&
        now_ms - at.completed > (apr_int64_t)env->log_retention_days * 86400000)
        return pai_error_make(p, PAI_ERR_NO_TASK_LOG, "the logs of job %s are kept %d days "
                              "after it ends, and it ended longer ago", name,
                              env->log_retention_days);
    memset(w, 0, sizeof(*w));
    w->root = env->log_dir;
    w->account = job_account(env, &at);
    w->job = at.name;
    w->job_created = at.created;
    w->attempt = at.retries;
    w->task = apr_psprintf(p, "%s-%d", role, index);
    *live = at.retries == j->retries && !job_finished(j);
    return NULL;
}

pai_error *pai_job_task_log_live(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                                 apr_int64_t created, int attempt, int *live)
{
    pai_job_row *j;
    pai_error *e = job_find(env, p, name, &j);

    *live = !e && j->created == created && j->retries == attempt && !job_finished(j);
    return e && e->code != PAI_ERR_JOB_NOT_FOUND ? e : NULL;
}

pai_error *pai_job_task_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                             int attempt, const char *role, int index, json_t **out)
{
    pai_job_row at;
    json_t *top, *task, *one;
    pai_error *e;

    if ((e = job_find_attempt(env, p, name, attempt, &at)) ||
        (e = job_status_json(env, p, &at, &top)))
        return e;
    task = json_array_get(json_object_get(json_object_get(json_object_get(top, "taskRoles"),
                                                          role), "taskStatuses"),
                          index < 0 ? (size_t)-1 : (size_t)index);
    if (!task)
        return pai_error_make(p, PAI_ERR_JOB_NOT_FOUND, "Task not found in Job %s with "
                              "jobAttemptIndex %d, taskRoleName %s and taskIndex %d", name,
                              at.retries, role, index);
    /* One task attempt per task and job attempt: a task is not retried
     * within its job's attempt here (a step that never started is tried again
     * before the task runs). */
    one = json_pack("{s:i, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}",
                    "attemptId", 0, "attemptState", json_object_get(task, "taskState"),
                    "currentAttemptCreatedTime", json_object_get(task, "createdTime"),
                    "currentAttemptLaunchedTime", json_object_get(task, "launchedTime"),
                    "currentAttemptCompletedTime", json_object_get(task, "completedTime"),
                    "containerId", json_object_get(task, "containerId"),
                    "containerIp", json_object_get(task, "containerIp"),
                    "containerNodeName", json_object_get(task, "containerNodeName"),
                    "containerPorts", json_object_get(task, "containerPorts"),
                    "containerGpus", json_object_get(task, "containerGpus"),
                    "containerLog", json_object_get(task, "containerLog"),
                    "containerExitCode", json_object_get(task, "containerExitCode"),
                    "containerExitSpec", json_object_get(task, "containerExitSpec"),
                    "containerExitDiagnostics", json_object_get(task, "containerExitDiagnostics"));
    *out = pai_json_pool(p, json_pack(
        "{s:s, s:s, s:i, s:s, s:i, s:s, s:O, s:i, s:i, s:O, s:O, s:O, s:[o]}",
        "username", at.username, "jobName", at.name, "jobAttemptId", at.retries,
        "taskRoleName", role, "taskIndex", index,
        "taskUid", apr_psprintf(p, "%s-%" APR_INT64_T_FMT "-%d-%s-%d", at.name, at.created,
                                at.retries, role, index),
        "taskState", json_object_get(task, "taskState"), "retries", 0,
        "accountableRetries", 0, "createdTime", json_object_get(task, "createdTime"),
        "launchedTime", json_object_get(task, "launchedTime"),
        "completedTime", json_object_get(task, "completedTime"), "attempts", one));
    return NULL;
}

/* Jobs over the store and a launcher: what a submission, a STOP and a START do,
 * what GET shows, and how the sync reconciles the two. */
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_general.h>
#include "jobs.h"
#include "viewcache.h"
#include "vc.h"
#include "sshkey.h"
#include "placement.h"
#include "image.h"

/* A job whose hand-over has not been confirmed for this long is given up on
 * (more than any launcher time-out). */
#define JOB_SUBMIT_GRACE_MS 60000
/* Even when the launcher says nothing changed, list it all this often. */
#define SYNC_FULL_EVERY 30
/* Up to this many jobs in the launcher's hands are asked for one by one; the
 * list (the only way to find orphans and jobs the launcher forgot) then comes
 * every SYNC_LIST_EVERY_SEC. */
#define SYNC_POLL_MAX 16
#define SYNC_LIST_EVERY_SEC 10

static int job_is_active(const pai_job_row *j)
{
    return !strcmp(j->state, "WAITING") || !strcmp(j->state, "RUNNING");
}

static int job_port_base(const pai_jobs_env *env, const pai_jobspec *s)
{
    int span = pai_job_port_span(s), room = env->port_hi - env->port_lo + 1 - span;
    apr_uint32_t r = 0;

    if (span == 0 || room <= 0)
        return env->port_lo;
    apr_generate_random_bytes((unsigned char *)&r, sizeof(r));
    return env->port_lo + (int)(r % (apr_uint32_t)room);
}

/* Moves j on to a fresh attempt, QUEUED for admission. */
static void job_new_attempt(const pai_jobs_env *env, pai_job_row *j, const pai_jobspec *spec,
                            apr_int64_t now_ms)
{
    j->retries++;
    j->state = "WAITING";
    j->sub_state = "QUEUED";
    j->launcher_id = 0;
    j->port_base = job_port_base(env, spec);
    j->host = j->hosts = j->placement = "";
    j->launched = j->completed = 0;
    j->has_exit = 0;
    j->exit_code = 0;
    j->diagnostics = "";
    j->submitted = now_ms;
}

/* The job's parsed config; lists leave it out, so it is read when needed. */
static pai_error *job_spec_of(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                              pai_jobspec **spec)
{
    pai_error *e;
    json_t *c;

    if (!j->config || !*j->config) {
        const char *config;
        if ((e = pai_store_job_config(env->db, p, j->name, &config)))
            return e;
        if (!config)
            return pai_error_make(p, PAI_ERR_JOB_NOT_FOUND, "could not find job %s", j->name);
        j->config = config;
    }
    if (!(c = pai_json_parse(p, j->config, strlen(j->config), &e)))
        return pai_error_make(p, PAI_ERR_INTERNAL, "stored config of %s is unreadable", j->name);
    return pai_jobspec_parse(p, c, spec);
}

/* The account the launcher runs j as (the mapping alone). */
static const char *job_account(const pai_jobs_env *env, const pai_job_row *j)
{
    return env->per_user ? j->username : env->job_user;
}

/* Before an attempt is written for the launcher: its owner's account must be
 * one that may run jobs (403 saying why not), and the attempt gets a fresh
 * tag, recorded in the row before the launcher ever sees it. */
static pai_error *job_prepare_attempt(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j)
{
    const char *account;
    pai_error *e;

    if ((e = env->launcher->ops->account(env->launcher->ctx, p, j->username, &account)))
        return e;
    return pai_launch_tag_make(p, env->tag_key, env->tag_key_len, j->name, j->retries, account,
                               &j->launch_tag);
}

pai_error *pai_job_account_check(const pai_jobs_env *env, apr_pool_t *p, const char *username)
{
    const char *account;
    return env->launcher->ops->account(env->launcher->ctx, p, username, &account);
}

/* Whether the launcher's job s is the current attempt of j that we launched:
 * it carries the tag recorded for the attempt, and the tag's MAC covers the
 * account it runs as (the account it was launched for, whichever server's
 * mapping made it).  Anybody can label a job of theirs like ours.  An
 * attempt launched before tags is known by its recorded id alone. */
static int job_launch_is_ours(const pai_jobs_env *env, apr_pool_t *p, const pai_job_row *j,
                              const pai_launch_status *s)
{
    if (strcmp(s->job_name, j->name) || s->attempt != j->retries ||
        (j->launcher_id && j->launcher_id != s->id))
        return 0;
    if (j->launch_tag && *j->launch_tag)
        return s->tag && pai_secret_equal(j->launch_tag, s->tag) &&
               pai_launch_tag_valid(p, env->tag_key, env->tag_key_len, j->name, j->retries,
                                    s->user, s->tag);
    return j->launcher_id && j->launcher_id == s->id;
}

/* 429 when the user has as many jobs waiting or active as the limits allow. */
static pai_error *job_user_limits(const pai_jobs_env *env, apr_pool_t *p, const char *user)
{
    int waiting = 0, running = 0;
    pai_error *e;

    if (env->max_waiting <= 0 && env->max_active <= 0)
        return NULL;
    if ((e = pai_store_user_job_counts(env->db, p, user, &waiting, &running)))
        return e;
    if (env->max_waiting > 0 && waiting >= env->max_waiting)
        return pai_error_make(p, PAI_ERR_TOO_MANY, "user %s has %d jobs waiting, the most "
                              "allowed (PaiUserMaxWaitingJobs); submit more when some start",
                              user, waiting);
    if (env->max_active > 0 && waiting + running >= env->max_active)
        return pai_error_make(p, PAI_ERR_TOO_MANY, "user %s has %d jobs waiting or running, the "
                              "most allowed (PaiUserMaxActiveJobs); submit more when some end",
                              user, waiting + running);
    return NULL;
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

/* ---- admission ------------------------------------------------------------ */

/* Asks the launcher for the cluster's size and keeps it in the store. */
static pai_error *jobs_capacity_refresh(const pai_jobs_env *env, apr_pool_t *p,
                                        apr_int64_t now_ms, pai_capacity *c)
{
    pai_cluster_size cs;
    pai_error *e;

    if ((e = env->launcher->ops->capacity(env->launcher->ctx, p, c)))
        return e;
    cs.cpus = c->cpus;
    cs.memory_mb = c->memory_mb;
    cs.gpus = c->gpus;
    cs.nodes = c->nodes;
    cs.shapes = pai_node_shapes_format(p, &c->shapes);
    cs.updated_ms = now_ms;
    /* The stored size is a cache: failing to keep it does not fail the caller. */
    pai_store_cluster_set(env->db, p, &cs);
    return NULL;
}

/* The cluster's size: stored by the sync; asked of the launcher if unknown. */
static pai_error *jobs_capacity(const pai_jobs_env *env, apr_pool_t *p, pai_capacity *c)
{
    pai_cluster_size cs;
    pai_error *e;

    if ((e = pai_store_cluster_get(env->db, p, &cs)))
        return e;
    if (cs.cpus == 0)
        return jobs_capacity_refresh(env, p, apr_time_as_msec(apr_time_now()), c);
    c->cpus = cs.cpus;
    c->memory_mb = cs.memory_mb;
    c->gpus = cs.gpus;
    c->nodes = cs.nodes;
    /* No shapes (kept by an older module) or unparsable ones: placement
     * needs them, so the launcher is asked. */
    if (!pai_node_shapes_parse(cs.shapes, &c->shapes) || (c->shapes.n == 0 && cs.nodes > 0))
        return jobs_capacity_refresh(env, p, apr_time_as_msec(apr_time_now()), c);
    return NULL;
}

/* What each VC holds and waits for, from the active jobs' totals. */
static pai_error *jobs_usage(const pai_jobs_env *env, apr_pool_t *p, apr_hash_t **out)
{
    apr_array_header_t *rows;
    apr_hash_t *h = apr_hash_make(p);
    pai_error *e;
    int i;

    if ((e = pai_store_active_totals(env->db, p, &rows)))
        return e;
    for (i = 0; i < rows->nelts; i++) {
        const pai_active_total *t = &APR_ARRAY_IDX(rows, i, pai_active_total);
        pai_vc_usage *u = apr_hash_get(h, t->vc, APR_HASH_KEY_STRING);
        if (!u) {
            u = apr_pcalloc(p, sizeof(*u));
            apr_hash_set(h, t->vc, APR_HASH_KEY_STRING, u);
        }
        if (t->queued) {
            u->n_queued += t->jobs;
            u->n_waiting += t->jobs;
            continue;
        }
        u->n_admitted += t->jobs;
        u->admitted.cpus += t->cpus;
        u->admitted.memory_mb += t->memory_mb;
        u->admitted.gpus += t->gpus;
        if (t->waiting)
            u->n_waiting += t->jobs;
    }
    *out = h;
    return NULL;
}

static void demand_of(const pai_job_row *j, pai_demand *d)
{
    d->cpus = j->cpus;
    d->memory_mb = j->memory_mb;
    d->gpus = j->gpus;
}

/* A 400 when the job can never fit its VC, or no placement on the
 * cluster's nodes can hold its tasks; *c is the cluster's size, for the
 * admission that follows, and *pl where its tasks go, for the launch. */
static pai_error *jobs_check_fits(const pai_jobs_env *env, apr_pool_t *p, const pai_job_row *j,
                                  const pai_jobspec *spec, pai_capacity *c, pai_placement **pl)
{
    pai_demand d;
    pai_vc *vc;
    pai_error *e;

    if ((e = pai_store_vc_get(env->db, p, j->vc, &vc)))
        return e;
    if (!vc)
        return pai_error_make(p, PAI_ERR_NO_VC_SUBMIT, "Virtual cluster %s not found.", j->vc);
    if ((e = jobs_capacity(env, p, c)))
        return e;
    demand_of(j, &d);
    if ((e = pai_vc_check_fits(p, c, vc, &d)))
        return e;
    return pai_place(p, spec, &c->shapes, pl);
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

/* Under the admission lock: whether j may go to the launcher now, first come
 * first served within its VC.  Writes j (insert or save) before the lock goes. */
static pai_error *jobs_admit(const pai_jobs_env *env, apr_pool_t *p, const pai_capacity *c,
                             pai_job_row *j, int insert, int expected_retries, int behind_queue,
                             const char *go_state, int *admitted)
{
    apr_dbd_transaction_t *tx;
    apr_array_header_t *vcs;
    apr_hash_t *usage;
    pai_vc_usage *u;
    pai_demand d;
    pai_error *e;
    int saved = 1;

    *admitted = 0;
    if ((e = pai_store_admission_begin(env->db, p, &tx)))
        return e;
    /* A request's job (a submission, a START) counts against its user's
     * limits; checked under the admission lock, so that concurrent requests
     * cannot all slip under them. */
    if (behind_queue && (e = job_user_limits(env, p, j->username))) {
        pai_store_admission_end(env->db, p, tx, 0);
        return e;
    }
    if (!(e = jobs_usage(env, p, &usage)) && !(e = pai_store_vc_list(env->db, p, &vcs))) {
        u = apr_hash_get(usage, j->vc, APR_HASH_KEY_STRING);
        demand_of(j, &d);
        /* A request's job goes behind those already queued in its VC (the
         * sync's pass takes them in order itself). */
        *admitted = !(behind_queue && u && u->n_queued > 0) &&
                    pai_vc_admissible(c, vcs, usage, j->vc, &d);
        j->sub_state = *admitted ? go_state : "QUEUED";
        j->diagnostics = *admitted ? "" : apr_psprintf(p, "QUEUED: virtual cluster %s has no "
                                                      "room for the job now", j->vc);
        e = insert ? pai_store_job_insert(env->db, p, j)
                   : pai_store_job_save(env->db, p, j, expected_retries, &saved);
        if (!e && !saved)
            e = pai_error_make(p, PAI_ERR_JOB_EXECUTE, "job %s changed meanwhile; try again",
                               j->name);
    }
    pai_store_admission_end(env->db, p, tx, !e);
    return e;
}

/* Starts a fresh attempt of j, its tasks placed as pl says, in the
 * launcher and records its id. */
static pai_error *job_launch(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                             const pai_jobspec *spec, const pai_placement *pl)
{
    pai_launch l = {spec, j->username, j->retries, j->port_base, NULL, NULL, NULL, j->launch_tag,
                    pl};
    const char *private_key, *old_secret;
    apr_int64_t id = 0;
    pai_error *e;

    if (env->report_base) {
        /* A secret per attempt: an earlier attempt's cannot report for this one. */
        if ((e = pai_store_ssh_keys_get(env->db, p, j->name, &private_key, &l.ssh_public_key,
                                        &old_secret)) ||
            (e = pai_random_hex(p, &l.report_secret)) ||
            (l.ssh_public_key &&
             (e = pai_store_ssh_secret_set(env->db, p, j->name, l.report_secret))))
            return e;
        l.report_url = apr_pstrcat(p, env->report_base, "/api/v1/jobs/", j->name, "/ssh/report",
                                   NULL);
    }
    if ((e = env->launcher->ops->submit(env->launcher->ctx, p, &l, &id)))
        return e;
    j->launcher_id = id;
    j->sub_state = "PENDING";
    j->placement = pai_placement_slots(p, pl);
    /* Slurm has the job now: a failure to record its id is mended by the sync,
     * which adopts the job by its tag. */
    if (!pai_store_job_set_launched(env->db, p, j->name, j->retries, id, j->placement))
        j->version++;
    return NULL;
}

pai_error *pai_job_submit(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                          const json_t *config, apr_int64_t now_ms, const char **name)
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
    j.port_base = job_port_base(env, spec);
    j.host = j.hosts = j.placement = "";
    j.diagnostics = "";
    j.created = j.submitted = now_ms;
    j.cpus = spec->total_cpus;
    j.memory_mb = spec->total_memory_mb;
    j.gpus = spec->total_gpus;
    j.config = pai_json_dump(p, spec->normalized);
    if ((e = jobs_check_fits(env, p, &j, spec, &cluster, &placement)) ||
        (e = job_prepare_attempt(env, p, &j)))
        return e;
    if (env->report_base &&
        ((e = pai_ssh_keygen(p, apr_pstrcat(p, "pai-job-", j.name, NULL), &private_key,
                             &public_key)) || (e = pai_random_hex(p, &secret))))
        return e;
    /* The row comes first: a launcher job never exists without its record.
     * A job its VC has no room for now waits in the store, QUEUED. */
    if ((e = jobs_admit(env, p, &cluster, &j, 1, 0, 1, "SUBMITTING", &admitted)))
        return e;
    if (env->report_base &&
        (e = pai_store_ssh_keys_put(env->db, p, j.name, private_key, public_key, secret))) {
        pai_store_job_delete_unsubmitted(env->db, p, j.name);
        return e;
    }
    if (admitted && (e = job_launch(env, p, &j, spec, placement))) {
        pai_store_job_delete_unsubmitted(env->db, p, j.name);
        return e;
    }
    *name = j.name;
    return NULL;
}

pai_error *pai_job_execute(const pai_jobs_env *env, apr_pool_t *p, const pai_identity *who,
                           const char *name, const char *value, apr_int64_t now_ms)
{
    pai_job_row *j, prev;
    pai_capacity cluster;
    pai_placement *placement;
    pai_jobspec *spec;
    pai_error *e;
    int saved = 0;

    if (strcmp(value, "START") && strcmp(value, "STOP"))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'value' must be START or STOP");
    if ((e = job_find(env, p, name, &j)))
        return e;
    if (!job_owned_by(who, j))
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "User %s is not allowed to execute job %s.",
                              who->username, name);
    prev = *j;
    if (!strcmp(value, "STOP")) {
        j->execution_type = "STOP";
        if (job_is_active(j)) {
            const char *account = NULL;
            /* The account the job runs as; a refusal (the account is gone)
             * still names it, and the cancel is tried as it. */
            env->launcher->ops->account(env->launcher->ctx, p, j->username, &account);
            if (j->launcher_id && account &&
                (e = env->launcher->ops->cancel(env->launcher->ctx, p, j->launcher_id, account)))
                return e;
            /* Resources are free for others from now on; the launcher's
             * CANCELLED confirms it on the next sync. */
            j->state = "STOPPED";
            j->sub_state = j->launcher_id ? "CANCELLED" : "STOPPED";
            j->completed = now_ms;
            j->diagnostics = apr_psprintf(p, "stopped by %s", who->username);
        }
        if ((e = pai_store_job_save(env->db, p, j, j->retries, &saved)))
            return e;
        return saved ? NULL : pai_error_make(p, PAI_ERR_JOB_EXECUTE,
                                             "job %s changed meanwhile; try again", name);
    }
    /* START: a job that still runs or waits needs nothing. */
    if (job_is_active(j)) {
        if (strcmp(j->execution_type, "START")) {
            j->execution_type = "START";
            pai_store_job_save(env->db, p, j, j->retries, &saved);
        }
        return NULL;
    }
    if ((e = job_spec_of(env, p, j, &spec)))
        return e;
    j->execution_type = "START";
    j->run_retries = 0;
    job_new_attempt(env, j, spec, now_ms);
    if ((e = job_prepare_attempt(env, p, j)) ||
        (e = jobs_check_fits(env, p, j, spec, &cluster, &placement)) ||
        (e = jobs_admit(env, p, &cluster, j, 0, prev.retries, 1, "ADMITTED", &saved)))
        return e;
    if (saved && (e = job_launch(env, p, j, spec, placement))) {
        /* Not taken: the job stays as it was before the START. */
        prev.version = j->version;
        pai_store_job_save(env->db, p, &prev, j->retries, &saved);
        return e;
    }
    return NULL;
}

/* ---- views --------------------------------------------------------------- */

static json_t *ms_or_null(apr_int64_t ms)
{
    return ms > 0 ? json_integer(ms) : json_null();
}

static json_t *job_summary(const pai_job_row *j)
{
    json_t *o = json_object();
    pai_json_set_str(o, "name", j->name);
    pai_json_set_str(o, "username", j->username);
    pai_json_set_str(o, "state", j->state);
    pai_json_set_str(o, "subState", j->sub_state);
    pai_json_set_str(o, "executionType", j->execution_type);
    pai_json_set_int(o, "retries", j->retries);
    pai_json_set_int(o, "createdTime", j->created);
    json_object_set_new(o, "completedTime", ms_or_null(j->completed));
    json_object_set_new(o, "appExitCode", j->has_exit ? json_integer(j->exit_code) : json_null());
    pai_json_set_str(o, "virtualCluster", j->vc);
    return o;
}

pai_error *pai_job_list_view(const pai_jobs_env *env, apr_pool_t *p, const pai_job_filter *f,
                             json_t **out)
{
    apr_array_header_t *rows;
    pai_error *e;
    json_t *a;
    int i;

    if ((e = pai_store_job_page(env->db, p, f, &rows)))
        return e;
    a = pai_json_pool(p, json_array());
    for (i = 0; i < rows->nelts; i++)
        json_array_append_new(a, job_summary(APR_ARRAY_IDX(rows, i, pai_job_row *)));
    *out = a;
    return NULL;
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

static pai_error *job_status_json(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                                  json_t **out)
{
    pai_jobspec *spec;
    json_t *st, *roles, *top;
    const char **task_host;
    pai_error *e;
    int r, t, i, k;

    if ((e = job_spec_of(env, p, j, &spec)))
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
            json_array_append_new(tasks, json_pack(
                "{s:i, s:s, s:o, s:o, s:i, s:s}",
                "taskIndex", t,
                "containerId", apr_psprintf(p, "%s-%d-%s-%d", j->name, j->retries, tr->name, t),
                "containerIp", *task_host[tr->first_task + t]
                               ? json_string(task_host[tr->first_task + t]) : json_null(),
                "containerPorts", ports,
                "containerGpus", tr->gpu_number,
                "containerLog", apr_psprintf(p, "%s/%s/%s/attempt-%d/%s-%d.out", env->log_dir,
                                             job_account(env, j), j->name, j->retries,
                                             tr->name, t)));
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

pai_error *pai_job_status_text(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                               const char **text)
{
    pai_job_row *j;
    json_t *o;
    pai_error *e;
    const char *key;

    if ((e = job_find(env, p, name, &j)))
        return e;
    /* The row's version moves with every write; its creation time tells a
     * job from an earlier one of the same name. */
    key = apr_psprintf(p, "%s@%" APR_INT64_T_FMT, j->name, j->created);
    if ((*text = pai_view_cache_get(env->views, p, key, j->version)))
        return NULL;
    if ((e = job_status_json(env, p, j, &o)))
        return e;
    *text = pai_json_dump(p, o);
    pai_view_cache_put(env->views, key, j->version, *text);
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

pai_error *pai_job_ssh_report(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                              const char *secret, const json_t *body)
{
    static const char *const fields[] = {"attempt", "taskRole", "taskIndex", "ip", "port",
                                         "hostKey", NULL};
    const char *priv, *pub, *want, *c;
    pai_ssh_endpoint ep;
    json_int_t attempt, index, port;
    pai_jobspec *spec;
    pai_job_row *j;
    pai_error *e;
    int r;

    if ((e = job_find(env, p, name, &j)))
        return e;
    if ((e = pai_store_ssh_keys_get(env->db, p, name, &priv, &pub, &want)))
        return e;
    if (!want || !secret || !pai_secret_equal(want, secret))
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "wrong secret for job %s", name);
    if ((e = pai_field_only(p, body, NULL, fields)) ||
        (e = pai_field_int(p, body, NULL, "attempt", 1, 0, &attempt, NULL)) ||
        (e = pai_field_str(p, body, NULL, "taskRole", 1, &ep.role)) ||
        (e = pai_field_int(p, body, NULL, "taskIndex", 1, 0, &index, NULL)) ||
        (e = pai_field_str(p, body, NULL, "ip", 1, &ep.ip)) ||
        (e = pai_field_int(p, body, NULL, "port", 1, 0, &port, NULL)) ||
        (e = pai_field_str(p, body, NULL, "hostKey", 0, &ep.host_key)) ||
        (e = job_spec_of(env, p, j, &spec)))
        return e;
    if (ep.host_key && !pai_ssh_host_key_fingerprint(p, ep.host_key))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'hostKey' is not an SSH public key");
    for (c = ep.ip; *c; c++)
        if (!strchr("0123456789abcdefABCDEF.:", *c))
            break;
    if (*c || !*ep.ip || strlen(ep.ip) > 45 || port < 1 || port > 65535)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'ip' or 'port' is not an address");
    if (attempt != j->retries || !job_is_active(j))
        return pai_error_make(p, PAI_ERR_INVALID, "attempt %" JSON_INTEGER_FORMAT " of job %s is "
                              "not running", attempt, name);
    for (r = 0; r < spec->roles->nelts; r++) {
        const pai_task_role *tr = &APR_ARRAY_IDX(spec->roles, r, pai_task_role);
        if (!strcmp(tr->name, ep.role) && index >= 0 && index < tr->task_number) {
            ep.index = (int)index;
            ep.port = (int)port;
            return pai_store_ssh_endpoint_put(env->db, p, name, (int)attempt, &ep);
        }
    }
    return pai_error_make(p, PAI_ERR_INVALID, "job %s has no task %s-%" JSON_INTEGER_FORMAT,
                          name, ep.role, index);
}

pai_error *pai_vc_status_view(const pai_jobs_env *env, apr_pool_t *p, const char *name,
                              json_t **out)
{
    static const pai_vc_usage none;
    apr_array_header_t *vcs;
    apr_hash_t *usage;
    pai_capacity c;
    pai_error *e;
    json_t *all;
    int i;

    if ((e = pai_store_vc_list(env->db, p, &vcs)) || (e = jobs_usage(env, p, &usage)))
        return e;
    /* Without a known cluster size the shares read 0, rather than no answer. */
    if (jobs_capacity(env, p, &c))
        memset(&c, 0, sizeof(c));
    all = pai_json_pool(p, json_object());
    for (i = 0; i < vcs->nelts; i++) {
        const pai_vc *vc = &APR_ARRAY_IDX(vcs, i, pai_vc);
        const pai_vc_usage *u = apr_hash_get(usage, vc->name, APR_HASH_KEY_STRING);
        json_t *v = pai_vc_view(&c, vc, u ? u : &none);
        if (name && !strcmp(name, vc->name)) {
            *out = pai_json_pool(p, v);
            return NULL;
        }
        json_object_set_new(all, vc->name, v);
    }
    if (name)
        return pai_error_make(p, PAI_ERR_VC_NOT_FOUND, "could not find virtual cluster %s", name);
    *out = all;
    return NULL;
}

/* ---- the sync ------------------------------------------------------------ */

static int str_changed(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* Whether the failed attempt j is retried: retryCount -1 retries forever. */
static int job_retry_allowed(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j)
{
    pai_jobspec *spec;
    if (strcmp(j->execution_type, "START") || job_spec_of(env, p, j, &spec))
        return 0;
    return spec->retry_count == -1 || (spec->retry_count > 0 && j->run_retries < spec->retry_count);
}

/* Moves j to a new attempt and hands it to the launcher; when the launcher
 * cannot take it now, the attempt stays QUEUED for a later cycle. */
static void sync_next_attempt(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                              int auto_retry, apr_int64_t now_ms, pai_sync_report *rep)
{
    pai_jobspec *spec;
    int saved = 0, was = j->retries;

    if (job_spec_of(env, p, j, &spec))
        return;
    if (auto_retry)
        j->run_retries++;
    job_new_attempt(env, j, spec, now_ms);
    /* The admission pass of this same cycle hands it on when its VC has room. */
    if (!pai_store_job_save(env->db, p, j, was, &saved) && saved)
        rep->resubmitted++;
}

/* A queued attempt that can never run ends FAILED, saying why: it must not
 * wait (and hold its place) for ever. */
static void sync_fail_queued(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                             const pai_error *why, apr_int64_t now_ms)
{
    int saved = 0;

    j->state = "FAILED";
    j->sub_state = "REFUSED";
    j->completed = now_ms;
    j->diagnostics = apr_pstrndup(p, why->message, 1000);
    /* A lost race (another writer came first) is seen again next cycle. */
    pai_store_job_save(env->db, p, j, j->retries, &saved);
}

/* The admission pass: QUEUED jobs, oldest first, go to the launcher while
 * their VC has room; one that does not fit holds back the rest of its VC. */
static void sync_admit_queued(const pai_jobs_env *env, apr_pool_t *p, apr_int64_t now_ms,
                              pai_sync_report *rep)
{
    apr_array_header_t *queued;
    apr_hash_t *blocked = apr_hash_make(p);
    pai_capacity cluster;
    int i;

    if (pai_store_job_list_queued(env->db, p, &queued) || queued->nelts == 0 ||
        jobs_capacity(env, p, &cluster))
        return;
    for (i = 0; i < queued->nelts; i++) {
        pai_job_row *j = APR_ARRAY_IDX(queued, i, pai_job_row *);
        pai_jobspec *spec;
        pai_placement *placement;
        int admitted = 0, saved = 0;
        pai_error *e;

        /* A queued job keeps its place (submitted is not moved): the oldest
         * is always tried first, and one that does not fit holds back the
         * rest of its VC, so none can be starved by later, smaller ones. */
        if (apr_hash_get(blocked, j->vc, APR_HASH_KEY_STRING) || job_spec_of(env, p, j, &spec))
            continue;
        if ((e = job_prepare_attempt(env, p, j))) {
            if (e->code == PAI_ERR_FORBIDDEN)
                sync_fail_queued(env, p, j, e, now_ms);
            continue;
        }
        if (jobs_admit(env, p, &cluster, j, 0, j->retries, 0, "ADMITTED", &admitted) ||
            !admitted) {
            apr_hash_set(blocked, j->vc, APR_HASH_KEY_STRING, j);
            continue;
        }
        if ((e = pai_place(p, spec, &cluster.shapes, &placement)) ||
            (e = job_launch(env, p, j, spec, placement))) {
            /* A job the launcher refuses for good (or that the cluster's
             * nodes can no longer hold) ends; otherwise the launcher cannot
             * take jobs now: try again next cycle. */
            if (e->code == PAI_ERR_FORBIDDEN || e->code == PAI_ERR_JOB_REJECTED ||
                e->code == PAI_ERR_INVALID) {
                sync_fail_queued(env, p, j, e, now_ms);
                continue;
            }
            j->sub_state = "QUEUED";
            pai_store_job_save(env->db, p, j, j->retries, &saved);
            return;
        }
        rep->admitted++;
    }
}

/* The cluster's size, refreshed from the launcher every few cycles. */
static void sync_capacity(const pai_jobs_env *env, apr_pool_t *p, pai_sync_state *st,
                          apr_int64_t now_ms)
{
    pai_capacity c;

    if (st->cycles % 5 == 1 || st->cycles <= 1)
        jobs_capacity_refresh(env, p, now_ms, &c);
}

static void sync_apply(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                       const pai_launch_status *s, apr_int64_t now_ms, pai_sync_report *rep)
{
    pai_job_row n = *j;
    int saved = 0;

    n.launcher_id = s->id;
    n.sub_state = s->sub_state;
    n.state = s->state;
    /* A STOP the user asked for shows as STOPPED whatever the launcher says. */
    if (!strcmp(j->execution_type, "STOP") && !s->active)
        n.state = "STOPPED";
    n.host = s->host;
    n.hosts = s->hosts ? s->hosts : "";
    n.launched = s->start_ms;
    n.completed = s->active ? 0 : (s->end_ms ? s->end_ms : now_ms);
    n.has_exit = s->has_exit;
    n.exit_code = s->has_exit ? s->exit_code : 0;
    n.diagnostics = s->diagnostics;
    /* An ended attempt's reason stays as first seen (a failed node that is
     * back would no longer be named). */
    if (!s->active && j->has_exit && n.launcher_id == j->launcher_id &&
        !strcmp(n.state, j->state))
        n.diagnostics = j->diagnostics;
    if (n.launcher_id == j->launcher_id && !str_changed(n.state, j->state) &&
        !str_changed(n.sub_state, j->sub_state) && !str_changed(n.host, j->host) &&
        !str_changed(n.hosts, j->hosts) &&
        n.launched == j->launched && n.completed == j->completed && n.has_exit == j->has_exit &&
        n.exit_code == j->exit_code && !str_changed(n.diagnostics, j->diagnostics))
        return;
    if (pai_store_job_save(env->db, p, &n, j->retries, &saved) || !saved)
        return;
    if (!j->launcher_id)
        rep->adopted++;
    rep->updated++;
    if (!strcmp(n.state, "FAILED") && job_retry_allowed(env, p, &n))
        sync_next_attempt(env, p, &n, 1, now_ms, rep);
}

/* One job of ours as the launcher sees it.  A job the user stopped must not
 * hold resources, whatever became of the STOP's own cancel. */
static void sync_job(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                     const pai_launch_status *s, apr_int64_t now_ms, pai_sync_report *rep)
{
    const pai_launcher_ops *ops = env->launcher->ops;

    if (!strcmp(j->execution_type, "STOP") && s->active &&
        !ops->cancel(env->launcher->ctx, p, s->id, s->user))
        rep->cancelled++;
    sync_apply(env, p, j, s, now_ms, rep);
}

/* Each job the launcher holds, asked for by its id.  A list costs as much as
 * all the jobs the launcher still keeps (finished ones for MinJobAge, other
 * users' on a shared cluster), and any change anywhere makes it whole again;
 * a few jobs are cheaper one by one.  What the launcher does not know is left
 * to the next list. */
static pai_error *sync_poll(const pai_jobs_env *env, apr_pool_t *p,
                            const apr_array_header_t *active, apr_int64_t now_ms,
                            pai_sync_report *rep)
{
    const pai_launcher_ops *ops = env->launcher->ops;
    pai_error *e;
    int i;

    for (i = 0; i < active->nelts; i++) {
        pai_job_row *j = APR_ARRAY_IDX(active, i, pai_job_row *);
        pai_launch_status s;
        int known = 0;
        if (!j->launcher_id)
            continue;
        if ((e = ops->status(env->launcher->ctx, p, j->launcher_id, &s, &known)))
            return e;
        if (!known || !job_launch_is_ours(env, p, j, &s))
            continue;
        rep->listed++;
        sync_job(env, p, j, &s, now_ms, rep);
    }
    return NULL;
}

pai_error *pai_sync_cycle(const pai_jobs_env *env, apr_pool_t *p, pai_sync_state *st,
                          apr_int64_t now_ms, pai_sync_report *rep)
{
    const pai_launcher_ops *ops = env->launcher->ops;
    apr_array_header_t *active, *listed;
    apr_hash_t *by_name, *seen;
    apr_int64_t now_sec = now_ms / 1000, since;
    int unchanged = 0, i;
    pai_error *e;

    memset(rep, 0, sizeof(*rep));
    if ((e = pai_store_job_list_active(env->db, p, &active)))
        return e;
    st->cycles++;
    if (ops->status && st->last_list_sec && now_sec - st->last_list_sec < SYNC_LIST_EVERY_SEC) {
        int held = 0;
        for (i = 0; i < active->nelts; i++)
            held += APR_ARRAY_IDX(active, i, pai_job_row *)->launcher_id != 0;
        if (held <= SYNC_POLL_MAX) {
            if ((e = sync_poll(env, p, active, now_ms, rep)))
                return e;
            sync_capacity(env, p, st, now_ms);
            sync_admit_queued(env, p, now_ms, rep);
            return NULL;
        }
    }

    /* Slurm answers "no change" for update_time at or after its last change, in
     * whole seconds: asking from two seconds back misses nothing. */
    since = (st->last_list_sec && (++st->lists % SYNC_FULL_EVERY)) ? st->last_list_sec - 2 : 0;
    if ((e = ops->list(env->launcher->ctx, p, since, &unchanged, &listed)))
        return e;
    st->last_list_sec = now_sec;
    sync_capacity(env, p, st, now_ms);
    if (unchanged) {
        sync_admit_queued(env, p, now_ms, rep);
        return NULL;
    }
    rep->listed = listed->nelts;

    by_name = apr_hash_make(p);
    seen = apr_hash_make(p);
    for (i = 0; i < active->nelts; i++) {
        pai_job_row *j = APR_ARRAY_IDX(active, i, pai_job_row *);
        apr_hash_set(by_name, j->name, APR_HASH_KEY_STRING, j);
    }
    for (i = 0; i < listed->nelts; i++) {
        pai_launch_status *s = &APR_ARRAY_IDX(listed, i, pai_launch_status);
        pai_job_row *j = apr_hash_get(by_name, s->job_name, APR_HASH_KEY_STRING);
        int ours = j && job_launch_is_ours(env, p, j, s);

        if (!ours) {
            /* An orphan (its submission was given up) or a stale attempt of
             * ours must not hold resources.  A job merely labelled like ours
             * (anybody may set a comment) is not ours to adopt or cancel. */
            if (s->active && pai_launch_tag_valid(p, env->tag_key, env->tag_key_len, s->job_name,
                                                  s->attempt, s->user, s->tag) &&
                !ops->cancel(env->launcher->ctx, p, s->id, s->user))
                rep->cancelled++;
            continue;
        }
        apr_hash_set(seen, j->name, APR_HASH_KEY_STRING, j);
        sync_job(env, p, j, s, now_ms, rep);
    }
    /* Active jobs the launcher does not know. */
    for (i = 0; i < active->nelts; i++) {
        pai_job_row *j = APR_ARRAY_IDX(active, i, pai_job_row *);
        int saved = 0;
        if (apr_hash_get(seen, j->name, APR_HASH_KEY_STRING) || !strcmp(j->sub_state, "QUEUED") ||
            now_ms - j->submitted < JOB_SUBMIT_GRACE_MS)
            continue;
        if (!j->launcher_id && j->retries == 0 && !strcmp(j->sub_state, "SUBMITTING")) {
            /* Its request died before the launcher took it: the caller never
             * got a 201, so there is no job to keep. */
            pai_store_job_delete_unsubmitted(env->db, p, j->name);
        }
        else if (!j->launcher_id) {
            /* A hand-over (START or the admission pass) that died midway. */
            j->sub_state = "QUEUED";
            pai_store_job_save(env->db, p, j, j->retries, &saved);
        }
        else {
            j->state = "FAILED";
            j->sub_state = "LOST";
            j->completed = now_ms;
            j->diagnostics = "the launcher no longer knows this job";
            pai_store_job_save(env->db, p, j, j->retries, &saved);
        }
        rep->lost++;
    }
    sync_admit_queued(env, p, now_ms, rep);
    return NULL;
}

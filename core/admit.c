/* Admission: whether a job's attempt may go to the launcher now (its VC's
 * share, its user's limits, first come first served), and the hand-over of
 * an admitted attempt.  Shared by the commands (submit, START) and the sync's
 * admission pass. */
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_general.h>
#include "admit.h"
#include "events.h"
#include "json.h"
#include "protocol.h"
#include "sshkey.h"

int pai_admit_port_base(const pai_jobs_env *env, const pai_jobspec *s)
{
    int span = pai_job_port_span(s), room = env->port_hi - env->port_lo + 1 - span;
    apr_uint32_t r = 0;

    if (span == 0 || room <= 0)
        return env->port_lo;
    apr_generate_random_bytes((unsigned char *)&r, sizeof(r));
    return env->port_lo + (int)(r % (apr_uint32_t)room);
}

/* Moves j on to a fresh attempt, QUEUED for admission. */
void pai_admit_new_attempt(const pai_jobs_env *env, pai_job_row *j, const pai_jobspec *spec,
                            apr_int64_t now_ms)
{
    j->retries++;
    j->state = "WAITING";
    j->sub_state = "QUEUED";
    j->launcher_id = 0;
    j->port_base = pai_admit_port_base(env, spec);
    j->host = j->hosts = j->placement = "";
    j->launched = j->completed = 0;
    j->has_exit = 0;
    j->exit_code = 0;
    j->diagnostics = "";
    j->exit_task = j->exit_why = "";
    j->submitted = now_ms;
}

/* The job's parsed config; lists leave it out, so it is read when needed. */
pai_error *pai_admit_spec_of(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
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

/* Before an attempt is written for the launcher: its owner's account must be
 * one that may run jobs (403 saying why not), and the attempt gets a fresh
 * tag, recorded in the row before the launcher ever sees it. */
pai_error *pai_admit_prepare(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j)
{
    const char *account;
    pai_error *e;

    if ((e = env->launcher->ops->account(env->launcher->ctx, p, j->username, &account)))
        return e;
    return pai_launch_tag_make(p, env->tag_key, env->tag_key_len, j->name, j->retries, account,
                               &j->launch_tag);
}

/* 429 when the user has as many jobs waiting or active as the limits allow. */
static pai_error *admit_user_limits(const pai_jobs_env *env, apr_pool_t *p, const char *user)
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

/* Asks the launcher for the cluster's size and keeps it in the store. */
pai_error *pai_admit_capacity_refresh(const pai_jobs_env *env, apr_pool_t *p,
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
    /* The stored size is a cache: failing to keep it does not fail the caller
     * (the launcher is asked again next time). */
    (void)pai_store_cluster_set(env->db, p, &cs);
    return NULL;
}

/* The cluster's size: stored by the sync; asked of the launcher if unknown. */
pai_error *pai_admit_capacity(const pai_jobs_env *env, apr_pool_t *p, pai_capacity *c)
{
    pai_cluster_size cs;
    pai_error *e;

    if ((e = pai_store_cluster_get(env->db, p, &cs)))
        return e;
    if (cs.cpus == 0)
        return pai_admit_capacity_refresh(env, p, apr_time_as_msec(apr_time_now()), c);
    c->cpus = cs.cpus;
    c->memory_mb = cs.memory_mb;
    c->gpus = cs.gpus;
    c->nodes = cs.nodes;
    /* No shapes (kept by an older module) or unparsable ones: placement
     * needs them, so the launcher is asked. */
    if (!pai_node_shapes_parse(cs.shapes, &c->shapes) || (c->shapes.n == 0 && cs.nodes > 0))
        return pai_admit_capacity_refresh(env, p, apr_time_as_msec(apr_time_now()), c);
    return NULL;
}

/* What each VC holds and waits for, from the active jobs' totals. */
pai_error *pai_admit_usage(const pai_jobs_env *env, apr_pool_t *p, apr_hash_t **out)
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




static void admit_demand_of(const pai_job_row *j, pai_demand *d)
{
    d->cpus = j->cpus;
    d->memory_mb = j->memory_mb;
    d->gpus = j->gpus;
}

/* A 400 when the job can never fit its VC, or no placement on the
 * cluster's nodes can hold its tasks; *c is the cluster's size, for the
 * admission that follows, and *pl where its tasks go, for the launch. */
pai_error *pai_admit_check_fits(const pai_jobs_env *env, apr_pool_t *p, const pai_job_row *j,
                                  const pai_jobspec *spec, pai_capacity *c, pai_placement **pl)
{
    pai_demand d;
    pai_vc *vc;
    pai_error *e;

    if ((e = pai_store_vc_get(env->db, p, j->vc, &vc)))
        return e;
    if (!vc)
        return pai_error_make(p, PAI_ERR_NO_VC_SUBMIT, "Virtual cluster %s not found.", j->vc);
    if ((e = pai_admit_capacity(env, p, c)))
        return e;
    admit_demand_of(j, &d);
    if ((e = pai_vc_check_fits(p, c, vc, &d)))
        return e;
    return pai_place(p, spec, &c->shapes, pl);
}

static pai_error *admit_once(const pai_jobs_env *env, apr_pool_t *p, const pai_capacity *c,
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
    if (behind_queue && (e = admit_user_limits(env, p, j->username))) {
        /* Nothing was written: a failed rollback loses nothing, and the
         * caller's answer is the limit's. */
        (void)pai_store_admission_end(env->db, p, tx, 0);
        return e;
    }
    if (!(e = pai_admit_usage(env, p, &usage)) && !(e = pai_store_vc_list(env->db, p, &vcs))) {
        int was_queued = !insert && !strcmp(j->sub_state, "QUEUED");
        apr_int64_t now_ms = apr_time_as_msec(apr_time_now());
        u = apr_hash_get(usage, j->vc, APR_HASH_KEY_STRING);
        admit_demand_of(j, &d);
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
        /* In the admission's transaction: no event of a change that is not
         * kept.  A job still queued after another look says nothing new. */
        if (!e && insert)
            pai_event_record(env->db, p, j, NULL, 0, PAI_EVENT_NORMAL, "Submitted",
                             "mod_pairest", now_ms, "%s submitted it to virtual cluster %s",
                             j->username, j->vc);
        if (!e && *admitted)
            pai_event_record(env->db, p, j, NULL, 0, PAI_EVENT_NORMAL, "Admitted",
                             "mod_pairest", now_ms, "virtual cluster %s has room for it: handed to Slurm", j->vc);
        else if (!e && !was_queued)
            pai_event_record(env->db, p, j, NULL, 0, PAI_EVENT_NORMAL, "Queued", "mod_pairest",
                             now_ms, "virtual cluster %s has no room for it now: it waits "
                             "in its queue (oldest first)", j->vc);
    }
    {
        /* A commit that fails wrote nothing: the attempt must not go to the
         * launcher without its row. */
        pai_error *end = pai_store_admission_end(env->db, p, tx, !e);
        if (!e && end) {
            *admitted = 0;
            e = end;
        }
    }
    return e;
}

/* Under the admission lock: whether j may go to the launcher now, first come
 * first served within its VC.  Writes j (insert or save) before the lock goes;
 * a transaction that lost to a deadlock wrote nothing and is run again. */
pai_error *pai_admit(const pai_jobs_env *env, apr_pool_t *p, const pai_capacity *c,
                     pai_job_row *j, int insert, int expected_retries, int behind_queue,
                     const char *go_state, int *admitted)
{
    const char *sub_state = j->sub_state, *diagnostics = j->diagnostics;
    int tries = 0;
    pai_error *e;

    env->db->deadlocked = 0;
    while ((e = admit_once(env, p, c, j, insert, expected_retries, behind_queue, go_state,
                           admitted)) && pai_store_deadlocked(env->db) &&
           tries++ < PAI_STORE_DEADLOCK_RETRIES) {
        j->sub_state = sub_state;
        j->diagnostics = diagnostics;
    }
    return e;
}

/* A v2 job's secrets go into its commands only for the launcher's copy of an
 * attempt: the stored config keeps their tags (<% $secrets.k %>). */
static pai_error *admit_with_secrets(const pai_jobs_env *env, apr_pool_t *p, const pai_job_row *j,
                                     const pai_jobspec *spec, const pai_jobspec **out)
{
    const char *text;
    pai_jobspec *copy;
    json_t *secrets;
    pai_error *e;
    int r, tagged = 0;

    *out = spec;
    for (r = 0; r < spec->roles->nelts; r++)
        tagged |= strstr(APR_ARRAY_IDX(spec->roles, r, pai_task_role).command, "$secrets") != NULL;
    if (!tagged)
        return NULL;
    if ((e = pai_store_job_secrets_get(env->db, p, j->name, &text)))
        return e;
    if (!text)
        return NULL;
    if (!(secrets = pai_json_parse(p, text, strlen(text), &e)))
        return pai_error_make(p, PAI_ERR_INTERNAL, "the secrets of job %s are unreadable",
                              j->name);
    copy = apr_pmemdup(p, spec, sizeof(*spec));
    copy->roles = apr_array_copy(p, spec->roles);
    for (r = 0; r < copy->roles->nelts; r++) {
        pai_task_role *tr = &APR_ARRAY_IDX(copy->roles, r, pai_task_role);
        tr->command = pai_protocol_render_secrets(p, tr->command, secrets);
    }
    *out = copy;
    return NULL;
}

/* Starts a fresh attempt of j, its tasks placed as pl says, in the
 * launcher and records its id. */
pai_error *pai_admit_launch(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                             const pai_jobspec *spec, const pai_placement *pl)
{
    pai_launch l = {spec, j->username, j->created, j->retries, j->port_base, NULL, NULL, NULL,
                    j->launch_tag, pl};
    const char *private_key, *old_secret;
    apr_int64_t id = 0;
    pai_error *e;

    if ((e = admit_with_secrets(env, p, j, spec, &l.spec)))
        return e;
    if (env->report_base) {
        /* A secret per attempt: an earlier attempt's cannot report for this one. */
        if ((e = pai_store_ssh_keys_get(env->db, p, j->name, &private_key, &l.ssh_public_key,
                                        &old_secret)) ||
            (e = pai_random_hex(p, &l.report_secret)) ||
            (l.ssh_public_key &&
             (e = pai_store_ssh_secret_set(env->db, p, j->name, l.report_secret))))
            return e;
        l.report_url = apr_pstrcat(p, env->report_base, "/api/v1/jobs/", j->name,
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

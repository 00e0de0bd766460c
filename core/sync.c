/* The sync: one cycle reconciles the store with the launcher (states,
 * adoptions, orphans, retries, lost jobs) and runs the admission pass over
 * the queued jobs.  One server of all runs it (the glue holds a lease). */
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_time.h>
#include "admit.h"
#include "events.h"
#include "exitspec.h"
#include "sshkey.h"
#include "sync.h"

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
/* ... or, when a list takes long (Slurm keeps thousands of ended jobs for
 * minutes, and slurmrestd renders each: 0.57 s for 2,000), after this many
 * times its length: a list blocks the cycle, and a change to a polled job
 * that comes meanwhile waits for its end (bench (e) after (d): a change
 * seen after 2.5-5.7 s when it met a list of 11,000 ended jobs). */
#define SYNC_LIST_SPACING 20

apr_int64_t pai_sync_lease_ttl_ms(apr_int64_t interval_ms)
{
    /* Long enough for a few missed renewals, short enough for a quick takeover. */
    return interval_ms * 5 > 3000 ? interval_ms * 5 : 3000;
}

/* Whether the launcher's job s is the current attempt of j that we launched:
 * it carries the tag recorded for the attempt, and the tag's MAC covers the
 * account it runs as (the account it was launched for, whichever server's
 * mapping made it).  Anybody can label a job of theirs like ours.  An
 * attempt launched before tags is known by its recorded id alone. */
static int sync_launch_is_ours(const pai_jobs_env *env, apr_pool_t *p, const pai_job_row *j,
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

static int sync_str_changed(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* Whether the failed attempt j is retried: retryCount -1 retries forever. */
static int sync_retry_allowed(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j)
{
    pai_jobspec *spec;
    if (strcmp(j->execution_type, "START") || pai_admit_spec_of(env, p, j, &spec))
        return 0;
    return spec->retry_count == -1 || (spec->retry_count > 0 && j->run_retries < spec->retry_count);
}

/* Why a new attempt is made: a START, a retry counted against retryCount,
 * or one after a platform failure that is not. */
typedef enum { SYNC_ATTEMPT_START, SYNC_ATTEMPT_RETRY, SYNC_ATTEMPT_PLATFORM } sync_attempt_why;

/* Moves j to a new attempt (QUEUED: the admission pass of this same cycle
 * hands it on when its VC has room); nonzero when it could not be written.
 * A job whose stored config cannot be read is not retried: its failure
 * stands (sync_retry_allowed says the same). */
static int sync_next_attempt(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                             sync_attempt_why why, apr_int64_t now_ms, pai_sync_report *rep)
{
    pai_jobspec *spec;
    int saved = 0, was = j->retries;

    if (pai_admit_spec_of(env, p, j, &spec))
        return 0;
    if (why == SYNC_ATTEMPT_RETRY)
        j->run_retries++;
    else if (why == SYNC_ATTEMPT_PLATFORM)
        j->platform_retries++;
    pai_admit_new_attempt(env, j, spec, now_ms);
    if (pai_store_job_save(env->db, p, j, was, &saved) || !saved)
        return 1;
    rep->resubmitted++;
    pai_event_record(env->db, p, j, NULL, 0, PAI_EVENT_WARNING,
                     why == SYNC_ATTEMPT_PLATFORM ? "PlatformRetryScheduled"
                                                  : "RetryScheduled", "mod_pairest", now_ms,
                     why == SYNC_ATTEMPT_PLATFORM
                     ? "attempt %d after a platform failure of attempt %d (%d of at most %d)"
                     : "attempt %d after attempt %d failed (retry %d of the job's "
                       "retryCount %d)", j->retries, was,
                     why == SYNC_ATTEMPT_PLATFORM ? j->platform_retries : j->run_retries,
                     why == SYNC_ATTEMPT_PLATFORM ? PAI_EXIT_PLATFORM_RETRIES_MAX
                                                  : spec->retry_count);
    return 0;
}

/* A FAILED attempt just saved: a platform failure another attempt may not
 * meet runs again without counting against retryCount (as OpenPAI did), up
 * to PAI_EXIT_PLATFORM_RETRIES_MAX a job; any other failure as retryCount
 * says.  Nonzero when the next attempt could not be written. */
static int sync_after_failure(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                              apr_int64_t now_ms, pai_sync_report *rep)
{
    const pai_exit_spec *x = pai_exit_classify(j->state, j->sub_state, j->has_exit,
                                               j->exit_code, j->exit_why, 0);

    if (strcmp(j->execution_type, "START"))
        return 0;
    if (pai_exit_platform_transient(x) && j->platform_retries < PAI_EXIT_PLATFORM_RETRIES_MAX)
        return sync_next_attempt(env, p, j, SYNC_ATTEMPT_PLATFORM, now_ms, rep);
    if (sync_retry_allowed(env, p, j))
        return sync_next_attempt(env, p, j, SYNC_ATTEMPT_RETRY, now_ms, rep);
    return 0;
}

/* Saves n, the attempt before was now as the launcher ends or sees it, with
 * its events; a failed attempt that is retried moves on to the next one in
 * the same transaction: no reader sees FAILED a job about to run again (a
 * client waiting for its end would stop there), and no crash between the
 * two writes loses the retry.  Nonzero when n was written. */
static int sync_save(const pai_jobs_env *env, apr_pool_t *p, const pai_job_row *before,
                     pai_job_row *n, apr_int64_t now_ms, pai_sync_report *rep)
{
    apr_dbd_transaction_t *tx = NULL;
    int saved = 0, failed = !strcmp(n->state, "FAILED"), broken = 0;

    if (failed && pai_store_admission_begin(env->db, p, &tx))
        return 0;
    if (!pai_store_job_save(env->db, p, n, before->retries, &saved) && saved) {
        pai_event_transition(env->db, p, before, n, now_ms);
        broken = failed && sync_after_failure(env, p, n, now_ms, rep);
    }
    /* Rolled back, the job is as the cycle found it and seen again next one. */
    if (tx && pai_store_admission_end(env->db, p, tx, saved && !broken))
        return 0;
    return saved && !broken;
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
    /* A lost race (another writer came first) or a failed write: the job is
     * still queued, and seen again next cycle. */
    if (!pai_store_job_save(env->db, p, j, j->retries, &saved) && saved)
        pai_event_record(env->db, p, j, NULL, 0, PAI_EVENT_WARNING, "Refused", "mod_pairest",
                         now_ms, "%s", j->diagnostics);
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
        pai_admit_capacity(env, p, &cluster))
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
        if (apr_hash_get(blocked, j->vc, APR_HASH_KEY_STRING) || pai_admit_spec_of(env, p, j, &spec))
            continue;
        if ((e = pai_admit_prepare(env, p, j))) {
            if (e->code == PAI_ERR_FORBIDDEN)
                sync_fail_queued(env, p, j, e, now_ms);
            continue;
        }
        if (pai_admit(env, p, &cluster, j, 0, j->retries, 0, "ADMITTED", &admitted) ||
            !admitted) {
            apr_hash_set(blocked, j->vc, APR_HASH_KEY_STRING, j);
            continue;
        }
        if ((e = pai_place(p, spec, &cluster.shapes, &placement)) ||
            (e = pai_admit_launch(env, p, j, spec, placement))) {
            /* A job the launcher refuses for good (or that the cluster's
             * nodes can no longer hold) ends; otherwise the launcher cannot
             * take jobs now: try again next cycle. */
            if (e->code == PAI_ERR_FORBIDDEN || e->code == PAI_ERR_JOB_REJECTED ||
                e->code == PAI_ERR_INVALID) {
                sync_fail_queued(env, p, j, e, now_ms);
                continue;
            }
            /* Should this write fail, the attempt (admitted, no launcher id)
             * is queued again after its grace period by the cycle's check of
             * hand-overs that died midway. */
            j->sub_state = "QUEUED";
            (void)pai_store_job_save(env->db, p, j, j->retries, &saved);
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
        pai_admit_capacity_refresh(env, p, now_ms, &c);
}

static void sync_apply(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                       const pai_launch_status *s, apr_int64_t now_ms, pai_sync_report *rep)
{
    pai_job_row n = *j;

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
    /* The end's word goes to the attempt's history (pai_exit_classify). */
    if (!s->active) {
        n.exit_task = s->exit_task ? s->exit_task : "";
        n.exit_why = !strcmp(n.state, "STOPPED") && !strcmp(j->execution_type, "STOP") ? "stop"
                   : s->exit_why ? s->exit_why : "";
    }
    /* An ended attempt's reason stays as first seen (a failed node that is
     * back would no longer be named). */
    if (!s->active && j->has_exit && n.launcher_id == j->launcher_id &&
        !strcmp(n.state, j->state))
        n.diagnostics = j->diagnostics;
    if (n.launcher_id == j->launcher_id && !sync_str_changed(n.state, j->state) &&
        !sync_str_changed(n.sub_state, j->sub_state) && !sync_str_changed(n.host, j->host) &&
        !sync_str_changed(n.hosts, j->hosts) &&
        n.launched == j->launched && n.completed == j->completed && n.has_exit == j->has_exit &&
        n.exit_code == j->exit_code && !sync_str_changed(n.diagnostics, j->diagnostics))
        return;
    if (!sync_save(env, p, j, &n, now_ms, rep))
        return;
    if (!j->launcher_id)
        rep->adopted++;
    rep->updated++;
}

/* One job of ours as the launcher sees it.  A job the user stopped must not
 * hold resources, whatever became of the STOP's own cancel. */
/* Expected starts already in the store, carried from cycle to cycle: a
 * pending job's is read from the store only when the last cycle did not see
 * it (a read for every pending job every cycle was most of a cycle's work
 * with thousands pending: 11,000 queries a second to MariaDB). */
typedef struct sync_waits {
    apr_hash_t *before;          /* the last cycle's, or NULL */
    apr_pool_t *pool;            /* this cycle's, or NULL: no memory */
    apr_hash_t *now;
} sync_waits;

static void sync_waits_begin(pai_sync_state *st, sync_waits *w)
{
    w->before = st->waits;
    w->now = NULL;
    if (apr_pool_create_unmanaged_ex(&w->pool, NULL, NULL) == APR_SUCCESS)
        w->now = apr_hash_make(w->pool);
    else
        w->pool = NULL;
}

/* keep: the cycle saw every job it lists (else what it saw is dropped and
 * the last cycle's kept). */
static void sync_waits_end(pai_sync_state *st, sync_waits *w, int keep)
{
    if (!w->pool)
        return;
    if (!keep) {
        apr_pool_destroy(w->pool);
        return;
    }
    if (st->waits_pool)
        apr_pool_destroy(st->waits_pool);
    st->waits_pool = w->pool;
    st->waits = w->now;
}

void pai_sync_state_forget(pai_sync_state *st)
{
    if (st->waits_pool)
        apr_pool_destroy(st->waits_pool);
    st->waits_pool = NULL;
    st->waits = NULL;
}

/* A pending job's expected start into the store when it changed. */
static void sync_wait_expected(const pai_jobs_env *env, apr_pool_t *p, sync_waits *w,
                               const pai_job_row *j, apr_int64_t expected_ms)
{
    const char *key = apr_psprintf(p, "%s\n%" APR_INT64_T_FMT, j->name, j->created);
    const apr_int64_t *known = w->before ? apr_hash_get(w->before, key, APR_HASH_KEY_STRING)
                                         : NULL;
    apr_int64_t stored = 0;
    apr_int64_t *keep;

    if (known)
        stored = *known;
    else if (pai_store_job_wait_get(env->db, p, j->name, j->created, &stored))
        return;
    if (stored != expected_ms &&
        pai_store_job_wait_set(env->db, p, j->name, j->created, expected_ms))
        return;
    if (w->now) {
        keep = apr_palloc(w->pool, sizeof(*keep));
        *keep = expected_ms;
        apr_hash_set(w->now, apr_pstrdup(w->pool, key), APR_HASH_KEY_STRING, keep);
    }
}

static void sync_job(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                     const pai_launch_status *s, apr_int64_t now_ms, pai_sync_report *rep,
                     sync_waits *w)
{
    const pai_launcher_ops *ops = env->launcher->ops;

    if (!strcmp(j->execution_type, "STOP") && s->active &&
        !ops->cancel(env->launcher->ctx, p, s->id, s->user))
        rep->cancelled++;
    /* A waiting job's expected start, for its pending view: written when it
     * changes (a write each cycle would cost every pending job). */
    if (s->active && s->wait_reason && *s->wait_reason)
        sync_wait_expected(env, p, w, j, s->expected_start_ms);
    sync_apply(env, p, j, s, now_ms, rep);
}

/* Each job the launcher holds, asked for by its id.  A list costs as much as
 * all the jobs the launcher still keeps (finished ones for MinJobAge, other
 * users' on a shared cluster), and any change anywhere makes it whole again;
 * a few jobs are cheaper one by one.  What the launcher does not know is left
 * to the next list. */
static pai_error *sync_poll(const pai_jobs_env *env, apr_pool_t *p,
                            const apr_array_header_t *active, apr_int64_t now_ms,
                            pai_sync_report *rep, sync_waits *w)
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
        if (!known || !sync_launch_is_ours(env, p, j, &s))
            continue;
        rep->listed++;
        sync_job(env, p, j, &s, now_ms, rep, w);
    }
    return NULL;
}

/* Whether the launcher's job s, which the active rows read at the start of
 * the cycle do not claim, is still no attempt of ours by the job's row as it
 * is now.  Those rows are older than the list: a submission, a START or
 * another server's admission pass (after a lease handover) may have
 * launched s since, and cancelling it would kill a job just started.  When
 * the store cannot tell, nothing is cancelled (the next cycle looks again). */
static int sync_orphan_confirmed(const pai_jobs_env *env, apr_pool_t *p,
                                 const pai_launch_status *s)
{
    pai_job_row *now = NULL;

    if (pai_store_job_get(env->db, p, s->job_name, &now))
        return 0;
    return !now || !sync_launch_is_ours(env, p, now, s);
}

pai_error *pai_sync_cycle(const pai_jobs_env *env, apr_pool_t *p, pai_sync_state *st,
                          apr_int64_t now_ms, pai_sync_report *rep)
{
    const pai_launcher_ops *ops = env->launcher->ops;
    apr_array_header_t *active, *listed;
    apr_hash_t *by_name, *seen;
    sync_waits w;
    apr_int64_t now_sec = now_ms / 1000, since;
    apr_time_t list_start;
    int unchanged = 0, i;
    pai_error *e;

    memset(rep, 0, sizeof(*rep));
    if ((e = pai_store_job_list_active(env->db, p, &active)))
        return e;
    st->cycles++;
    if (ops->status && st->last_list_sec &&
        (now_sec - st->last_list_sec < SYNC_LIST_EVERY_SEC ||
         (now_sec - st->last_list_sec) * 1000 < st->list_ms * SYNC_LIST_SPACING)) {
        int held = 0;
        for (i = 0; i < active->nelts; i++)
            held += APR_ARRAY_IDX(active, i, pai_job_row *)->launcher_id != 0;
        if (held <= SYNC_POLL_MAX) {
            sync_waits w;
            rep->polled = held > 0;
            sync_waits_begin(st, &w);
            e = sync_poll(env, p, active, now_ms, rep, &w);
            sync_waits_end(st, &w, !e);
            if (e)
                return e;
            sync_capacity(env, p, st, now_ms);
            sync_admit_queued(env, p, now_ms, rep);
            return NULL;
        }
    }

    /* Slurm answers "no change" for update_time at or after its last change, in
     * whole seconds: asking from two seconds back misses nothing. */
    since = (st->last_list_sec && (++st->lists % SYNC_FULL_EVERY)) ? st->last_list_sec - 2 : 0;
    list_start = apr_time_now();
    if ((e = ops->list(env->launcher->ctx, p, since, &unchanged, &listed)))
        return e;
    st->list_ms = apr_time_as_msec(apr_time_now() - list_start);
    st->last_list_sec = now_sec;
    sync_capacity(env, p, st, now_ms);
    if (unchanged) {
        sync_admit_queued(env, p, now_ms, rep);
        return NULL;
    }
    rep->listed = listed->nelts;
    sync_waits_begin(st, &w);

    by_name = apr_hash_make(p);
    seen = apr_hash_make(p);
    for (i = 0; i < active->nelts; i++) {
        pai_job_row *j = APR_ARRAY_IDX(active, i, pai_job_row *);
        apr_hash_set(by_name, j->name, APR_HASH_KEY_STRING, j);
    }
    for (i = 0; i < listed->nelts; i++) {
        pai_launch_status *s = &APR_ARRAY_IDX(listed, i, pai_launch_status);
        pai_job_row *j = apr_hash_get(by_name, s->job_name, APR_HASH_KEY_STRING);
        int ours = j && sync_launch_is_ours(env, p, j, s);

        if (!ours) {
            /* An orphan (its submission was given up) or a stale attempt of
             * ours must not hold resources.  A job merely labelled like ours
             * (anybody may set a comment) is not ours to adopt or cancel. */
            if (s->active && pai_launch_tag_valid(p, env->tag_key, env->tag_key_len, s->job_name,
                                                  s->attempt, s->user, s->tag) &&
                sync_orphan_confirmed(env, p, s) &&
                !ops->cancel(env->launcher->ctx, p, s->id, s->user))
                rep->cancelled++;
            continue;
        }
        apr_hash_set(seen, j->name, APR_HASH_KEY_STRING, j);
        sync_job(env, p, j, s, now_ms, rep, &w);
    }
    sync_waits_end(st, &w, 1);
    /* Active jobs the launcher does not know.  A write that fails here
     * leaves the row as it was: the next cycle finds it again. */
    for (i = 0; i < active->nelts; i++) {
        pai_job_row *j = APR_ARRAY_IDX(active, i, pai_job_row *);
        int saved = 0;
        if (apr_hash_get(seen, j->name, APR_HASH_KEY_STRING) || !strcmp(j->sub_state, "QUEUED") ||
            now_ms - j->submitted < JOB_SUBMIT_GRACE_MS)
            continue;
        if (!j->launcher_id && j->retries == 0 && !strcmp(j->sub_state, "SUBMITTING")) {
            /* Its request died before the launcher took it: the caller never
             * got a 201, so there is no job to keep. */
            (void)pai_store_job_delete_unsubmitted(env->db, p, j->name);
        }
        else if (!j->launcher_id) {
            /* A hand-over (START or the admission pass) that died midway. */
            j->sub_state = "QUEUED";
            (void)pai_store_job_save(env->db, p, j, j->retries, &saved);
        }
        else {
            pai_job_row before = *j;
            j->state = "FAILED";
            j->sub_state = "LOST";
            j->completed = now_ms;
            j->diagnostics = "the launcher no longer knows this job";
            j->exit_task = j->exit_why = "";
            (void)sync_save(env, p, &before, j, now_ms, rep);
        }
        rep->lost++;
    }
    sync_admit_queued(env, p, now_ms, rep);
    return NULL;
}

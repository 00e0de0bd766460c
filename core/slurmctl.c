/* Slurm's job list from slurmctld through libslurm (slurm_load_jobs): Slurm's
 * own binary protocol, about 150 times cheaper than slurmrestd's JSON for
 * the same list (bench/README.md), which the sync reads every cycle. */
#include <pthread.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include "slurmctl.h"

/* libslurm's names for a state and a reason, the ones slurmrestd prints. */
extern char *slurm_job_state_string(uint32_t inx);
extern const char *slurm_job_reason_string(int inx);

/* libslurm reads one slurm.conf for the whole process, once. */
static pthread_mutex_t slurmctl_lock = PTHREAD_MUTEX_INITIALIZER;
static char slurmctl_conf[4096];
/* Whether slurmctld shows this account every job (PrivateData=jobs hides
 * other accounts' from all but SlurmUser): 0 not known yet, 1 yes, -1 no. */
static int slurmctl_sees_all;

/* A list that silently lacks jobs would have the sync take them for lost:
 * asked once, of slurmctld's own configuration. */
static pai_error *slurmctl_check_visible(apr_pool_t *p, const char *conf)
{
    slurm_conf_t *cf = NULL;

    if (!slurmctl_sees_all) {
        if (slurm_load_ctl_conf((time_t)0, &cf) != SLURM_SUCCESS)
            return pai_error_make(p, PAI_ERR_LAUNCHER_DOWN, "slurmctld's configuration "
                                  "(libslurm, %s): %s", conf, slurm_strerror(slurm_get_errno()));
        slurmctl_sees_all = (cf->private_data & PRIVATE_DATA_JOBS) && getuid() != 0 &&
                            getuid() != cf->slurm_user_id ? -1 : 1;
        slurm_free_ctl_conf(cf);
    }
    return slurmctl_sees_all > 0 ? NULL
        : pai_error_make(p, PAI_ERR_LAUNCHER_BAD, "slurmctld hides other accounts' jobs from "
                         "this server's (PrivateData=jobs in %s): set PaiSlurmConf none",
                         conf);
}

static pai_error *slurmctl_init(apr_pool_t *p, const char *conf)
{
    pai_error *e = NULL;

    if (strlen(conf) >= sizeof(slurmctl_conf))
        return pai_error_make(p, PAI_ERR_INTERNAL, "PaiSlurmConf: path too long");
    if (!*slurmctl_conf) {
        slurm_init(conf);
        memcpy(slurmctl_conf, conf, strlen(conf) + 1);
    } else if (strcmp(slurmctl_conf, conf)) {
        e = pai_error_make(p, PAI_ERR_INTERNAL, "PaiSlurmConf: one slurm.conf per server "
                           "(%s, then %s)", slurmctl_conf, conf);
    }
    return e;
}

/* A job's account by its uid, as slurmrestd names it; libslurm leaves the
 * name out, and most jobs share a few accounts (users: uid -> name, or ""). */
static const char *slurmctl_user(apr_pool_t *p, apr_hash_t *users, uint32_t uid)
{
    const char *name = apr_hash_get(users, &uid, sizeof(uid));
    struct passwd pw, *pwp = NULL;
    char buf[1024];
    uint32_t *key;

    if (name)
        return *name ? name : NULL;
    name = getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp
        ? apr_pstrdup(p, pwp->pw_name) : "";
    key = apr_pmemdup(p, &uid, sizeof(uid));
    apr_hash_set(users, key, sizeof(*key), name);
    return *name ? name : NULL;
}

pai_error *pai_slurmctl_jobs(apr_pool_t *p, const char *conf, apr_int64_t since,
                             int *unchanged, pai_slurm_job_fn fn, void *ctx)
{
    job_info_msg_t *msg = NULL;
    pai_error *e;
    apr_hash_t *users = apr_hash_make(p);
    uint32_t i;
    int rc;

    *unchanged = 0;
    pthread_mutex_lock(&slurmctl_lock);
    if ((e = slurmctl_init(p, conf)) || (e = slurmctl_check_visible(p, conf))) {
        pthread_mutex_unlock(&slurmctl_lock);
        return e;
    }
    rc = slurm_load_jobs((time_t)(since > 0 ? since : 0), &msg, SHOW_ALL);
    if (rc != SLURM_SUCCESS) {
        int err = slurm_get_errno();
        pthread_mutex_unlock(&slurmctl_lock);
        if (err == SLURM_NO_CHANGE_IN_DATA) {
            *unchanged = 1;
            return NULL;
        }
        return pai_error_make(p, err == SLURMCTLD_COMMUNICATIONS_CONNECTION_ERROR ||
                              err == SLURM_COMMUNICATIONS_CONNECTION_ERROR
                              ? PAI_ERR_LAUNCHER_DOWN : PAI_ERR_LAUNCHER_BAD,
                              "slurmctld's job list (libslurm, %s): %s", conf,
                              slurm_strerror(err));
    }
    pthread_mutex_unlock(&slurmctl_lock);
    for (i = 0; i < msg->record_count; i++) {
        const slurm_job_info_t *ji = &msg->job_array[i];
        pai_slurm_job j;

        /* Which jobs are ours is the launcher's to say (their comment). */
        memset(&j, 0, sizeof(j));
        j.job_id = ji->job_id;
        j.job_state = slurm_job_state_string(ji->job_state);
        j.state_reason = slurm_job_reason_string(ji->state_reason);
        j.comment = ji->comment;
        j.batch_host = ji->batch_host;
        j.user_name = ji->user_name ? ji->user_name : slurmctl_user(p, users, ji->user_id);
        j.nodes = ji->nodes;
        j.exit_code = ji->exit_code;
        j.submit_time = ji->submit_time;
        j.start_time = ji->start_time;
        j.end_time = ji->end_time;
        if (fn(ctx, &j))
            break;
    }
    slurm_free_job_info_msg(msg);
    return NULL;
}

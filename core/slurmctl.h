/* Slurm's job list read from slurmctld through libslurm: the sync's cheap
 * list when this server is one of the cluster's Slurm clients (PaiSlurmConf). */
#ifndef PAI_SLURMCTL_H
#define PAI_SLURMCTL_H

#include <apr_pools.h>
#include "err.h"

/* One job as Slurm describes it: the fields of slurmrestd's list (v0.0.38)
 * the launcher reads, under their names there, spelt as Slurm spells them,
 * so that both lists give the same statuses. */
typedef struct pai_slurm_job {
    apr_int64_t job_id;
    const char *job_state;       /* "RUNNING", "COMPLETING", ... */
    const char *state_reason;    /* "None", "Resources", ... */
    const char *comment;         /* NULL: none */
    const char *batch_host, *user_name, *nodes;   /* NULL: none */
    apr_int64_t exit_code;       /* a wait status */
    apr_int64_t submit_time, start_time, end_time;  /* seconds since the epoch; 0: none */
} pai_slurm_job;

/* Returns 0 to go on. The job's strings last until it returns. */
typedef int (*pai_slurm_job_fn)(void *ctx, const pai_slurm_job *job);

/* Calls fn with each job slurmctld keeps, read with the slurm.conf at conf
 * (one for the process: libslurm's configuration is global). With since > 0
 * and nothing changed since then, sets *unchanged and calls nothing. */
pai_error *pai_slurmctl_jobs(apr_pool_t *p, const char *conf, apr_int64_t since,
                             int *unchanged, pai_slurm_job_fn fn, void *ctx);

#endif

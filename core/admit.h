/* Admission: whether a job's attempt may go to the launcher now, and the
 * hand-over of an admitted attempt.  Used by the commands (jobs.c) and the
 * sync's admission pass (sync.c). */
#ifndef PAI_ADMIT_H
#define PAI_ADMIT_H

#include <apr_hash.h>
#include "jobs.h"
#include "jobspec.h"
#include "placement.h"
#include "vc.h"

/* A random base for the job's task ports inside the range. */
int pai_admit_port_base(const pai_jobs_env *env, const pai_jobspec *s);
/* Moves j on to a fresh attempt, QUEUED for admission. */
void pai_admit_new_attempt(const pai_jobs_env *env, pai_job_row *j, const pai_jobspec *spec,
                           apr_int64_t now_ms);
/* The job's parsed config (read from the store when the row has none). */
pai_error *pai_admit_spec_of(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                             pai_jobspec **spec);
/* The owner's account must be one that may run jobs (403 saying why not);
 * the attempt gets a fresh launch tag, recorded in j. */
pai_error *pai_admit_prepare(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j);

/* The launcher's cluster size, kept in the store. */
pai_error *pai_admit_capacity_refresh(const pai_jobs_env *env, apr_pool_t *p,
                                      apr_int64_t now_ms, pai_capacity *c);
/* The cluster's size: stored by the sync; asked of the launcher if unknown. */
pai_error *pai_admit_capacity(const pai_jobs_env *env, apr_pool_t *p, pai_capacity *c);
/* What each VC holds and waits for: VC name -> pai_vc_usage. */
pai_error *pai_admit_usage(const pai_jobs_env *env, apr_pool_t *p, apr_hash_t **out);
/* 400 when j can never fit its VC or the nodes; *c the cluster's size and
 * *pl where its tasks go. */
pai_error *pai_admit_check_fits(const pai_jobs_env *env, apr_pool_t *p, const pai_job_row *j,
                                const pai_jobspec *spec, pai_capacity *c, pai_placement **pl);
/* Under the admission lock: whether j may go to the launcher now, first come
 * first served within its VC (behind_queue: a request's job, which also
 * counts against its user's limits and goes behind its VC's queue).  Writes
 * j (insert, or save expecting expected_retries) with sub-state go_state
 * when admitted, QUEUED when not. */
pai_error *pai_admit(const pai_jobs_env *env, apr_pool_t *p, const pai_capacity *c,
                     pai_job_row *j, int insert, int expected_retries, int behind_queue,
                     const char *go_state, int *admitted);
/* Hands the admitted attempt j to the launcher, its tasks placed as pl says,
 * and records the launcher's id. */
pai_error *pai_admit_launch(const pai_jobs_env *env, apr_pool_t *p, pai_job_row *j,
                            const pai_jobspec *spec, const pai_placement *pl);

#endif

/* How an attempt ended, in the shape of OpenPAI's job exit spec: our own
 * table mapping Slurm's outcomes and the batch script's word on the first
 * failing task to a code, who caused it, and whether it is retried. */
#ifndef PAI_EXITSPEC_H
#define PAI_EXITSPEC_H

#include <apr_pools.h>
#include <jansson.h>

typedef struct pai_exit_spec {
    int code;                    /* the spec's code; a user command's own exit code
                                  * for a plain non-zero exit (see pai_exit_spec_json) */
    const char *phrase;
    const char *issuer, *causer, *type, *stage, *behavior, *reaction;
    const char *reason;
    const char *repro;           /* one way to get it (OpenPAI lists steps) */
} pai_exit_spec;

/* An ended attempt's spec: state (SUCCEEDED FAILED STOPPED UNKNOWN), the
 * launcher's word (NODE_FAIL, TIMEOUT, LOST, REFUSED, ...), its exit code and
 * the batch script's word on its first failing task (oom, nostart, folder,
 * image-..., runtime, exitN; "" or NULL: none; for a task, "ended": the
 * completion rule ended it, and its state is STOPPED); stop_requested: a STOP
 * of this server ended it (else a STOPPED attempt was cancelled in Slurm
 * by someone else).  NULL while it runs. */
const pai_exit_spec *pai_exit_classify(const char *state, const char *sub_state,
                                       int has_exit, int exit_code, const char *why,
                                       int stop_requested);

/* A failure of the platform that another attempt may not meet (a node lost,
 * a step that never started, a job the launcher lost): retried without
 * counting against the job's retryCount. */
int pai_exit_platform_transient(const pai_exit_spec *s);

/* The spec as v1.8 shows it (appExitSpec); exit_code is the attempt's own,
 * shown as the code of a plain non-zero exit.  NULL spec: JSON null. */
json_t *pai_exit_spec_json(const pai_exit_spec *s, int exit_code);

/* One line for a task's word on why it failed ("" when none is known). */
const char *pai_exit_why_text(apr_pool_t *p, const char *why, const char *image);

/* Automatic retries after platform failures stop after this many per job:
 * a node that fails every job placed on it must not retry a job forever. */
#define PAI_EXIT_PLATFORM_RETRIES_MAX 5

#endif

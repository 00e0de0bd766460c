/* The words behind a waiting job's "pending" object: Slurm's reason codes
 * (squeue's %r) as sentences a user can act on, and the VC queue's. */
#include <string.h>
#include <apr_strings.h>
#include "pending.h"

/* Slurm 22.05's reasons a pending job gives most (slurm.h's job_state_reason),
 * the rest by the generic entry below. */
static const pai_slurm_reason pending_reasons[] = {
    {"None", "Slurm has not looked at the job yet",
     "nothing: its scheduler considers it within seconds", 0},
    {"Resources", "the nodes it needs are busy with other jobs",
     "jobs running on those nodes ending", 0},
    {"Priority", "jobs of higher priority wait for the same nodes",
     "those jobs starting first", 0},
    {"ReqNodeNotAvail", "a node it needs is down, drained or reserved",
     "an admin bringing the node back, or no longer asking for it", 1},
    {"PartitionNodeLimit", "it asks for more nodes than its partition allows",
     "asking for fewer nodes (or an admin raising the partition's limit)", 1},
    {"PartitionTimeLimit", "it asks for more time than its partition allows",
     "asking for less time (or an admin raising the partition's limit)", 1},
    {"PartitionDown", "its partition is down", "an admin bringing the partition up", 1},
    {"PartitionInactive", "its partition is inactive", "an admin activating the partition", 1},
    {"NodeDown", "a node it needs is down", "an admin bringing the node back", 1},
    {"BadConstraints", "no node matches what it asks for",
     "asking for resources some node has", 1},
    {"JobHeldUser", "it is held by its user", "releasing it (scontrol release)", 1},
    {"JobHeldAdmin", "an admin holds it", "an admin releasing it", 1},
    {"Dependency", "it waits for another job to finish", "that job finishing", 0},
    {"DependencyNeverSatisfied", "the job it depends on can never satisfy it",
     "nothing: stop it and submit it again", 1},
    {"BeginTime", "it may not start before its begin time", "that time coming", 0},
    {"Reservation", "it waits for its reservation to begin", "the reservation beginning", 0},
    {"Licenses", "the licenses it needs are in use", "other jobs releasing them", 0},
    {"QOSMaxCpuPerUserLimit", "its user already holds the most CPUs the QOS allows",
     "the user's other jobs ending", 0},
    {"QOSMaxGRESPerUser", "its user already holds the most GPUs the QOS allows",
     "the user's other jobs ending", 0},
    {"AssocGrpCpuLimit", "its account already holds the most CPUs it may",
     "the account's other jobs ending", 0},
    {"AssocGrpGRES", "its account already holds the most GPUs it may",
     "the account's other jobs ending", 0},
    {"AssocMaxJobsLimit", "its account runs as many jobs as it may",
     "the account's other jobs ending", 0},
    {"launch_failed_requeued_held", "its launch failed and Slurm holds it",
     "an admin looking at the node, then releasing it", 1},
    {"JobLaunchFailure", "its launch failed", "an admin looking at the node", 1},
    {"Prolog", "the nodes are preparing it (its image is being pulled)",
     "the preparation ending", 0},
    {"Cleaning", "it waits for its earlier run to be cleaned up", "the cleanup ending", 0},
};

const pai_slurm_reason *pai_pending_slurm_reason(apr_pool_t *p, const char *code)
{
    pai_slurm_reason *other;
    size_t i;

    for (i = 0; i < sizeof(pending_reasons) / sizeof(pending_reasons[0]); i++)
        if (code && !strcmp(pending_reasons[i].code, code))
            return &pending_reasons[i];
    other = apr_pcalloc(p, sizeof(*other));
    other->code = code && *code ? code : "None";
    other->why = apr_psprintf(p, "Slurm holds it (reason %s)", other->code);
    other->release = "what Slurm's reason names (an admin can say more: squeue --start)";
    other->warning = 1;
    return other;
}

json_t *pai_pending_vc(apr_pool_t *p, const char *vc, int position, const pai_demand *need,
                       const pai_demand *headroom)
{
    int ahead = position > 1;
    const char *msg = apr_psprintf(
        p, "It waits in virtual cluster %s's queue%s: it needs %" APR_INT64_T_FMT " CPUs, %"
        APR_INT64_T_FMT " MB and %" APR_INT64_T_FMT " GPUs, and %s can take %" APR_INT64_T_FMT
        " CPUs, %" APR_INT64_T_FMT " MB and %" APR_INT64_T_FMT " GPUs more now. It starts when "
        "%s%s's running jobs end and free enough (or an admin gives %s a larger share).",
        vc, ahead ? apr_psprintf(p, " behind %d older job%s", position - 1,
                                 position > 2 ? "s" : "") : "",
        need->cpus, need->memory_mb, need->gpus, vc, headroom->cpus, headroom->memory_mb,
        headroom->gpus, ahead ? "the jobs ahead of it have started and " : "", vc, vc);

    return json_pack("{s:s, s:s, s:s, s:i, s:{s:I, s:I, s:I}, s:n}", "source", "vc",
                     "reason", ahead ? "VirtualClusterQueue" : "VirtualClusterFull",
                     "message", msg, "queuePosition", position, "vcHeadroom",
                     "cpu", (json_int_t)headroom->cpus, "memory", (json_int_t)headroom->memory_mb,
                     "gpu", (json_int_t)headroom->gpus, "estimatedStartTime");
}

json_t *pai_pending_slurm(apr_pool_t *p, const char *code, apr_int64_t expected_start_ms)
{
    const pai_slurm_reason *r = pai_pending_slurm_reason(p, code);
    const char *msg = apr_psprintf(p, "Slurm has the job and holds it: %s. What releases it: %s.",
                                   r->why, r->release);

    return json_pack("{s:s, s:s, s:s, s:n, s:n, s:o}", "source", "slurm", "reason", r->code,
                     "message", msg, "queuePosition", "vcHeadroom", "estimatedStartTime",
                     expected_start_ms > 0 ? json_integer(expected_start_ms) : json_null());
}

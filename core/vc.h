/* Virtual clusters as quota shares of the cluster (YARN capacity-scheduler
 * style): who may be admitted now, and the figures GET /virtual-clusters shows. */
#ifndef PAI_VC_H
#define PAI_VC_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include "launcher.h"
#include "store.h"
#include "json.h"

typedef struct pai_demand {
    apr_int64_t cpus, memory_mb, gpus;
} pai_demand;

/* What a VC holds now: admitted = handed to the launcher and not finished;
 * queued = waiting inside mod_pairest; waiting = queued + pending in Slurm. */
typedef struct pai_vc_usage {
    pai_demand admitted;
    int n_admitted, n_queued, n_waiting;
} pai_vc_usage;

/* NULL when the job can ever fit its VC (maxCapacity of the cluster), else a
 * 400 that says which resource. */
pai_error *pai_vc_check_fits(apr_pool_t *p, const pai_capacity *cluster, const pai_vc *vc,
                             const pai_demand *d);
/* Whether a job of `vc` with demand d may be handed to the launcher now.
 * usage: VC name -> pai_vc_usage (absent = nothing). */
int pai_vc_admissible(const pai_capacity *cluster, const apr_array_header_t *vcs,
                      apr_hash_t *usage, const char *vc, const pai_demand *d);
/* What more the VC `vc` could be admitted now, per resource (what
 * pai_vc_admissible allows: maxCapacity's room, and the guarantee's or the
 * idle room no waiting VC is owed, whichever is larger). */
void pai_vc_headroom(const pai_capacity *cluster, const apr_array_header_t *vcs,
                     apr_hash_t *usage, const char *vc, pai_demand *out);
/* The configured VCs made whole: `default` added with what the others leave
 * (vcs may be NULL: just `default`).  NULL, or why the set cannot be. */
const char *pai_vc_complete(apr_pool_t *p, apr_array_header_t **vcs);

/* The seed's view of one VC. */
json_t *pai_vc_view(const pai_capacity *cluster, const pai_vc *vc, const pai_vc_usage *u);
/* The same for /api/v2, with OpenPAI v1.8's fields added: dedicated, and
 * resourcesUsed, resourcesGuaranteed (capacity's whole units) and
 * resourcesTotal (maxCapacity's), each {cpu, memory, gpu, vCores, GPUs}. */
json_t *pai_vc_view_v2(const pai_capacity *cluster, const pai_vc *vc, const pai_vc_usage *u);
/* OpenPAI's SKU types from the nodes' shapes: per GPU type (Slurm's GRES
 * type; "gpu" when Slurm names none) the CPUs and memory that come with one
 * GPU, and "cpu" for nodes without GPUs (per CPU): {"<sku>": {cpu, memory, gpu}}. */
json_t *pai_vc_sku_types(const pai_capacity *cluster);

#endif

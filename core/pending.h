/* Why a job waits, in plain words: its virtual cluster's queue, or Slurm's
 * reason code mapped to a sentence and what would release it. */
#ifndef PAI_PENDING_H
#define PAI_PENDING_H

#include <apr_pools.h>
#include "json.h"
#include "vc.h"

typedef struct pai_slurm_reason {
    const char *code;      /* Slurm's state_reason */
    const char *why;       /* what holds the job */
    const char *release;   /* what would release it */
    int warning;           /* 1: it needs someone to act (an event of type Warning) */
} pai_slurm_reason;

/* The table's entry for a Slurm reason code; an unknown code gets a generic
 * entry (naming the code), never NULL. */
const pai_slurm_reason *pai_pending_slurm_reason(apr_pool_t *p, const char *code);

/* {source:"vc", reason:"VirtualClusterQueue"|"VirtualClusterFull", message,
 *  queuePosition, vcHeadroom:{cpu,memory,gpu}, estimatedStartTime:null}:
 * a job held in its VC's queue at position (1: next), needing need, while
 * the VC could take headroom more now. */
json_t *pai_pending_vc(apr_pool_t *p, const char *vc, int position, const pai_demand *need,
                       const pai_demand *headroom);
/* {source:"slurm", reason:<code>, message, queuePosition:null, vcHeadroom:null,
 *  estimatedStartTime: ms or null}. */
json_t *pai_pending_slurm(apr_pool_t *p, const char *code, apr_int64_t expected_start_ms);

#endif

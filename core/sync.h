/* The background sync: one call is one cycle that brings the store in step
 * with the launcher and admits queued jobs.  State is kept between cycles. */
#ifndef PAI_SYNC_H
#define PAI_SYNC_H

#include "jobs.h"

typedef struct pai_sync_state {
    apr_int64_t last_list_sec;   /* when the launcher was last listed */
    apr_int64_t list_ms;         /* how long that list took */
    int cycles;                  /* sync cycles so far */
    int lists;                   /* of which listed the launcher */
    /* The pending jobs' expected starts as the last cycle read or wrote
     * them ("name\ncreated" -> apr_int64_t), in a pool of their own. */
    apr_pool_t *waits_pool;
    apr_hash_t *waits;
} pai_sync_state;

/* Forgets what st remembers of the store: for a server that (again) takes
 * the loop over, whose store another server may have written meanwhile. */
void pai_sync_state_forget(pai_sync_state *st);

typedef struct pai_sync_report {
    int listed, updated, adopted, cancelled, resubmitted, admitted, lost;
    int polled;                  /* 1: the launcher's jobs were asked for one by one */
} pai_sync_report;

pai_error *pai_sync_cycle(const pai_jobs_env *env, apr_pool_t *p, pai_sync_state *st,
                          apr_int64_t now_ms, pai_sync_report *rep);

/* How long the sync lease lasts for a sync run every interval_ms: a few
 * missed renewals, then another server takes the loop over. */
apr_int64_t pai_sync_lease_ttl_ms(apr_int64_t interval_ms);

#endif

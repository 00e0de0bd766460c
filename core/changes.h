/* The change stream (GET /api/v2/events/stream): job state changes as
 * Server-Sent Events, each process keeping a window of the latest changes
 * that one reader thread per process fills from the store for all of them. */
#ifndef PAI_CHANGES_H
#define PAI_CHANGES_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "store.h"

#define PAI_CHANGE_WINDOW 4096     /* changes a process keeps in memory */
#define PAI_CHANGE_POLL_MS 250     /* how often a process reads new changes */
/* How long an id missing between two seen ones is waited for: the write of
 * another server's transaction still open (MySQL hands ids out at insert,
 * in the order writes began, not the order they commit). */
#define PAI_CHANGE_GAP_MS 5000
#define PAI_CHANGE_BATCH 500       /* rows a read of the store takes at most */

/* What a watcher asked for (NULL: any); the caller has bounded it to what
 * it may see. */
typedef struct pai_change_filter {
    const char *username;
    const char *vc;
    const char *job;               /* the job's name (its frameworkName's second half) */
} pai_change_filter;

int pai_change_match(const pai_change_filter *f, const char *username, const char *vc,
                     const char *name);
/* A change as the stream and webhooks tell it (a new reference). */
json_t *pai_change_data(apr_pool_t *p, const pai_change *c);
/* One change as its event: "id: N\nevent: job\ndata: {...}\n\n". */
const char *pai_change_frame(apr_pool_t *p, const pai_change *c);

typedef struct pai_change_hub pai_change_hub;

/* A hub lives as long as pool (its window is freed with it). */
pai_error *pai_change_hub_create(apr_pool_t *pool, int window, pai_change_hub **out);
/* Reads what the store has after the hub's last change into the window and
 * wakes every watcher; the first read starts at the store's last change.
 * One caller at a time (the process's reader); *more: read again at once. */
pai_error *pai_change_hub_poll(pai_change_hub *h, pai_db *db, apr_pool_t *p, apr_int64_t now_ms,
                               int *more);
/* The frames after *cursor that f matches (at most max), copied to frames
 * (const char *), *cursor moved past every change looked at.  Returns 1 when
 * changes after *cursor have left the window (read them from the store with
 * pai_change_catch_up), else 0. */
int pai_change_hub_read(pai_change_hub *h, apr_pool_t *p, apr_int64_t *cursor,
                        const pai_change_filter *f, int max, apr_array_header_t *frames);
/* Waits until the hub has a change after cursor, or for at most wait. */
void pai_change_hub_wait(pai_change_hub *h, apr_int64_t cursor, apr_interval_time_t wait);
/* Where the window starts: changes up to it are read from the store. */
apr_int64_t pai_change_hub_floor(pai_change_hub *h);

/* From the store: the frames after *cursor up to `until` that f matches, a
 * batch at most; *cursor moves past every row read; *more says there is more. */
pai_error *pai_change_catch_up(pai_db *db, apr_pool_t *p, apr_int64_t *cursor, apr_int64_t until,
                               const pai_change_filter *f, apr_array_header_t *frames, int *more);

#endif

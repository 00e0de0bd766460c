/* A job's events (OpenPAI v1.8's GET /api/v2/jobs/{user}~{job}/events): what
 * happened to each attempt and task, recorded by whoever wrote the change. */
#ifndef PAI_EVENTS_H
#define PAI_EVENTS_H

#include <apr_pools.h>
#include "store.h"
#include "json.h"

#define PAI_EVENT_NORMAL "Normal"
#define PAI_EVENT_WARNING "Warning"
#define PAI_EVENT_MESSAGE_MAX 1000

/* Records an event of j's current attempt (task_role NULL: of the job).
 * Best effort: the change it tells of is stored already, and a lost event
 * must not undo it. */
void pai_event_record(pai_db *db, apr_pool_t *p, const pai_job_row *j, const char *task_role,
                      int task_index, const char *type, const char *reason, const char *source,
                      apr_int64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 10, 11)));

/* The events a saved change of j tells (the sync's): Slurm's pending reason,
 * the start on its nodes, the end. */
void pai_event_transition(pai_db *db, apr_pool_t *p, const pai_job_row *before,
                          const pai_job_row *after, apr_int64_t now_ms);

/* ms since the epoch as ISO 8601 in UTC with milliseconds. */
const char *pai_event_iso(apr_pool_t *p, apr_int64_t ms);

/* v1.8's answer: {"totalCount", "data": [{frameworkName, attemptId,
 * taskroleName, taskName, taskIndex, type, reason, message, firstTimestamp,
 * lastTimestamp (ISO 8601), count, sourceComponent, sourceHost}]}; type NULL:
 * both types. */
json_t *pai_event_list_json(apr_pool_t *p, const char *username, const char *name,
                            const apr_array_header_t *events, const char *type);

#endif

/* A task's log files, opened safely for httpd to send: the job's folders
 * belong to the job's account, which may have planted anything in them. */
#ifndef PAI_TASKLOG_H
#define PAI_TASKLOG_H

#include <apr_pools.h>
#include <apr_file_io.h>
#include "err.h"

/* What the client may read of a task: its names in v1.8's log list. */
#define PAI_TASKLOG_STDOUT "stdout"
#define PAI_TASKLOG_STDERR "stderr"
#define PAI_TASKLOG_ALL "all"
/* tail-mode's size, as OpenPAI's log manager. */
#define PAI_TASKLOG_TAIL_BYTES 16384

typedef struct pai_tasklog_where {
    const char *root;          /* PaiJobLogDir (trusted: root's) */
    const char *account;       /* the job's Unix account */
    const char *job;           /* the job's name */
    apr_int64_t job_created;   /* ms: the folder's .pai-created must say it */
    int attempt;               /* the job attempt's folder, attempt-<n> */
    const char *task;          /* <role>-<index> */
    const char *which;         /* PAI_TASKLOG_STDOUT, _STDERR or _ALL */
} pai_tasklog_where;

/* The file's name in the attempt folder for a v1.8 log name; NULL: no such log. */
const char *pai_tasklog_file(apr_pool_t *p, const char *task, const char *which);

/* Opens the log read-only: every folder on the way is opened without
 * following a link and must be a folder of the account; the file must be a
 * regular file of the account (no link, FIFO or device: opened non-blocking,
 * so a FIFO cannot hold the caller).  The file is closed with p.  An error
 * (NoTaskLogError) says what is wrong, never the content of anything else;
 * *absent then says whether the file or a folder on its way is only not
 * there yet (a task that has just started has not made them). */
pai_error *pai_tasklog_open(apr_pool_t *p, const pai_tasklog_where *w, apr_file_t **f,
                            apr_off_t *size, int *absent);

/* The part [offset, offset+length) of a file of size bytes that a query asks
 * for: tail (bytes from the end, -1: all) and tail_mode (the last 16 KiB). */
void pai_tasklog_span(apr_off_t size, apr_int64_t tail, int tail_mode, apr_off_t *offset,
                      apr_off_t *length);

#endif

/* What mod_pairest needs of a launcher, whatever runs the jobs: submit, cancel,
 * the status of every job it knows, and the cluster's capacity.  Only a
 * launcher_*.c file knows its launcher's wire format. */
#ifndef PAI_LAUNCHER_H
#define PAI_LAUNCHER_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "err.h"
#include "jobspec.h"
#include "placement.h"
#include "unixacct.h"

typedef struct pai_launch {
    const pai_jobspec *spec;
    const char *username;        /* the PAI user who owns the job */
    apr_int64_t job_created;     /* the job's submission (ms): its folder is told from
                                  * that of a deleted job of the same name */
    int attempt;                 /* 0 for the first run, then one more per retry/START */
    int port_base;               /* first port of this attempt's range */
    const char *ssh_public_key;  /* NULL: tasks start no sshd */
    const char *report_url;      /* the job on this server (.../api/v1/jobs/<name>): tasks
                                  * POST their sshd's address to ssh/report under it, and
                                  * their start and end to tasks/report */
    const char *report_secret;   /* this attempt's secret for those reports */
    const char *tag;             /* this attempt's tag (pai_launch_tag_make): the sync
                                  * adopts only launcher jobs that carry it */
    const pai_placement *placement;  /* which of the allocation's nodes holds each task */
} pai_launch;

typedef struct pai_launch_status {
    apr_int64_t id;
    const char *job_name;        /* from the tag the launcher keeps for us */
    int attempt;
    const char *tag;             /* the attempt's tag as the launcher keeps it ("": none) */
    const char *state;           /* WAITING RUNNING SUCCEEDED FAILED STOPPED UNKNOWN */
    const char *sub_state;       /* the launcher's own word */
    int active;                  /* holds or waits for resources */
    apr_int64_t submit_ms, start_ms, end_ms;
    int has_exit;
    int exit_code;               /* the job's exit code, not a wait status */
    const char *diagnostics;
    const char *host;            /* address of the node running the batch script, or "" */
    const char *hosts;           /* addresses of the job's nodes in allocation order, comma
                                  * list (pai_placement slots index it), or "" */
    const char *user;            /* the account the job runs as */
    const char *exit_task;       /* an ended job's first failing task, "role-index" (NULL: none
                                  * known) */
    const char *exit_why;        /* the batch script's word on it (pai_exit_classify) */
    const char *wait_reason;     /* a waiting job: the launcher's reason code ("": none) */
    apr_int64_t expected_start_ms; /* a waiting job: when the launcher expects to start it
                                  * (0: it has no estimate) */
} pai_launch_status;

typedef struct pai_capacity {
    int nodes;
    apr_int64_t cpus, memory_mb, gpus;
    pai_node_shapes shapes;      /* the nodes' sizes, for placement */
} pai_capacity;

typedef struct pai_launcher_ops {
    const char *name;
    pai_error *(*submit)(void *ctx, apr_pool_t *p, const pai_launch *l, apr_int64_t *id);
    /* Cancelling a job the launcher no longer knows is a success.  account:
     * the Unix account the job runs as (pai_launch_status.user, or the
     * account op's answer); the cancel is made as that account. */
    pai_error *(*cancel)(void *ctx, apr_pool_t *p, apr_int64_t id, const char *account);
    /* Every job of ours the launcher knows (pai_launch_status).  With since > 0
     * and nothing changed since then, *unchanged is set and out is empty. */
    pai_error *(*list)(void *ctx, apr_pool_t *p, apr_int64_t since, int *unchanged,
                       apr_array_header_t **out);
    pai_error *(*capacity)(void *ctx, apr_pool_t *p, pai_capacity *out);
    /* One job by its id; *known is 0 when the launcher no longer has it.  May be
     * NULL: the sync then lists every cycle. */
    pai_error *(*status)(void *ctx, apr_pool_t *p, apr_int64_t id, pai_launch_status *out,
                         int *known);
    /* The account a PAI user's jobs run as, or 403 saying why they may not
     * run (no such account, a system or service account, root). */
    pai_error *(*account)(void *ctx, apr_pool_t *p, const char *pai_user, const char **account);
} pai_launcher_ops;

typedef struct pai_launcher {
    const pai_launcher_ops *ops;
    void *ctx;
} pai_launcher;

typedef struct pai_slurm_conf {
    const char *url;             /* unix:/path/slurmrestd.sock or http(s)://host:port */
    const unsigned char *jwt_key;/* Slurm's auth/jwt key: tokens are minted per call */
    apr_size_t jwt_key_len;
    const char *job_user;        /* the Unix account jobs run as (the service account) */
    int per_user;                /* 1: each job runs as its PAI user's same-named account */
    const char *partition;
    long timeout_ms;
    const char *log_dir;         /* job folders on the nodes: <log_dir>/<account>/<job>/attempt-<n> */
    pai_account_policy policy;   /* which accounts same-name may map to */
    int containers;              /* 1: each task runs in the job's image (rootless runc) */
    const char *report_ca;       /* CA file the tasks verify PaiSSHReportURL with (NULL:
                                  * the nodes' own trust store) */
    const char *ctl_conf;        /* slurm.conf: the job list is read from slurmctld
                                  * through libslurm (NULL: through slurmrestd) */
} pai_slurm_conf;

pai_error *pai_launcher_slurm_create(apr_pool_t *p, const pai_slurm_conf *c,
                                     pai_launcher **out);
/* The bash script an attempt runs in its allocation: one srun step per task
 * and the completion rule (unit tests run it with a stand-in srun). */
const char *pai_slurm_batch_script(apr_pool_t *p, const pai_slurm_conf *c, const pai_launch *l);
/* The Unix account a PAI user's jobs run as (the mapping alone; the
 * launcher's account op also checks that it may be used). */
const char *pai_slurm_account(const pai_slurm_conf *c, const char *pai_user);
/* <log_dir>/<account>: the account's own folder, made by Slurm's prolog. */
const char *pai_slurm_account_dir(apr_pool_t *p, const pai_slurm_conf *c, const char *account);

/* Slurm's hostlist ("pai-n[1-3,5],login") as names in order; 0 when
 * malformed or longer than max. */
int pai_slurm_hostlist_expand(apr_pool_t *p, const char *list, int max,
                              apr_array_header_t **out);

/* Ports of one task: the k-th port of label `port` of task `task` of role `role`.
 * Shared by the launcher (the environment) and the status view. */
int pai_task_port(const pai_jobspec *s, int port_base, int role, int task, int port, int k);
/* The port of a task's sshd. */
int pai_task_ssh_port(const pai_jobspec *s, int port_base, int role, int task);
/* How many consecutive ports an attempt reserves from port_base. */
int pai_job_port_span(const pai_jobspec *s);

#endif

/* OpenPAI job configs: validation of every field, defaults, and the resource
 * demand of a job.  A parsed config is what the launcher runs. */
#ifndef PAI_JOBSPEC_H
#define PAI_JOBSPEC_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "json.h"

#define PAI_JOB_NAME_MAX 128
#define PAI_ROLE_NAME_MAX 64
/* Bounds on every list and string of a job config, so that the largest
 * accepted config costs a bounded, known amount to check, store and run. */
#define PAI_ROLES_MAX 100             /* taskRoles */
#define PAI_TASKS_MAX 1000            /* tasks in all */
#define PAI_PORT_LABELS_MAX 32        /* portList entries of a role */
#define PAI_TASK_PORTS_MAX 100        /* ports of one task, all labels */
#define PAI_ENVS_MAX 256              /* jobEnvs entries */
#define PAI_ENV_VALUE_MAX 32768       /* bytes of one jobEnvs value */
#define PAI_ENVS_BYTES_MAX 262144     /* bytes of all jobEnvs names and values */
#define PAI_COMMAND_MAX 65536         /* bytes of a role's command */
#define PAI_PATH_MAX 4096             /* image, authFile, dataDir, outputDir, codeDir */
#define PAI_TASK_ENV_BYTES_MAX 1048576  /* a task's environment: jobEnvs and the PAI_* lists */

typedef struct pai_port_spec {
    const char *label;
    int begin_at;        /* 0: any port */
    int count;
    int offset;          /* the label's first slot within a task's ports */
} pai_port_spec;

typedef struct pai_task_role {
    const char *name;
    int task_number;
    int cpu_number;
    int memory_mb;
    int shm_mb;
    int gpu_number;
    apr_array_header_t *ports;    /* pai_port_spec */
    const char *command;
    int min_failed;               /* 0: null (never fails early) */
    int min_succeeded;            /* 0: null (all tasks) */
    int first_task;               /* the job-wide index of the role's task 0 */
} pai_task_role;

typedef struct pai_jobspec {
    const char *job_name;
    const char *image;
    const char *auth_file, *data_dir, *output_dir, *code_dir;
    const char *virtual_cluster;
    const char *gpu_type;
    int retry_count;              /* -2, -1 (forever) or >= 0 */
    json_t *job_envs;             /* object of strings */
    apr_array_header_t *roles;    /* pai_task_role */
    json_t *normalized;           /* the config with every default filled in */
    int total_tasks;
    int ports_per_task;           /* port slots of every task: the most any role asks, + sshd */
    apr_int64_t total_cpus, total_memory_mb, total_gpus;
} pai_jobspec;

/* Validates a submitted config; 400s name the offending field. */
pai_error *pai_jobspec_parse(apr_pool_t *p, const json_t *config, pai_jobspec **out);
/* 1 when s is a valid job name (also used for path parameters). */
int pai_job_name_valid(const char *s);

#endif

/* OpenPAI job configs: validation of every field, defaults, and the resource
 * demand of a job.  A parsed config is what the launcher runs. */
#ifndef PAI_JOBSPEC_H
#define PAI_JOBSPEC_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "json.h"

#define PAI_JOB_NAME_MAX 128
#define PAI_ROLE_NAME_MAX 64

typedef struct pai_port_spec {
    const char *label;
    int begin_at;        /* 0: any port */
    int count;
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
    apr_int64_t total_cpus, total_memory_mb, total_gpus;
} pai_jobspec;

/* Validates a submitted config; 400s name the offending field. */
pai_error *pai_jobspec_parse(apr_pool_t *p, const json_t *config, pai_jobspec **out);
/* 1 when s is a valid job name (also used for path parameters). */
int pai_job_name_valid(const char *s);

#endif

/* The job-config validator: OpenPAI's fields, types, patterns and defaults,
 * with bounds of our own so that no sum can overflow. */
#include <string.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include "jobspec.h"
#include "launcher.h"

static void spec_port_layout(pai_jobspec *s);
static apr_size_t spec_env_bytes(const pai_jobspec *s);

static int chars_in(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr(extra, *s)))
            return 0;
    return 1;
}

int pai_job_name_valid(const char *s)
{
    /* ^[A-Za-z0-9\-._~]+$, without "." and "..", which are paths. */
    return s && *s && strlen(s) <= PAI_JOB_NAME_MAX && chars_in(s, "-._~") &&
           strcmp(s, ".") && strcmp(s, "..");
}

static int role_name_valid(const char *s)
{
    return s && *s && strlen(s) <= PAI_ROLE_NAME_MAX && chars_in(s, "._~");
}

static int env_name_valid(const char *s)
{
    return s && *s && !(*s >= '0' && *s <= '9') && strlen(s) <= 128 && chars_in(s, "_");
}

/* An optional integer within [lo, hi], def when absent. */
static pai_error *spec_int(apr_pool_t *p, const json_t *o, const char *where, const char *key,
                           json_int_t lo, json_int_t hi, int required, int def, int *out)
{
    json_int_t v = def;
    int present;
    pai_error *e = pai_field_int(p, o, where, key, required, 0, &v, &present);
    if (e)
        return e;
    if (present && (v < lo || v > hi))
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s%s%s' must be between %"
                              APR_INT64_T_FMT " and %" APR_INT64_T_FMT,
                              where ? where : "", where ? "." : "", key, (apr_int64_t)lo,
                              (apr_int64_t)hi);
    *out = (int)v;
    return NULL;
}

static pai_error *spec_str(apr_pool_t *p, const json_t *o, const char *where, const char *key,
                           int required, const char *def, const char **out)
{
    pai_error *e = pai_field_str(p, o, where, key, required, out);
    if (!e && !*out)
        *out = def;
    return e;
}

static pai_error *spec_ports(apr_pool_t *p, const json_t *role, const char *where,
                             pai_task_role *r)
{
    static const char *const fields[] = {"label", "beginAt", "portNumber", NULL};
    json_t *list = json_object_get(role, "portList"), *item;
    apr_hash_t *labels;
    size_t i;
    int total = 0;

    r->ports = apr_array_make(p, 2, sizeof(pai_port_spec));
    if (!list || json_is_null(list))
        return NULL;
    if (!json_is_array(list))
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s.portList' must be an array", where);
    if (json_array_size(list) > PAI_PORT_LABELS_MAX)
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s.portList' has more than %d labels",
                              where, PAI_PORT_LABELS_MAX);
    labels = apr_hash_make(p);
    json_array_foreach(list, i, item) {
        const char *at = apr_psprintf(p, "%s.portList[%" APR_SIZE_T_FMT "]", where, i);
        pai_port_spec *ps = apr_array_push(r->ports);
        pai_error *e;
        if (!json_is_object(item))
            return pai_error_make(p, PAI_ERR_INVALID, "field '%s' must be an object", at);
        if ((e = pai_field_only(p, item, at, fields)) ||
            (e = spec_str(p, item, at, "label", 1, NULL, &ps->label)) ||
            (e = spec_int(p, item, at, "beginAt", 0, 65535, 0, 0, &ps->begin_at)) ||
            (e = spec_int(p, item, at, "portNumber", 1, 100, 0, 1, &ps->count)))
            return e;
        if (!role_name_valid(ps->label))
            return pai_error_make(p, PAI_ERR_INVALID,
                                  "field '%s.label' must match ^[A-Za-z0-9._~]+$", at);
        if (ps->begin_at && ps->begin_at + ps->count - 1 > 65535)
            return pai_error_make(p, PAI_ERR_INVALID, "field '%s' runs past port 65535", at);
        if (apr_hash_get(labels, ps->label, APR_HASH_KEY_STRING))
            return pai_error_make(p, PAI_ERR_INVALID, "field '%s.label': '%s' is given twice",
                                  at, ps->label);
        apr_hash_set(labels, ps->label, APR_HASH_KEY_STRING, ps);
        if ((total += ps->count) > PAI_TASK_PORTS_MAX)
            return pai_error_make(p, PAI_ERR_INVALID, "field '%s.portList' asks for more than %d "
                                  "ports per task", where, PAI_TASK_PORTS_MAX);
    }
    return NULL;
}

/* null is a value of its own for the two min counts: absent means default. */
static pai_error *spec_min_count(apr_pool_t *p, const json_t *o, const char *where,
                                 const char *key, int def, int hi, int *out)
{
    json_t *v = json_object_get(o, key);
    if (v && json_is_null(v)) {
        *out = 0;
        return NULL;
    }
    return spec_int(p, o, where, key, 1, hi, 0, def, out);
}

static pai_error *spec_role(apr_pool_t *p, const json_t *o, size_t idx, pai_task_role *r,
                            json_t *norm)
{
    static const char *const fields[] = {"name", "taskNumber", "cpuNumber", "memoryMB", "shmMB",
        "gpuNumber", "portList", "command", "minFailedTaskCount", "minSucceededTaskCount", NULL};
    const char *where = apr_psprintf(p, "taskRoles[%" APR_SIZE_T_FMT "]", idx);
    json_t *ports;
    pai_error *e;
    int i;

    if (!json_is_object(o))
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s' must be an object", where);
    if ((e = pai_field_only(p, o, where, fields)) ||
        (e = spec_str(p, o, where, "name", 1, NULL, &r->name)) ||
        (e = spec_int(p, o, where, "taskNumber", 1, 1000, 0, 1, &r->task_number)) ||
        (e = spec_int(p, o, where, "cpuNumber", 1, 1024, 0, 1, &r->cpu_number)) ||
        (e = spec_int(p, o, where, "memoryMB", 1, 16 * 1024 * 1024, 0, 100, &r->memory_mb)) ||
        (e = spec_int(p, o, where, "gpuNumber", 0, 64, 0, 0, &r->gpu_number)) ||
        (e = spec_int(p, o, where, "shmMB", 0, 16 * 1024 * 1024, 0, 64, &r->shm_mb)) ||
        (e = spec_str(p, o, where, "command", 1, NULL, &r->command)) ||
        (e = spec_min_count(p, o, where, "minFailedTaskCount", 1, 1000, &r->min_failed)) ||
        (e = spec_min_count(p, o, where, "minSucceededTaskCount", 0, 1000, &r->min_succeeded)) ||
        (e = spec_ports(p, o, where, r)))
        return e;
    if (!role_name_valid(r->name))
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s.name' must match ^[A-Za-z0-9._~]+$"
                              " (at most %d characters)", where, PAI_ROLE_NAME_MAX);
    if (!*r->command)
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s.command' must not be empty", where);
    if (strlen(r->command) > PAI_COMMAND_MAX)
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s.command' is longer than %d bytes",
                              where, PAI_COMMAND_MAX);
    if (r->shm_mb > r->memory_mb)
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s.shmMB' must not exceed memoryMB",
                              where);
    if (r->min_failed > r->task_number)
        return pai_error_make(p, PAI_ERR_INVALID,
                              "field '%s.minFailedTaskCount' must not exceed taskNumber", where);
    if (r->min_succeeded > r->task_number)
        return pai_error_make(p, PAI_ERR_INVALID,
                              "field '%s.minSucceededTaskCount' must not exceed taskNumber", where);

    json_object_set_new(norm, "name", json_string(r->name));
    pai_json_set_int(norm, "taskNumber", r->task_number);
    pai_json_set_int(norm, "cpuNumber", r->cpu_number);
    pai_json_set_int(norm, "memoryMB", r->memory_mb);
    pai_json_set_int(norm, "shmMB", r->shm_mb);
    pai_json_set_int(norm, "gpuNumber", r->gpu_number);
    ports = json_array();
    for (i = 0; i < r->ports->nelts; i++) {
        pai_port_spec *ps = &APR_ARRAY_IDX(r->ports, i, pai_port_spec);
        json_array_append_new(ports, json_pack("{s:s, s:i, s:i}", "label", ps->label,
                                               "beginAt", ps->begin_at, "portNumber", ps->count));
    }
    json_object_set_new(norm, "portList", ports);
    pai_json_set_str(norm, "command", r->command);
    json_object_set_new(norm, "minFailedTaskCount",
                        r->min_failed ? json_integer(r->min_failed) : json_null());
    json_object_set_new(norm, "minSucceededTaskCount",
                        r->min_succeeded ? json_integer(r->min_succeeded) : json_null());
    return NULL;
}

pai_error *pai_jobspec_parse(apr_pool_t *p, const json_t *c, pai_jobspec **out)
{
    static const char *const fields[] = {"jobName", "image", "authFile", "dataDir", "outputDir",
        "codeDir", "virtualCluster", "gpuType", "retryCount", "killAllOnCompletedTaskNumber",
        "jobEnvs", "extras", "taskRoles", NULL};
    pai_jobspec *s = apr_pcalloc(p, sizeof(*s));
    json_t *roles, *role, *envs, *v, *norm, *norm_roles;
    const char *key;
    pai_error *e;
    apr_size_t env_bytes;
    size_t i;
    int kill_all = 0;

    if (!json_is_object(c))
        return pai_error_make(p, PAI_ERR_INVALID, "the job config must be a JSON object");
    if ((e = pai_field_only(p, c, NULL, fields)) ||
        (e = spec_str(p, c, NULL, "jobName", 1, NULL, &s->job_name)) ||
        (e = spec_str(p, c, NULL, "image", 1, NULL, &s->image)) ||
        (e = spec_str(p, c, NULL, "authFile", 0, "", &s->auth_file)) ||
        (e = spec_str(p, c, NULL, "dataDir", 0, "", &s->data_dir)) ||
        (e = spec_str(p, c, NULL, "outputDir", 0, "", &s->output_dir)) ||
        (e = spec_str(p, c, NULL, "codeDir", 0, "", &s->code_dir)) ||
        (e = spec_str(p, c, NULL, "virtualCluster", 0, "default", &s->virtual_cluster)) ||
        (e = spec_str(p, c, NULL, "gpuType", 0, "", &s->gpu_type)) ||
        (e = spec_int(p, c, NULL, "retryCount", -2, 1000, 0, 0, &s->retry_count)) ||
        (e = spec_int(p, c, NULL, "killAllOnCompletedTaskNumber", 0, 1000000, 0, 0, &kill_all)))
        return e;
    if (!pai_job_name_valid(s->job_name))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'jobName' must match ^[A-Za-z0-9\\-._~]+$"
                              " (at most %d characters, not '.' or '..')", PAI_JOB_NAME_MAX);
    if (!*s->image)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'image' must not be empty");
    {
        static const char *const paths[] = {"image", "authFile", "dataDir", "outputDir",
                                            "codeDir", NULL};
        const char *vals[] = {s->image, s->auth_file, s->data_dir, s->output_dir, s->code_dir};
        int k;
        for (k = 0; paths[k]; k++)
            if (strlen(vals[k]) > PAI_PATH_MAX)
                return pai_error_make(p, PAI_ERR_INVALID, "field '%s' is longer than %d bytes",
                                      paths[k], PAI_PATH_MAX);
    }
    if (!*s->virtual_cluster)
        s->virtual_cluster = "default";
    if (strlen(s->virtual_cluster) > 64 || !chars_in(s->virtual_cluster, "_"))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'virtualCluster' must match [A-Za-z0-9_]+");

    envs = json_object_get(c, "jobEnvs");
    if (envs && !json_is_null(envs) && !json_is_object(envs))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'jobEnvs' must be an object");
    s->job_envs = pai_json_pool(p, json_object());
    if (json_is_object(envs)) {
        apr_size_t bytes = 0;
        if (json_object_size(envs) > PAI_ENVS_MAX)
            return pai_error_make(p, PAI_ERR_INVALID, "field 'jobEnvs' has more than %d entries",
                                  PAI_ENVS_MAX);
        json_object_foreach(envs, key, v) {
            const char *sv;
            if (!env_name_valid(key))
                return pai_error_make(p, PAI_ERR_INVALID, "field 'jobEnvs.%s': the name must "
                                      "match ^[A-Za-z_][A-Za-z0-9_]*$", key);
            if ((e = pai_field_str(p, envs, "jobEnvs", key, 1, &sv)))
                return e;
            if (strlen(sv) > PAI_ENV_VALUE_MAX)
                return pai_error_make(p, PAI_ERR_INVALID, "field 'jobEnvs.%s' is longer than %d "
                                      "bytes", key, PAI_ENV_VALUE_MAX);
            if ((bytes += strlen(key) + strlen(sv)) > PAI_ENVS_BYTES_MAX)
                return pai_error_make(p, PAI_ERR_INVALID, "field 'jobEnvs' holds more than %d "
                                      "bytes", PAI_ENVS_BYTES_MAX);
            json_object_set_new(s->job_envs, key, json_string(sv));
        }
    }
    v = json_object_get(c, "extras");
    if (v && !json_is_null(v) && !json_is_object(v))
        return pai_error_make(p, PAI_ERR_INVALID, "field 'extras' must be an object");

    roles = json_object_get(c, "taskRoles");
    if (!roles)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'taskRoles' is required");
    if (!json_is_array(roles) || json_array_size(roles) == 0)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'taskRoles' must be a non-empty array");
    if (json_array_size(roles) > PAI_ROLES_MAX)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'taskRoles' has more than %d roles",
                              PAI_ROLES_MAX);

    norm = pai_json_pool(p, json_object());
    norm_roles = json_array();
    s->roles = apr_array_make(p, (int)json_array_size(roles), sizeof(pai_task_role));
    json_array_foreach(roles, i, role) {
        pai_task_role *r = apr_array_push(s->roles);
        json_t *nr = json_object();
        int j;
        memset(r, 0, sizeof(*r));
        json_array_append_new(norm_roles, nr);
        if ((e = spec_role(p, role, i, r, nr))) {
            json_decref(norm_roles);
            return e;
        }
        for (j = 0; j < (int)i; j++)
            if (!strcmp(APR_ARRAY_IDX(s->roles, j, pai_task_role).name, r->name)) {
                json_decref(norm_roles);
                return pai_error_make(p, PAI_ERR_INVALID, "field 'taskRoles[%" APR_SIZE_T_FMT "].name': '%s' is "
                                      "given twice", i, r->name);
            }
        s->total_tasks += r->task_number;
        s->total_cpus += (apr_int64_t)r->task_number * r->cpu_number;
        s->total_memory_mb += (apr_int64_t)r->task_number * r->memory_mb;
        s->total_gpus += (apr_int64_t)r->task_number * r->gpu_number;
    }
    if (s->total_tasks > PAI_TASKS_MAX) {
        json_decref(norm_roles);
        return pai_error_make(p, PAI_ERR_INVALID, "a job may have at most %d tasks in all",
                              PAI_TASKS_MAX);
    }

    /* Every submitted field is kept; defaults fill what was absent. */
    pai_json_set_str(norm, "jobName", s->job_name);
    pai_json_set_str(norm, "image", s->image);
    pai_json_set_str(norm, "authFile", s->auth_file);
    pai_json_set_str(norm, "dataDir", s->data_dir);
    pai_json_set_str(norm, "outputDir", s->output_dir);
    pai_json_set_str(norm, "codeDir", s->code_dir);
    pai_json_set_str(norm, "virtualCluster", s->virtual_cluster);
    pai_json_set_str(norm, "gpuType", s->gpu_type);
    pai_json_set_int(norm, "retryCount", s->retry_count);
    if (json_object_get(c, "killAllOnCompletedTaskNumber"))
        pai_json_set_int(norm, "killAllOnCompletedTaskNumber", kill_all);
    json_object_set(norm, "jobEnvs", s->job_envs);
    if (json_is_object(v))
        json_object_set(norm, "extras", v);
    json_object_set_new(norm, "taskRoles", norm_roles);
    s->normalized = norm;
    spec_port_layout(s);
    if ((env_bytes = spec_env_bytes(s)) > PAI_TASK_ENV_BYTES_MAX)
        return pai_error_make(p, PAI_ERR_INVALID, "the job's environment would take about %lu "
                              "bytes in every task (its jobEnvs, and the address and ports of "
                              "each of its %d tasks by port label), more than the %d a task "
                              "can start with: use fewer tasks, port labels or jobEnvs",
                              (unsigned long)env_bytes, s->total_tasks, PAI_TASK_ENV_BYTES_MAX);
    *out = s;
    return NULL;
}

/* An upper bound of the bytes of environment every task starts with: the
 * jobEnvs, and OpenPAI's variables that give every task the address and
 * ports of every other (an address at most 15 bytes, a port 5, and a pointer
 * per variable).  The kernel refuses to start a program with more than about
 * 2 MB of arguments and environment. */
static apr_size_t spec_env_bytes(const pai_jobspec *s)
{
    apr_size_t n = 0, digits, each;
    const char *key;
    json_t *v;
    int r, i, t;

    json_object_foreach(s->job_envs, key, v)
        n += strlen(key) + strlen(json_string_value(v)) + 2 + sizeof(char *);
    for (r = 0; r < s->roles->nelts; r++) {
        const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, r, pai_task_role);
        apr_size_t name = strlen(tr->name);
        for (t = tr->task_number, digits = 1; t >= 10; t /= 10)
            digits++;
        /* PAI_HOST_IP_<role>_<i>, its entry in the role's HOST_LIST, the
         * role's own variables */
        each = 12 + name + 1 + digits + 1 + 15 + sizeof(char *) + 22;
        for (i = 0; i < tr->ports->nelts; i++) {
            const pai_port_spec *ps = &APR_ARRAY_IDX(tr->ports, i, pai_port_spec);
            /* PAI_PORT_LIST_<role>_<i>_<label> and PAI_<role>_<i>_<label>_PORT */
            each += 2 * (15 + name + 1 + digits + 1 + strlen(ps->label) + 1 +
                         6 * (apr_size_t)ps->count + sizeof(char *));
        }
        n += each * (apr_size_t)tr->task_number + 4 * (40 + name + sizeof(char *));
    }
    return n;
}

/* Ports: every task gets its own slots, beginAt > 0 pins a label; the last
 * slot of each task is its sshd's.  Slots and offsets are worked out once
 * (spec_port_layout), so a port is found in constant time. */
static void spec_port_layout(pai_jobspec *s)
{
    int r, i, most = 0, first = 0;
    for (r = 0; r < s->roles->nelts; r++) {
        pai_task_role *tr = &APR_ARRAY_IDX(s->roles, r, pai_task_role);
        int n = 0;
        tr->first_task = first;
        first += tr->task_number;
        for (i = 0; i < tr->ports->nelts; i++) {
            pai_port_spec *ps = &APR_ARRAY_IDX(tr->ports, i, pai_port_spec);
            ps->offset = n;
            n += ps->count;
        }
        if (n > most)
            most = n;
    }
    s->ports_per_task = most + 1;
}

int pai_task_ssh_port(const pai_jobspec *s, int port_base, int role, int task)
{
    const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, role, pai_task_role);
    int i;
    /* A portList label "ssh" is the sshd's port, as in OpenPAI. */
    for (i = 0; i < tr->ports->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(tr->ports, i, pai_port_spec).label, "ssh"))
            return pai_task_port(s, port_base, role, task, i, 0);
    return port_base + (tr->first_task + task + 1) * s->ports_per_task - 1;
}

int pai_job_port_span(const pai_jobspec *s)
{
    return s->total_tasks * s->ports_per_task;
}

int pai_task_port(const pai_jobspec *s, int port_base, int role, int task, int port, int k)
{
    const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, role, pai_task_role);
    const pai_port_spec *ps = &APR_ARRAY_IDX(tr->ports, port, pai_port_spec);

    if (ps->begin_at)
        return ps->begin_at + k;
    return port_base + (tr->first_task + task) * s->ports_per_task + ps->offset + k;
}

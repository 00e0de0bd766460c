/* The Slurm launcher: the only code that knows slurmrestd's JSON (openapi
 * v0.0.38) and the batch script that runs a job's task roles in Slurm; the
 * sync's list may come from slurmctld instead (slurmctl.c, PaiSlurmConf). */
#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_hash.h>
#include <jwt.h>
#include "exitspec.h"
#include "launcher.h"
#include "http.h"
#include "json.h"
#include "image.h"
#include "slurmctl.h"

#define SLURM_API "/slurm/v0.0.38"
/* How long a task whose step could not be made is tried again (seconds). */
#define PAI_STEP_RETRY_SECONDS "300"
/* How long srun waits for a step's resources before it gives up (seconds). */
#define PAI_STEP_IMMEDIATE_SECONDS "10"

typedef struct slurm_ctx {
    pai_slurm_conf conf;
    pai_http *http;
    apr_pool_t *pool;
    apr_hash_t *node_addr;       /* node name -> address; used by list() only,
                                  * which the one sync thread calls */
} slurm_ctx;

/* ---- credentials --------------------------------------------------------- */

const char *pai_slurm_account(const pai_slurm_conf *c, const char *pai_user)
{
    return c->per_user ? pai_user : c->job_user;
}

static pai_error *slurm_account(void *ctxv, apr_pool_t *p, const char *pai_user,
                                const char **account)
{
    slurm_ctx *c = ctxv;
    const char *why;

    *account = pai_slurm_account(&c->conf, pai_user);
    /* The service account was checked at start; a user's own is checked in
     * the system's user database at every use (accounts come and go). */
    if (c->conf.per_user && (why = pai_unix_account_refusal(p, &c->conf.policy, *account)))
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "jobs of user %s cannot run: %s",
                              pai_user, why);
    return NULL;
}

/* A short-lived Slurm JWT naming `user` (Slurm's auth/jwt: HS256, sun).  The
 * module holds the key, so it can speak for every account it maps to. */
static pai_error *slurm_headers(slurm_ctx *c, apr_pool_t *p, const char *user,
                                apr_array_header_t **out)
{
    apr_array_header_t *h = apr_array_make(p, 2, sizeof(const char *));
    apr_int64_t now = apr_time_sec(apr_time_now());
    jwt_t *jwt = NULL;
    char *tok = NULL;

    if (jwt_new(&jwt) == 0 &&
        jwt_add_grant(jwt, "sun", user) == 0 &&
        jwt_add_grant_int(jwt, "iat", (long)now) == 0 &&
        jwt_add_grant_int(jwt, "exp", (long)(now + 120)) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, c->conf.jwt_key, (int)c->conf.jwt_key_len) == 0)
        tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    if (!tok)
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot sign a Slurm token");
    APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(p, "X-SLURM-USER-NAME: ", user, NULL);
    APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(p, "X-SLURM-USER-TOKEN: ", tok, NULL);
    free(tok);
    *out = h;
    return NULL;
}

/* ---- replies ------------------------------------------------------------- */

/* The first entry of a reply's "errors", classified: Slurm's 1xxx codes are
 * communication failures (the controller is down), 2xxx a refused request. */
static pai_error *slurm_reply_error(apr_pool_t *p, const json_t *reply, long status,
                                    const char *what)
{
    json_t *errs = reply ? pai_json_arr(reply, "errors") : NULL;
    json_t *first = errs ? json_array_get(errs, 0) : NULL;
    const char *msg = first ? pai_json_str(first, "error") : NULL;
    json_int_t code = 0;

    if (first)
        pai_json_int(first, "error_code", &code);
    if (status == 401 || status == 403)
        return pai_error_make(p, PAI_ERR_LAUNCHER_BAD, "Slurm refused our credentials (%s: HTTP %ld)",
                              what, status);
    if (code >= 1000 && code < 2000)
        return pai_error_make(p, PAI_ERR_LAUNCHER_DOWN, "Slurm is unavailable (%s): %s", what,
                              msg ? msg : "no detail");
    if (code >= 2000 && code < 3000)
        return pai_error_make(p, PAI_ERR_JOB_REJECTED, "Slurm refused the job: %s",
                              msg ? msg : "no detail");
    return pai_error_make(p, PAI_ERR_LAUNCHER_BAD, "Slurm answered HTTP %ld to %s%s%s", status, what,
                          msg ? ": " : "", msg ? msg : "");
}

/* One call to slurmrestd as `user` (the service account when NULL). */
static pai_error *slurm_call(slurm_ctx *c, apr_pool_t *p, const char *user, const char *method,
                             const char *path, const char *body, pai_http_response *resp,
                             json_t **reply)
{
    apr_array_header_t *h = NULL;
    pai_error *e;

    *reply = NULL;
    if ((e = slurm_headers(c, p, user ? user : c->conf.job_user, &h)) ||
        (e = pai_http_call(c->http, p, method, path, h, body, resp)))
        return e;
    if (resp->len)
        *reply = pai_json_pool(p, json_loadb(resp->body, resp->len, 0, NULL));
    return NULL;
}

/* The host folders a job's containers bind at the same path: the job folder
 * root (the attempt's folder is in it), then dataDir, outputDir and codeDir
 * when they are plain absolute paths (an hdfs:// URI is not a folder). */
static apr_array_header_t *slurm_ctr_mounts(apr_pool_t *p, const pai_slurm_conf *c,
                                            const pai_jobspec *s)
{
    apr_array_header_t *m = apr_array_make(p, 4, sizeof(const char *));
    const char *dirs[] = {s->data_dir, s->output_dir, s->code_dir};
    int i, k;

    APR_ARRAY_PUSH(m, const char *) = c->log_dir;
    for (i = 0; i < 3; i++) {
        int dup = 0;
        if (!pai_image_mount_path_ok(dirs[i]))
            continue;
        for (k = 0; k < m->nelts; k++)
            dup |= !strcmp(APR_ARRAY_IDX(m, k, const char *), dirs[i]);
        if (!dup)
            APR_ARRAY_PUSH(m, const char *) = dirs[i];
    }
    return m;
}

/* The label the sync finds our jobs by: pai:<job>:<attempt>:<tag>.  With
 * containers, what the node's prolog (run as root, before the job) needs to
 * pull the image: ";image=<ref>[;auth=<path>];mounts=<dir>,<dir>" (checked
 * characters only: no ';' or ',' in any).  The batch script may add
 * ";failed=<task>/<why>" when the job fails. */
/* The image a job's tasks run in (its canonical reference), or NULL: no
 * containers here (a malformed image never got past submission). */
static const char *slurm_ctr_image(apr_pool_t *p, const pai_slurm_conf *c, const pai_jobspec *s)
{
    pai_image_ref ref;

    return c->containers && !pai_image_ref_parse(p, s->image, &ref) ? ref.canonical : NULL;
}

static const char *slurm_comment(apr_pool_t *p, const pai_slurm_conf *c, const pai_launch *l)
{
    const pai_jobspec *s = l->spec;
    const char *base = apr_psprintf(p, "pai:%s:%d:%s", s->job_name, l->attempt,
                                    l->tag ? l->tag : "");
    const char *image = slurm_ctr_image(p, c, s);

    if (!image)
        return base;
    return apr_pstrcat(p, base, ";image=", image,
                       *s->auth_file && pai_image_mount_path_ok(s->auth_file)
                           ? apr_pstrcat(p, ";auth=", s->auth_file, NULL) : "",
                       ";mounts=", apr_array_pstrcat(p, slurm_ctr_mounts(p, c, s), ','), NULL);
}

/* ---- the batch script ---------------------------------------------------- */

/* The job-side shell, scripts/job/{batch,task}.sh, embedded at build time. */
#include "job_scripts.h"

/* s in single quotes for bash: nothing in it is expanded. */
static const char *sq(apr_pool_t *p, const char *s)
{
    apr_size_t n = 2, i;
    const char *c;
    char *out;

    for (c = s; *c; c++)
        n += *c == '\'' ? 4 : 1;
    out = apr_palloc(p, n + 1);
    i = 0;
    out[i++] = '\'';
    for (c = s; *c; c++) {
        if (*c == '\'') {
            memcpy(out + i, "'\\''", 4);
            i += 4;
        }
        else {
            out[i++] = *c;
        }
    }
    out[i++] = '\'';
    out[i] = '\0';
    return out;
}

/* The script is built as a list of pieces joined once at the end: a job of
 * many tasks and ports costs time in proportion to its size. */
typedef struct script_buf {
    apr_pool_t *p;
    apr_array_header_t *parts;
} script_buf;

static void put(script_buf *b, const char *s)
{
    APR_ARRAY_PUSH(b->parts, const char *) = s;
}

/* One K=V word of an environment array. */
static void put_env(script_buf *b, const char *name, const char *value)
{
    put(b, " ");
    put(b, sq(b->p, apr_pstrcat(b->p, name, "=", value, NULL)));
}

/* A comma list of the k ports of a label, or of the role's first label. */
static const char *port_list(apr_pool_t *p, const pai_launch *l, int r, int t, int i)
{
    const pai_task_role *tr = &APR_ARRAY_IDX(l->spec->roles, r, pai_task_role);
    const pai_port_spec *ps = &APR_ARRAY_IDX(tr->ports, i, pai_port_spec);
    apr_array_header_t *a = apr_array_make(p, ps->count, sizeof(const char *));
    int k;

    for (k = 0; k < ps->count; k++)
        APR_ARRAY_PUSH(a, const char *) = apr_itoa(p, pai_task_port(l->spec, l->port_base, r, t, i, k));
    return apr_array_pstrcat(p, a, ',');
}

/* The node (allocation slot) of job-wide task k. */
static int task_slot(const pai_launch *l, int k)
{
    return l->placement && k < l->placement->tasks ? l->placement->slot[k] : 0;
}

/* The environment every task of the job shares (OpenPAI's PAI_* set, with
 * the names of v0.7 and of later runtimes).  @IP<n>@ stands for the address
 * of the allocation's n-th node, known only once Slurm chose the nodes;
 * batch.sh fills it in. */
static void job_env(script_buf *b, const pai_slurm_conf *c, const pai_launch *l)
{
    const pai_jobspec *s = l->spec;
    apr_pool_t *p = b->p;
    apr_array_header_t *roles = apr_array_make(p, s->roles->nelts, sizeof(const char *));
    const char *key;
    json_t *v;
    int r, t;

    put(b, "pai_job_env=(");
    json_object_foreach(s->job_envs, key, v)
        put_env(b, key, json_string_value(v));
    put_env(b, "PAI_JOB_NAME", s->job_name);
    put_env(b, "PAI_USER_NAME", l->username);
    put_env(b, "PAI_JOB_VC_NAME", s->virtual_cluster);
    put_env(b, "PAI_DEFAULT_FS_URI", "");
    put_env(b, "PAI_DATA_DIR", s->data_dir);
    put_env(b, "PAI_OUTPUT_DIR", s->output_dir);
    put_env(b, "PAI_CODE_DIR", s->code_dir);
    put_env(b, "PAI_JOB_TASK_COUNT", apr_itoa(p, s->total_tasks));
    put_env(b, "PAI_JOB_TASK_ROLE_COUNT", apr_itoa(p, s->roles->nelts));
    put_env(b, "PAI_TASK_ROLE_COUNT", apr_itoa(p, s->roles->nelts));
    put_env(b, "PAI_JOB_ATTEMPT", apr_itoa(p, l->attempt));
    if (l->ssh_public_key) {
        put_env(b, "PAI_SSH_PUBLIC_KEY", l->ssh_public_key);
        put_env(b, "PAI_SSH_REPORT_URL", apr_pstrcat(p, l->report_url, "/ssh/report", NULL));
        put_env(b, "PAI_TASK_REPORT_URL", apr_pstrcat(p, l->report_url, "/tasks/report", NULL));
        if (c->report_ca)
            put_env(b, "PAI_SSH_REPORT_CA", c->report_ca);
    }
    for (r = 0; r < s->roles->nelts; r++) {
        const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, r, pai_task_role);
        apr_array_header_t *hosts = apr_array_make(p, tr->task_number, sizeof(const char *));
        int i;
        APR_ARRAY_PUSH(roles, const char *) = tr->name;
        for (t = 0; t < tr->task_number; t++) {
            const char *ip = apr_psprintf(p, "@IP%d@", task_slot(l, tr->first_task + t));
            const char *idx = apr_psprintf(p, "%s_%d", tr->name, t);
            APR_ARRAY_PUSH(hosts, const char *) = tr->ports->nelts
                ? apr_psprintf(p, "%s:%d", ip, pai_task_port(s, l->port_base, r, t, 0, 0)) : ip;
            put_env(b, apr_pstrcat(p, "PAI_HOST_IP_", idx, NULL), ip);
            for (i = 0; i < tr->ports->nelts; i++) {
                const char *label = APR_ARRAY_IDX(tr->ports, i, pai_port_spec).label;
                const char *list = port_list(p, l, r, t, i);
                put_env(b, apr_pstrcat(p, "PAI_PORT_LIST_", idx, "_", label, NULL), list);
                put_env(b, apr_pstrcat(p, "PAI_", idx, "_", label, "_PORT", NULL), list);
            }
        }
        put_env(b, apr_pstrcat(p, "PAI_TASK_ROLE_", tr->name, "_HOST_LIST", NULL),
                apr_array_pstrcat(p, hosts, ','));
        put_env(b, apr_pstrcat(p, "PAI_TASK_ROLE_TASK_COUNT_", tr->name, NULL),
                apr_itoa(p, tr->task_number));
        put_env(b, apr_pstrcat(p, "PAI_RESOURCE_", tr->name, NULL),
                apr_psprintf(p, "%d,%d,%d,%d", tr->gpu_number, tr->cpu_number, tr->memory_mb,
                             tr->shm_mb));
        put_env(b, apr_pstrcat(p, "PAI_MIN_FAILED_TASK_COUNT_", tr->name, NULL),
                tr->min_failed ? apr_itoa(p, tr->min_failed) : "");
        put_env(b, apr_pstrcat(p, "PAI_MIN_SUCCEEDED_TASK_COUNT_", tr->name, NULL),
                tr->min_succeeded ? apr_itoa(p, tr->min_succeeded) : "");
    }
    put_env(b, "PAI_JOB_TASK_ROLE_LIST", apr_array_pstrcat(p, roles, ','));
    put_env(b, "PAI_TASK_ROLE_LIST", apr_array_pstrcat(p, roles, ','));
    put(b, " )\n");
}

/* The words of task t of role r alone. */
static void task_env(script_buf *b, const pai_launch *l, int k, int r, int t)
{
    const pai_jobspec *s = l->spec;
    const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, r, pai_task_role);
    apr_pool_t *p = b->p;
    apr_array_header_t *ports = apr_array_make(p, tr->ports->nelts, sizeof(const char *));
    const char *host_port = "";
    int i;

    put(b, apr_psprintf(p, "task_env_%d=(", k));
    put_env(b, "PAI_CURRENT_TASK_ROLE_NAME", tr->name);
    put_env(b, "PAI_CURRENT_TASK_ROLE_CURRENT_TASK_INDEX", apr_itoa(p, t));
    put_env(b, "PAI_TASK_INDEX", apr_itoa(p, t));
    put_env(b, "PAI_CURRENT_TASK_ROLE_TASK_COUNT", apr_itoa(p, tr->task_number));
    put_env(b, "PAI_CURRENT_TASK_ROLE_CPU_COUNT", apr_itoa(p, tr->cpu_number));
    put_env(b, "PAI_CURRENT_TASK_ROLE_MEM_MB", apr_itoa(p, tr->memory_mb));
    put_env(b, "PAI_CURRENT_TASK_ROLE_SHM_MB", apr_itoa(p, tr->shm_mb));
    put_env(b, "PAI_CURRENT_TASK_ROLE_GPU_COUNT", apr_itoa(p, tr->gpu_number));
    put_env(b, "PAI_CURRENT_TASK_ROLE_MIN_FAILED_TASK_COUNT",
            tr->min_failed ? apr_itoa(p, tr->min_failed) : "");
    put_env(b, "PAI_CURRENT_TASK_ROLE_MIN_SUCCEEDED_TASK_COUNT",
            tr->min_succeeded ? apr_itoa(p, tr->min_succeeded) : "");
    for (i = 0; i < tr->ports->nelts; i++) {
        const char *label = APR_ARRAY_IDX(tr->ports, i, pai_port_spec).label;
        const char *list = port_list(p, l, r, t, i);
        APR_ARRAY_PUSH(ports, const char *) = apr_pstrcat(p, label, ":", list, NULL);
        put_env(b, apr_pstrcat(p, "PAI_CONTAINER_HOST_", label, "_PORT_LIST", NULL), list);
        /* The "http" label's port (OpenPAI's runtime), else the first port. */
        if (!i || !strcmp(label, "http"))
            host_port = apr_itoa(p, pai_task_port(s, l->port_base, r, t, i, 0));
    }
    put_env(b, "PAI_CONTAINER_HOST_PORT_LIST", apr_array_pstrcat(p, ports, ';'));
    put_env(b, "PAI_CONTAINER_HOST_PORT", host_port);
    put_env(b, "PAI_CONTAINER_SSH_PORT", apr_itoa(p, pai_task_ssh_port(s, l->port_base, r, t)));
    put_env(b, "PAI_CONTAINER_ID", apr_psprintf(p, "%s-%d-%s-%d", s->job_name, l->attempt,
                                               tr->name, t));
    put_env(b, "PAI_CONTAINER_HOST_IP", "@HOST_IP@");
    put(b, " )\n");
}

const char *pai_slurm_account_dir(apr_pool_t *p, const pai_slurm_conf *c, const char *account)
{
    return apr_pstrcat(p, c->log_dir, "/", account, NULL);
}

/* One allocation of the placement's N nodes, each asked for what its
 * busiest one holds (a gang: all start or none), one `srun -w NODE --exact`
 * step per task on its node, and FrameworkLauncher's completion rule
 * (batch.sh).  The C side only writes the data batch.sh reads, every value
 * quoted for bash. */
const char *pai_slurm_batch_script(apr_pool_t *p, const pai_slurm_conf *c, const pai_launch *l)
{
    const pai_jobspec *s = l->spec;
    const char *account = pai_slurm_account(c, l->username);
    const char *acct_dir = pai_slurm_account_dir(p, c, account ? account : "-");
    apr_array_header_t *names, *roles, *cpus, *mem, *gres, *slots, *cmds, *min_failed, *need;
    script_buf b = {p, apr_array_make(p, 64 + 8 * s->total_tasks, sizeof(const char *))};
    int r, t, k = 0;

#define PAI_COLUMN(a) a = apr_array_make(p, s->total_tasks, sizeof(const char *))
    PAI_COLUMN(names); PAI_COLUMN(roles); PAI_COLUMN(cpus); PAI_COLUMN(mem);
    PAI_COLUMN(gres); PAI_COLUMN(slots);
#undef PAI_COLUMN
    min_failed = apr_array_make(p, s->roles->nelts, sizeof(const char *));
    need = apr_array_make(p, s->roles->nelts, sizeof(const char *));
    cmds = apr_array_make(p, s->roles->nelts, sizeof(const char *));

    put(&b, "#!/bin/bash\n");
    put(&b, apr_psprintf(p, "# mod_pairest: job %s, attempt %d, of %s\n", s->job_name,
                         l->attempt, l->username));
    put(&b, apr_pstrcat(p, "pai_job=", sq(p, s->job_name), " pai_attempt=",
                        apr_itoa(p, l->attempt), " pai_owner=", sq(p, l->username), "\n", NULL));
    put(&b, apr_pstrcat(p, "pai_account_dir=", sq(p, acct_dir), " pai_job_created=",
                        apr_psprintf(p, "%" APR_INT64_T_FMT, l->job_created), "\n", NULL));
    put(&b, apr_pstrcat(p, "pai_attempt_dir=",
                        sq(p, apr_psprintf(p, "%s/%s/attempt-%d", acct_dir, s->job_name,
                                           l->attempt)), "\n", NULL));
    put(&b, apr_pstrcat(p, "pai_report_secret=",
                        sq(p, l->ssh_public_key && l->report_secret ? l->report_secret : ""),
                        " pai_task_report_url=",
                        sq(p, l->ssh_public_key && l->report_url
                              ? apr_pstrcat(p, l->report_url, "/tasks/report", NULL) : ""),
                        " pai_report_ca=", sq(p, c->report_ca ? c->report_ca : ""), "\n", NULL));
    put(&b, apr_pstrcat(p, "pai_comment=", sq(p, slurm_comment(p, c, l)), "\n", NULL));
    {
        const char *image = slurm_ctr_image(p, c, s);
        apr_array_header_t *m = image ? slurm_ctr_mounts(p, c, s) : NULL;
        int i;
        put(&b, apr_pstrcat(p, "pai_image=", sq(p, image ? image : ""), "\npai_ctr_mounts=(",
                            NULL));
        for (i = 0; m && i < m->nelts; i++)
            put(&b, apr_pstrcat(p, " ", sq(p, APR_ARRAY_IDX(m, i, const char *)), NULL));
        put(&b, " )\n");
    }
    put(&b, "pai_step_retry=" PAI_STEP_RETRY_SECONDS
            " pai_step_immediate=" PAI_STEP_IMMEDIATE_SECONDS "\n");
    job_env(&b, c, l);
    for (r = 0; r < s->roles->nelts; r++) {
        const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, r, pai_task_role);
        APR_ARRAY_PUSH(min_failed, const char *) = apr_itoa(p, tr->min_failed);
        /* Per role, not per task: a script of tasks x command bytes would
         * let one config make megabytes of script. */
        APR_ARRAY_PUSH(cmds, const char *) = sq(p, tr->command);
        APR_ARRAY_PUSH(need, const char *) =
            apr_itoa(p, tr->min_succeeded ? tr->min_succeeded : tr->task_number);
        for (t = 0; t < tr->task_number; t++, k++) {
            APR_ARRAY_PUSH(names, const char *) = sq(p, apr_psprintf(p, "%s-%d", tr->name, t));
            APR_ARRAY_PUSH(roles, const char *) = apr_itoa(p, r);
            APR_ARRAY_PUSH(cpus, const char *) = apr_itoa(p, tr->cpu_number);
            APR_ARRAY_PUSH(mem, const char *) = apr_itoa(p, tr->memory_mb);
            APR_ARRAY_PUSH(gres, const char *) =
                tr->gpu_number ? apr_psprintf(p, "gpu:%d", tr->gpu_number) : "none";
            APR_ARRAY_PUSH(slots, const char *) = apr_itoa(p, task_slot(l, k));
            task_env(&b, l, k, r, t);
        }
    }
    put(&b, apr_pstrcat(p, "task_name=(", apr_array_pstrcat(p, names, ' '), ")\n",
                        "task_role=(", apr_array_pstrcat(p, roles, ' '), ")\n",
                        "task_cpus=(", apr_array_pstrcat(p, cpus, ' '), ")\n",
                        "task_mem=(", apr_array_pstrcat(p, mem, ' '), ")\n",
                        "task_gres=(", apr_array_pstrcat(p, gres, ' '), ")\n",
                        "task_slot=(", apr_array_pstrcat(p, slots, ' '), ")\n",
                        "role_cmd=(", apr_array_pstrcat(p, cmds, ' '), ")\n",
                        "min_failed=(", apr_array_pstrcat(p, min_failed, ' '), ")\n",
                        "need=(", apr_array_pstrcat(p, need, ' '), ")\n", NULL));
    put(&b, "pai_write_task_wrapper() {\ncat <<'PAI_TASK_EOF'\n");
    put(&b, pai_job_task_sh);
    put(&b, "PAI_TASK_EOF\n}\n");
    if (c->containers) {
        put(&b, "pai_write_container_runtime() {\ncat <<'PAI_CONTAINER_EOF'\n");
        put(&b, pai_job_container_sh);
        put(&b, "PAI_CONTAINER_EOF\n}\n");
    }
    put(&b, pai_job_batch_sh);
    return apr_array_pstrcat(p, b.parts, 0);
}

/* ---- operations ---------------------------------------------------------- */

static pai_error *slurm_submit(void *ctxv, apr_pool_t *p, const pai_launch *l, apr_int64_t *id)
{
    slurm_ctx *c = ctxv;
    const pai_jobspec *s = l->spec;
    const char *user;
    pai_http_response resp;
    json_t *req, *job, *reply;
    json_int_t jid;
    const pai_placement *pl = l->placement;
    pai_shape one = {s->total_cpus, s->total_memory_mb, s->total_gpus, ""};
    const pai_shape *per_node = pl ? &pl->per_node : &one;
    int nodes = pl ? pl->nodes : 1;
    pai_error *e;

    if ((e = slurm_account(c, p, l->username, &user)))
        return e;

    job = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:s, s:b}",
                    "name", s->job_name,
                    "partition", c->conf.partition,
                    "current_working_directory", c->conf.log_dir,
                    "environment", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                   "LANG", "C.UTF-8",
                    "standard_output", "/dev/null",
                    "standard_error", "/dev/null",
                    /* One Slurm task per node, holding that node's share. */
                    "nodes", nodes,
                    "tasks", nodes,
                    "tasks_per_node", 1,
                    "cpus_per_task", (json_int_t)per_node->cpus,
                    "memory_per_node", (json_int_t)per_node->memory_mb,
                    "comment", slurm_comment(p, &c->conf, l),
                    /* A failed node ends the job (NODE_FAIL): the sync decides on
                     * a retry; Slurm would requeue it to wait two minutes.
                     * ("requeue": false is ignored by v0.0.38.) */
                    "no_requeue", 1);
    if (!job)
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot build the Slurm request");
    if (per_node->gpus > 0)   /* per node */
        pai_json_set_str(job, "gres", apr_psprintf(p, "gpu:%" APR_INT64_T_FMT, per_node->gpus));
    req = pai_json_pool(p, json_pack("{s:s, s:o}", "script", pai_slurm_batch_script(p, &c->conf, l),
                                     "job", job));
    if ((e = slurm_call(c, p, user, "POST", SLURM_API "/job/submit", pai_json_dump(p, req), &resp,
                        &reply)))
        return e;
    /* A job id means Slurm took it, whatever else "errors" says. */
    if (resp.status == 200 && reply && pai_json_int(reply, "job_id", &jid) && jid > 0) {
        *id = jid;
        return NULL;
    }
    return slurm_reply_error(p, reply, resp.status, "submit");
}

/* Slurm answers 500 with error 2017 for a job it does not know. */
static int slurm_unknown_job(const json_t *reply)
{
    json_t *errs = reply ? pai_json_arr(reply, "errors") : NULL;
    json_int_t code = 0;

    if (errs)
        pai_json_int(json_array_get(errs, 0), "error_code", &code);
    return code == 2017;
}

static pai_error *slurm_cancel(void *ctxv, apr_pool_t *p, apr_int64_t id, const char *user)
{
    slurm_ctx *c = ctxv;
    pai_http_response resp;
    json_t *reply;
    pai_error *e;

    if ((e = slurm_call(c, p, user, "DELETE",
                        apr_psprintf(p, SLURM_API "/job/%" APR_INT64_T_FMT, id), NULL, &resp,
                        &reply)))
        return e;
    if (resp.status == 200 || slurm_unknown_job(reply))
        return NULL;
    return slurm_reply_error(p, reply, resp.status, "cancel");
}

/* Slurm's job_state to OpenPAI's state (FrameworkLauncher's mapping, in spirit). */
static void slurm_state(const char *st, int exit_code, const char **state, int *active)
{
    static const struct { const char *slurm, *pai; int active; } map[] = {
        {"PENDING", "WAITING", 1}, {"CONFIGURING", "WAITING", 1}, {"REQUEUED", "WAITING", 1},
        {"REQUEUE_HOLD", "WAITING", 1}, {"REQUEUE_FED", "WAITING", 1},
        {"RUNNING", "RUNNING", 1}, {"COMPLETING", "RUNNING", 1}, {"SUSPENDED", "RUNNING", 1},
        {"STAGE_OUT", "RUNNING", 1}, {"SIGNALING", "RUNNING", 1}, {"RESIZING", "RUNNING", 1},
        {"CANCELLED", "STOPPED", 0},
        {"FAILED", "FAILED", 0}, {"TIMEOUT", "FAILED", 0}, {"NODE_FAIL", "FAILED", 0},
        {"PREEMPTED", "FAILED", 0}, {"BOOT_FAIL", "FAILED", 0}, {"DEADLINE", "FAILED", 0},
        {"OUT_OF_MEMORY", "FAILED", 0},
    };
    size_t i;

    if (!strcmp(st, "COMPLETED")) {
        *state = exit_code == 0 ? "SUCCEEDED" : "FAILED";
        *active = 0;
        return;
    }
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(st, map[i].slurm)) {
            *state = map[i].pai;
            *active = map[i].active;
            return;
        }
    *state = "UNKNOWN";
    *active = 0;
}

/* One of our jobs' status from Slurm's description of it, whichever list
 * (slurmrestd's or slurmctld's) it came from; 0 for a job not ours. */
static int slurm_status_make(apr_pool_t *p, const pai_slurm_job *j, pai_launch_status *out)
{
    const char *comment = j->comment, *st = j->job_state, *reason = j->state_reason;
    char *name, *colon, *tag, *failed = NULL, *image = NULL, *rest, *part, *last;

    /* pai:<job>:<attempt>:<tag> (job names have no colon); older launches
     * carry no tag. */
    if (!comment || strncmp(comment, "pai:", 4) || !st || j->job_id <= 0)
        return 0;
    name = apr_pstrdup(p, comment + 4);
    colon = strchr(name, ':');
    if (!colon || !pai_job_name_valid((*colon = '\0', name)))
        return 0;
    tag = strchr(colon + 1, ':');
    if (tag)
        *tag++ = '\0';
    /* ;key=value parts after the tag: image= (containers), failed= (the
     * batch script's word on a failed job). */
    if (tag && (rest = strchr(tag, ';'))) {
        *rest++ = '\0';
        for (part = apr_strtok(rest, ";", &last); part; part = apr_strtok(NULL, ";", &last)) {
            if (!strncmp(part, "failed=", 7))
                failed = part + 7;
            else if (!strncmp(part, "image=", 6))
                image = part + 6;
        }
    }
    memset(out, 0, sizeof(*out));
    out->id = j->job_id;
    out->job_name = name;
    out->attempt = atoi(colon + 1);
    out->tag = tag ? tag : "";
    out->sub_state = apr_pstrdup(p, st);
    /* exit_code is a wait status: exit 3 reads 768, a signal its low bits. */
    out->exit_code = (j->exit_code & 0x7f) ? 128 + (int)(j->exit_code & 0x7f)
                                           : (int)((j->exit_code >> 8) & 0xff);
    slurm_state(st, out->exit_code, &out->state, &out->active);
    out->has_exit = !out->active && strcmp(out->state, "UNKNOWN");
    out->submit_ms = j->submit_time * 1000;
    if (j->start_time > 0 && strcmp(st, "PENDING")) out->start_ms = j->start_time * 1000;
    /* Pending: Slurm's reason, and its expected start once its scheduler
     * (backfill) has one. */
    out->wait_reason = "";
    if (!strcmp(st, "PENDING")) {
        out->wait_reason = apr_pstrdup(p, reason ? reason : "");
        if (j->start_time > 0)
            out->expected_start_ms = j->start_time * 1000;
    }
    if (!out->active && j->end_time > 0) out->end_ms = j->end_time * 1000;
    out->host = apr_pstrdup(p, j->batch_host ? j->batch_host : "");
    out->user = apr_pstrdup(p, j->user_name ? j->user_name : "");
    /* The nodes while the job holds them (names now; addresses later). */
    out->hosts = apr_pstrdup(p, j->nodes && strcmp(st, "PENDING") ? j->nodes : "");
    out->diagnostics = reason && strcmp(reason, "None")
        ? apr_psprintf(p, "%s: %s", st, reason)
        : apr_pstrdup(p, st);
    /* A platform failure (NODE_FAIL) is named with its node(s) by
     * slurm_resolve_hosts, which knows the nodes' states. */
    /* The batch script's word on the first failing task (the job's owner
     * can write the comment: it names only their own job's tasks). */
    if (failed && !out->active && strlen(failed) < 200) {
        char *why = strchr(failed, '/');
        if (why) {
            *why++ = '\0';
            out->exit_task = failed;
            out->exit_why = why;
            out->diagnostics = !strcmp(why, "folder")
                ? apr_psprintf(p, "%s: the job's folder under PaiJobLogDir is missing or not "
                               "the account's own (mode 0700, made by Slurm's prolog); no task "
                               "ran", out->diagnostics)
                : !strncmp(why, "exit", 4)
                ? apr_psprintf(p, "%s: task %s failed first (%s)", out->diagnostics, failed, why)
                : apr_psprintf(p, "%s: task %s %s", out->diagnostics, failed,
                               pai_exit_why_text(p, why, image));
        }
    }
    return 1;
}

/* A job of slurmrestd's list (v0.0.38) as Slurm's description of it. */
static int slurm_parse_job(apr_pool_t *p, json_t *j, pai_launch_status *out)
{
    pai_slurm_job v;
    json_int_t n;

    memset(&v, 0, sizeof(v));
    if (!pai_json_int(j, "job_id", &n))
        return 0;
    v.job_id = n;
    v.job_state = pai_json_str(j, "job_state");
    v.state_reason = pai_json_str(j, "state_reason");
    v.comment = pai_json_str(j, "comment");
    v.batch_host = pai_json_str(j, "batch_host");
    v.user_name = pai_json_str(j, "user_name");
    v.nodes = pai_json_str(j, "nodes");
    if (pai_json_int(j, "exit_code", &n)) v.exit_code = n;
    if (pai_json_int(j, "submit_time", &n)) v.submit_time = n;
    if (pai_json_int(j, "start_time", &n)) v.start_time = n;
    if (pai_json_int(j, "end_time", &n)) v.end_time = n;
    return slurm_status_make(p, &v, out);
}

/* Appends the names of one hostlist entry ("pai-n[1-3,5]", "gpu[01-02]x",
 * "login"): the first bracket is expanded, the rest recursively. */
static int hostlist_entry(apr_pool_t *p, const char *e, int max, apr_array_header_t *out)
{
    const char *open = strchr(e, '['), *close, *q;
    char *ranges, *last, *r;

    if (!open) {
        if (!*e || out->nelts >= max)
            return 0;
        APR_ARRAY_PUSH(out, const char *) = e;
        return 1;
    }
    if (!(close = strchr(open, ']')))
        return 0;
    ranges = apr_pstrmemdup(p, open + 1, (apr_size_t)(close - open - 1));
    for (r = apr_strtok(ranges, ",", &last); r; r = apr_strtok(NULL, ",", &last)) {
        char *dash = strchr(r, '-'), *end;
        long lo = strtol(r, &end, 10), hi, v;
        int width = (int)(end - r);
        if (end == r || (dash ? end != dash : *end))
            return 0;
        hi = dash ? strtol(dash + 1, &end, 10) : lo;
        if ((dash && (end == dash + 1 || *end)) || hi < lo || hi - lo >= max)
            return 0;
        for (v = lo; v <= hi; v++) {
            q = apr_psprintf(p, "%.*s%0*ld%s", (int)(open - e), e, width, v, close + 1);
            if (!hostlist_entry(p, q, max, out))
                return 0;
        }
    }
    return 1;
}

int pai_slurm_hostlist_expand(apr_pool_t *p, const char *list, int max,
                              apr_array_header_t **out)
{
    const char *q = list, *start = list;
    int depth = 0;

    *out = apr_array_make(p, 4, sizeof(const char *));
    if (!list || !*list)
        return 1;
    /* Entries are split at commas outside brackets. */
    for (;; q++) {
        if (*q == '[')
            depth++;
        else if (*q == ']')
            depth--;
        if (depth < 0 || depth > 1)
            return 0;
        if ((*q == ',' && !depth) || !*q) {
            if (!hostlist_entry(p, apr_pstrmemdup(p, start, (apr_size_t)(q - start)), max, *out))
                return 0;
            if (!*q)
                break;
            start = q + 1;
        }
    }
    return !depth;
}

/* Learns the nodes' addresses (GET /nodes) when a name is new. */
/* What GET /nodes said, asked at most once per list or status call. */
typedef struct slurm_node_view {
    int fetched;
    apr_hash_t *down;            /* names of nodes down or not responding now */
} slurm_node_view;

static void slurm_nodes_fetch(slurm_ctx *c, apr_pool_t *p, slurm_node_view *v)
{
    pai_http_response resp;
    json_t *reply, *nodes, *n, *flag;
    size_t k, f;

    if (v->fetched)
        return;
    v->fetched = 1;
    v->down = apr_hash_make(p);
    if (slurm_call(c, p, NULL, "GET", SLURM_API "/nodes", NULL, &resp, &reply) ||
        resp.status != 200 || !reply || !(nodes = pai_json_arr(reply, "nodes")))
        return;
    json_array_foreach(nodes, k, n) {
        const char *nm = pai_json_str(n, "name"), *a = pai_json_str(n, "address");
        const char *state = pai_json_str(n, "state");
        json_t *flags = json_object_get(n, "state_flags");
        int down = state && (strstr(state, "down") || strstr(state, "DOWN") ||
                             strstr(state, "fail") || strstr(state, "FAIL"));
        if (!nm)
            continue;
        json_array_foreach(flags, f, flag)
            if (json_is_string(flag) && !strcmp(json_string_value(flag), "NOT_RESPONDING"))
                down = 1;
        if (down)
            apr_hash_set(v->down, apr_pstrdup(p, nm), APR_HASH_KEY_STRING, "");
        if (a && *a)
            apr_hash_set(c->node_addr, apr_pstrdup(c->pool, nm), APR_HASH_KEY_STRING,
                         apr_pstrdup(c->pool, a));
    }
}

static const char *slurm_node_address(slurm_ctx *c, apr_pool_t *p, const char *name,
                                      slurm_node_view *v)
{
    const char *addr = apr_hash_get(c->node_addr, name, APR_HASH_KEY_STRING);

    if (!addr && !v->fetched) {
        slurm_nodes_fetch(c, p, v);
        addr = apr_hash_get(c->node_addr, name, APR_HASH_KEY_STRING);
    }
    return addr ? addr : name;
}

/* Node names to addresses: the batch host, and every node of the job in
 * allocation order; a job that ended NODE_FAIL names the nodes of its own
 * that are down. */
static void slurm_resolve_hosts(slurm_ctx *c, apr_pool_t *p, apr_array_header_t *jobs)
{
    slurm_node_view v = {0, NULL};
    int i, k;

    for (i = 0; i < jobs->nelts; i++) {
        pai_launch_status *st = &APR_ARRAY_IDX(jobs, i, pai_launch_status);
        apr_array_header_t *names, *failed;
        if (*st->host)
            st->host = slurm_node_address(c, p, st->host, &v);
        if (!*st->hosts || !pai_slurm_hostlist_expand(p, st->hosts, PAI_TASKS_MAX, &names)) {
            st->hosts = "";
            continue;
        }
        if (!strcmp(st->sub_state, "NODE_FAIL")) {
            slurm_nodes_fetch(c, p, &v);
            failed = apr_array_make(p, 1, sizeof(const char *));
            for (k = 0; k < names->nelts; k++)
                if (apr_hash_get(v.down, APR_ARRAY_IDX(names, k, const char *),
                                 APR_HASH_KEY_STRING))
                    APR_ARRAY_PUSH(failed, const char *) = APR_ARRAY_IDX(names, k, const char *);
            st->diagnostics = apr_psprintf(p, "%s (node %s failed)", st->diagnostics,
                                           failed->nelts ? apr_array_pstrcat(p, failed, ',')
                                                         : st->hosts);
        }
        for (k = 0; k < names->nelts; k++)
            APR_ARRAY_IDX(names, k, const char *) =
                slurm_node_address(c, p, APR_ARRAY_IDX(names, k, const char *), &v);
        st->hosts = apr_array_pstrcat(p, names, ',');
    }
}

/* Slurm's job list is read one job at a time as it arrives: it holds every
 * job Slurm keeps (finished ones for MinJobAge, other users'), and 9,000 of
 * them held as text and as a tree took the sync 200 MB. */
#define SLURM_LIST_JOB_MAX (16 * 1024 * 1024)
#define SLURM_LIST_REST_MAX (1024 * 1024)

typedef struct slurm_list_reader {
    apr_pool_t *p;
    apr_array_header_t *out;
    pai_json_split *split;
    apr_size_t read;             /* bytes taken, for the error */
    int refused;
} slurm_list_reader;

static int slurm_list_job(void *ctx, json_t *j)
{
    slurm_list_reader *r = ctx;
    pai_launch_status st;

    if (slurm_parse_job(r->p, j, &st))   /* copies what it keeps into r->p */
        APR_ARRAY_PUSH(r->out, pai_launch_status) = st;
    return 0;
}

static int slurm_list_piece(void *ctx, const char *data, apr_size_t len)
{
    slurm_list_reader *r = ctx;

    r->read += len;
    r->refused = pai_json_split_feed(r->split, data, len) != 0;
    return r->refused;
}

typedef struct slurm_ctl_reader {
    apr_pool_t *p;
    apr_array_header_t *out;
} slurm_ctl_reader;

static int slurm_ctl_job(void *ctx, const pai_slurm_job *j)
{
    slurm_ctl_reader *r = ctx;
    pai_launch_status st;

    if (slurm_status_make(r->p, j, &st))   /* copies what it keeps into r->p */
        APR_ARRAY_PUSH(r->out, pai_launch_status) = st;
    return 0;
}

static pai_error *slurm_list(void *ctxv, apr_pool_t *p, apr_int64_t since, int *unchanged,
                             apr_array_header_t **out)
{
    slurm_ctx *c = ctxv;
    slurm_list_reader r;
    pai_http_response resp;
    apr_array_header_t *h = NULL;
    json_t *reply;
    pai_error *e;

    *unchanged = 0;
    *out = apr_array_make(p, 16, sizeof(pai_launch_status));
    if (c->conf.ctl_conf) {
        /* slurmctld's own answer: what slurmrestd would turn into JSON. */
        slurm_ctl_reader cr = {p, *out};
        if ((e = pai_slurmctl_jobs(p, c->conf.ctl_conf, since, unchanged, slurm_ctl_job, &cr)))
            return e;
        if (!*unchanged)
            slurm_resolve_hosts(c, p, *out);
        return NULL;
    }
    memset(&r, 0, sizeof(r));
    r.p = p;
    r.out = *out;
    r.split = pai_json_split_make(p, "jobs", SLURM_LIST_JOB_MAX, SLURM_LIST_REST_MAX,
                                  slurm_list_job, &r);
    if ((e = slurm_headers(c, p, c->conf.job_user, &h)) ||
        (e = pai_http_call_each(c->http, p, "GET", since > 0
                                ? apr_psprintf(p, SLURM_API "/jobs?update_time=%"
                                               APR_INT64_T_FMT, since)
                                : SLURM_API "/jobs", h, NULL, slurm_list_piece, &r, &resp)))
        /* No job is taken for lost on a list read in part: the cycle fails
         * and says why (an admin can cancel an outsized job). */
        return r.refused ? pai_error_make(p, PAI_ERR_LAUNCHER_BAD, "Slurm's job list is "
                                          "malformed, or holds a job of more than %d MB, "
                                          "near byte %" APR_SIZE_T_FMT,
                                          SLURM_LIST_JOB_MAX >> 20, r.read) : e;
    if (resp.status == 304) {
        *unchanged = 1;
        return NULL;
    }
    /* What is left once the jobs are taken out: meta and errors, and the
     * array ("jobs": []) that says the list was one. */
    reply = pai_json_split_rest(r.split, p);
    if (resp.status != 200 || !reply || !pai_json_arr(reply, "jobs"))
        return reply && resp.status != 200 ? slurm_reply_error(p, reply, resp.status, "list jobs")
                                           : pai_error_make(p, PAI_ERR_LAUNCHER_BAD,
                                                            "Slurm's job list is malformed");
    slurm_resolve_hosts(c, p, *out);
    return NULL;
}

static pai_error *slurm_status(void *ctxv, apr_pool_t *p, apr_int64_t id,
                               pai_launch_status *out, int *known)
{
    slurm_ctx *c = ctxv;
    pai_http_response resp;
    apr_array_header_t *one;
    json_t *reply, *jobs, *j;
    pai_error *e;

    *known = 0;
    if ((e = slurm_call(c, p, NULL, "GET",
                        apr_psprintf(p, SLURM_API "/job/%" APR_INT64_T_FMT, id), NULL, &resp,
                        &reply)))
        return e;
    if (resp.status != 200)
        return slurm_unknown_job(reply) ? NULL
                                        : slurm_reply_error(p, reply, resp.status, "job status");
    if (!reply || !(jobs = pai_json_arr(reply, "jobs")))
        return pai_error_make(p, PAI_ERR_LAUNCHER_BAD, "Slurm's job status is malformed");
    if (!json_is_object(j = json_array_get(jobs, 0)) || !slurm_parse_job(p, j, out))
        return NULL;
    one = apr_array_make(p, 1, sizeof(pai_launch_status));
    APR_ARRAY_PUSH(one, pai_launch_status) = *out;
    slurm_resolve_hosts(c, p, one);
    *out = APR_ARRAY_IDX(one, 0, pai_launch_status);
    *known = 1;
    return NULL;
}

static pai_error *slurm_capacity(void *ctxv, apr_pool_t *p, pai_capacity *out)
{
    slurm_ctx *c = ctxv;
    pai_http_response resp;
    json_t *reply, *nodes, *n;
    pai_error *e;
    size_t i;

    memset(out, 0, sizeof(*out));
    if ((e = slurm_call(c, p, NULL, "GET", SLURM_API "/nodes", NULL, &resp, &reply)))
        return e;
    if (resp.status != 200 || !reply || !(nodes = pai_json_arr(reply, "nodes")))
        return slurm_reply_error(p, reply, resp.status, "list nodes");
    json_array_foreach(nodes, i, n) {
        json_int_t cpus = 0, mem = 0;
        const char *gres = pai_json_str(n, "gres"), *g;
        if (!json_is_object(n))
            continue;
        pai_shape shape = {0, 0, 0, ""};
        pai_json_int(n, "cpus", &cpus);
        pai_json_int(n, "real_memory", &mem);
        out->nodes++;
        shape.cpus = cpus;
        shape.memory_mb = mem;
        /* "gpu:4" or "gpu:tesla:4(S:0)": the count follows the last colon,
         * the type (OpenPAI's SKU type) sits between the two. */
        if (gres && (g = strstr(gres, "gpu"))) {
            const char *end = g + strcspn(g, ",(");
            const char *colon = g, *first = NULL;
            const char *q;
            for (q = g; q < end; q++)
                if (*q == ':') {
                    if (!first)
                        first = q;
                    colon = q;
                }
            if (colon != g)
                shape.gpus = atoi(colon + 1);
            if (first && colon > first &&
                pai_gpu_type_valid(first + 1, (apr_size_t)(colon - first - 1)))
                memcpy(shape.gpu_type, first + 1, (apr_size_t)(colon - first - 1));
        }
        out->cpus += shape.cpus;
        out->memory_mb += shape.memory_mb;
        out->gpus += shape.gpus;
        pai_node_shapes_add(&out->shapes, &shape);
    }
    return NULL;
}

static const pai_launcher_ops slurm_ops = {
    "slurm", slurm_submit, slurm_cancel, slurm_list, slurm_capacity, slurm_status, slurm_account
};

pai_error *pai_launcher_slurm_create(apr_pool_t *p, const pai_slurm_conf *conf,
                                     pai_launcher **out)
{
    slurm_ctx *c = apr_pcalloc(p, sizeof(*c));
    pai_launcher *l = apr_pcalloc(p, sizeof(*l));
    pai_error *e;

    c->conf = *conf;
    /* A pool of the cache's own: the sync thread fills it while request
     * threads use p, and APR pools are not thread-safe. */
    if (pai_pool_private(p, &c->pool) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_INTERNAL, "no memory for the launcher");
    c->node_addr = apr_hash_make(c->pool);
    if ((e = pai_http_create(p, conf->url, conf->timeout_ms, &c->http)))
        return e;
    l->ops = &slurm_ops;
    l->ctx = c;
    *out = l;
    return NULL;
}

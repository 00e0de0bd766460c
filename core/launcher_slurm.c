/* The Slurm launcher: the only code that knows slurmrestd's JSON (openapi
 * v0.0.38) and the batch script that runs a job's task roles in Slurm. */
#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_hash.h>
#include <jwt.h>
#include "launcher.h"
#include "http.h"
#include "json.h"

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
    if (!c->per_user)
        return c->job_user;
    /* A PAI user called root must not get a root shell on the nodes. */
    return pai_user && *pai_user && strcmp(pai_user, "root") ? pai_user : NULL;
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

/* ---- the batch script ---------------------------------------------------- */

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

static void env_word(apr_array_header_t *w, apr_pool_t *p, const char *name, const char *value)
{
    APR_ARRAY_PUSH(w, const char *) = sq(p, apr_pstrcat(p, name, "=", value, NULL));
}

static const char *task_log(apr_pool_t *p, const pai_task_role *r, int i, const char *ext)
{
    return apr_psprintf(p, "\"$logdir/%s-%d.%s\"", r->name, i, ext);
}

/* The environment every task of the job shares (OpenPAI's PAI_* set). */
static apr_array_header_t *job_env(apr_pool_t *p, const pai_launch *l)
{
    const pai_jobspec *s = l->spec;
    apr_array_header_t *w = apr_array_make(p, 32, sizeof(const char *));
    const char *key, *list = "";
    json_t *v;
    int r, t;

    json_object_foreach(s->job_envs, key, v)
        env_word(w, p, key, json_string_value(v));
    env_word(w, p, "PAI_JOB_NAME", s->job_name);
    env_word(w, p, "PAI_USER_NAME", l->username);
    env_word(w, p, "PAI_JOB_VC_NAME", s->virtual_cluster);
    env_word(w, p, "PAI_DEFAULT_FS_URI", "");
    env_word(w, p, "PAI_DATA_DIR", s->data_dir);
    env_word(w, p, "PAI_OUTPUT_DIR", s->output_dir);
    env_word(w, p, "PAI_CODE_DIR", s->code_dir);
    env_word(w, p, "PAI_JOB_TASK_COUNT", apr_itoa(p, s->total_tasks));
    env_word(w, p, "PAI_JOB_TASK_ROLE_COUNT", apr_itoa(p, s->roles->nelts));
    for (r = 0; r < s->roles->nelts; r++) {
        const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, r, pai_task_role);
        const char *hosts = "";
        list = apr_pstrcat(p, list, r ? "," : "", tr->name, NULL);
        for (t = 0; t < tr->task_number; t++) {
            const char *h = tr->ports->nelts
                ? apr_psprintf(p, "$host_ip:%d", pai_task_port(s, l->port_base, r, t, 0, 0))
                : "$host_ip";
            hosts = apr_pstrcat(p, hosts, t ? "," : "", h, NULL);
        }
        /* Double quotes: $host_ip is known only on the node. */
        APR_ARRAY_PUSH(w, const char *) =
            apr_psprintf(p, "\"PAI_TASK_ROLE_%s_HOST_LIST=%s\"", tr->name, hosts);
    }
    env_word(w, p, "PAI_JOB_TASK_ROLE_LIST", list);
    return w;
}

static const char *task_env(apr_pool_t *p, const pai_launch *l, int r, int t,
                            const apr_array_header_t *common)
{
    const pai_jobspec *s = l->spec;
    const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, r, pai_task_role);
    apr_array_header_t *w = apr_array_copy(p, common);
    const char *ports = "";
    int i, k;

    env_word(w, p, "PAI_CURRENT_TASK_ROLE_NAME", tr->name);
    env_word(w, p, "PAI_CURRENT_TASK_ROLE_CURRENT_TASK_INDEX", apr_itoa(p, t));
    env_word(w, p, "PAI_TASK_INDEX", apr_itoa(p, t));
    env_word(w, p, "PAI_CURRENT_TASK_ROLE_TASK_COUNT", apr_itoa(p, tr->task_number));
    env_word(w, p, "PAI_CURRENT_TASK_ROLE_CPU_COUNT", apr_itoa(p, tr->cpu_number));
    env_word(w, p, "PAI_CURRENT_TASK_ROLE_MEM_MB", apr_itoa(p, tr->memory_mb));
    env_word(w, p, "PAI_CURRENT_TASK_ROLE_SHM_MB", apr_itoa(p, tr->shm_mb));
    env_word(w, p, "PAI_CURRENT_TASK_ROLE_GPU_COUNT", apr_itoa(p, tr->gpu_number));
    env_word(w, p, "PAI_CURRENT_TASK_ROLE_MIN_FAILED_TASK_COUNT",
             tr->min_failed ? apr_itoa(p, tr->min_failed) : "");
    env_word(w, p, "PAI_CURRENT_TASK_ROLE_MIN_SUCCEEDED_TASK_COUNT",
             tr->min_succeeded ? apr_itoa(p, tr->min_succeeded) : "");
    for (i = 0; i < tr->ports->nelts; i++) {
        const pai_port_spec *ps = &APR_ARRAY_IDX(tr->ports, i, pai_port_spec);
        const char *one = apr_pstrcat(p, ps->label, ":", NULL);
        for (k = 0; k < ps->count; k++)
            one = apr_psprintf(p, "%s%s%d", one, k ? "," : "",
                               pai_task_port(s, l->port_base, r, t, i, k));
        ports = apr_pstrcat(p, ports, i ? ";" : "", one, NULL);
    }
    env_word(w, p, "PAI_CONTAINER_HOST_PORT_LIST", ports);
    env_word(w, p, "PAI_CONTAINER_SSH_PORT", apr_itoa(p, pai_task_ssh_port(s, l->port_base, r, t)));
    env_word(w, p, "PAI_JOB_ATTEMPT", apr_itoa(p, l->attempt));
    if (l->ssh_public_key) {
        env_word(w, p, "PAI_SSH_PUBLIC_KEY", l->ssh_public_key);
        env_word(w, p, "PAI_SSH_REPORT_URL", l->report_url);
        env_word(w, p, "PAI_SSH_SECRET", l->report_secret);
        APR_ARRAY_PUSH(w, const char *) =
            apr_psprintf(p, "\"PAI_TASK_SSH_DIR=$logdir/%s-%d.ssh\"", tr->name, t);
    }
    env_word(w, p, "PAI_CONTAINER_ID",
             apr_psprintf(p, "%s-%d-%s-%d", s->job_name, l->attempt, tr->name, t));
    APR_ARRAY_PUSH(w, const char *) = "\"PAI_CONTAINER_HOST_IP=$host_ip\"";
    return apr_array_pstrcat(p, w, ' ');
}

/* Each task runs under this wrapper: an sshd for the job's key alone, on the
 * task's port, as the job's account, while the command runs; the task reports
 * where it listens with the job's secret, which the command never sees.  Its
 * first act marks the task started (see pai_task below). */
static const char task_wrapper[] =
    "cat > \"$logdir/pai-task.sh\" <<'PAI_TASK_EOF'\n"
    "#!/bin/bash\n"
    ": > \"$2\"\n"
    "cmd=$1\n"
    "secret=${PAI_SSH_SECRET:-}\n"
    "unset PAI_SSH_SECRET\n"
    "sshd_pid=\n"
    "if [ -n \"${PAI_SSH_PUBLIC_KEY:-}\" ] && [ -x /usr/sbin/sshd ]; then\n"
    "  d=$PAI_TASK_SSH_DIR\n"
    "  mkdir -p \"$d\" && chmod 700 \"$d\"\n"
    "  printf '%s\\n' \"$PAI_SSH_PUBLIC_KEY\" > \"$d/authorized_keys\"\n"
    "  ssh-keygen -q -t ed25519 -N '' -f \"$d/host_key\" </dev/null\n"
    "  export -p | grep -v -E '^declare -x (SSH_|PAI_SSH_|PAI_TASK_SSH_DIR|SLURM_|PWD=|OLDPWD=|SHLVL=)' > \"$d/env.sh\"\n"
    "  printf '#!/bin/bash\\n. %s/env.sh\\ncd \"$PWD\"\\nif [ -n \"$SSH_ORIGINAL_COMMAND\" ]; then exec /bin/bash -c \"$SSH_ORIGINAL_COMMAND\"; else exec /bin/bash -l; fi\\n' \"$d\" > \"$d/login.sh\"\n"
    "  chmod 700 \"$d/login.sh\"\n"
    "  printf '%s\\n' \"Port $PAI_CONTAINER_SSH_PORT\" \"HostKey $d/host_key\" \\\n"
    "    \"AuthorizedKeysFile $d/authorized_keys\" \"PidFile $d/sshd.pid\" \\\n"
    "    'PasswordAuthentication no' 'KbdInteractiveAuthentication no' 'UsePAM no' \\\n"
    "    'StrictModes no' \"AllowUsers $(id -un)\" \"ForceCommand $d/login.sh\" > \"$d/sshd_config\"\n"
    /* Not on the step's stdout: a lingering holder keeps Slurm's step (and the
     * job) COMPLETING until slurmstepd gives up on its IO a minute later. */
    "  /usr/sbin/sshd -f \"$d/sshd_config\" -D -e </dev/null >>\"$d/sshd.log\" 2>&1 &\n"
    "  sshd_pid=$!\n"
    "  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s \"$d/sshd.pid\" ] && break; sleep 0.1; done\n"
    "  curl -s -m 10 -o /dev/null </dev/null -X POST -H 'Content-Type: application/json' \\\n"
    "    -H \"X-PAI-Job-Secret: $secret\" \"$PAI_SSH_REPORT_URL\" \\\n"
    "    -d \"{\\\"attempt\\\": $PAI_JOB_ATTEMPT, \\\"taskRole\\\": \\\"$PAI_CURRENT_TASK_ROLE_NAME\\\", \\\"taskIndex\\\": $PAI_TASK_INDEX, \\\"ip\\\": \\\"$PAI_CONTAINER_HOST_IP\\\", \\\"port\\\": $PAI_CONTAINER_SSH_PORT}\" \\\n"
    "    || echo \"mod_pairest: could not report the sshd of this task\" >&2\n"
    "fi\n"
    "unset PAI_SSH_PUBLIC_KEY PAI_SSH_REPORT_URL PAI_TASK_SSH_DIR secret\n"
    "/bin/bash -c \"$cmd\"\n"
    "st=$?\n"
    "if [ -n \"$sshd_pid\" ]; then\n"
    "  kill \"$sshd_pid\" 2>/dev/null\n"
    "  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 \"$sshd_pid\" 2>/dev/null || break; sleep 0.1; done\n"
    "  kill -KILL \"$sshd_pid\" 2>/dev/null; wait \"$sshd_pid\" 2>/dev/null\n"
    "fi\n"
    "exit $st\n"
    "PAI_TASK_EOF\n"
    /* srun needs slurmctld to make a step: while it is down, a batch script
     * that already runs would fail its tasks before they start, and a job the
     * user wrote well would end FAILED.  A step that never started (no mark)
     * is tried again for up to PAI_STEP_RETRY_SECONDS; once the wrapper ran,
     * the exit status is the task's own.  TERM (the completion rule, scancel)
     * ends the step too.  The steps of a job fit its allocation exactly, so a
     * step is refused only for a passing reason (the node not yet back on a
     * slurmctld that just restarted): srun --immediate gives up on it in
     * seconds, where srun alone would wait at least 60 s to ask again. */
    "pai_task() {\n"
    "  local task=$1 started=\"$logdir/.$1.started\" child= st until=$((SECONDS + " PAI_STEP_RETRY_SECONDS "))\n"
    "  shift\n"
    "  trap '[ -n \"$child\" ] && kill -TERM \"$child\" 2>/dev/null; wait \"$child\"; exit 143' TERM\n"
    "  while :; do\n"
    "    \"$@\" & child=$!\n"
    "    wait \"$child\"; st=$?\n"
    "    if [ \"$st\" -eq 0 ] || [ -e \"$started\" ] || [ \"$SECONDS\" -ge \"$until\" ]; then\n"
    "      return \"$st\"\n"
    "    fi\n"
    "    echo \"mod_pairest: the step of task $task did not start (srun exit $st); again in 5 s\"\n"
    "    sleep 5 & child=$!\n"
    "    wait \"$child\"\n"
    "  done\n"
    "}\n";

/* One allocation sized to the sum of the roles (a gang: all start or none),
 * one `srun --exact` step per task, and FrameworkLauncher's completion rule:
 * a role fails when minFailedTaskCount of its tasks failed, succeeds when
 * minSucceededTaskCount did (null: all); the job fails when one role fails and
 * succeeds when all succeed; the rest of the tasks are then ended. */
const char *pai_slurm_batch_script(apr_pool_t *p, const pai_slurm_conf *c, const pai_launch *l)
{
    const pai_jobspec *s = l->spec;
    const apr_array_header_t *common = job_env(p, l);
    const char *min_failed = "", *need = "", *zeros = "";
    char *out;
    int r, t;

    out = apr_psprintf(p,
        "#!/bin/bash\n"
        "# mod_pairest: job %s, attempt %d, of %s\n"
        "logdir=%s\n"
        /* Nobody else's business: with one account per user, this keeps the
         * job's files from the other users' tasks. */
        "umask 077\n"
        "mkdir -p \"$logdir\" || exit 70\n"
        /* Tasks start in their attempt's own folder (private, see umask). */
        "cd \"$logdir\" || exit 70\n"
        "exec >>\"$logdir/batch.log\" 2>&1\n"
        "host_ip=$(getent ahostsv4 \"$(hostname)\" 2>/dev/null | awk 'NR==1 {print $1}')\n"
        "[ -n \"$host_ip\" ] || host_ip=127.0.0.1\n"
        "declare -A role_of=()\n"
        "%s",
        s->job_name, l->attempt, l->username,
        sq(p, apr_psprintf(p, "%s/%s/attempt-%d", c->log_dir, s->job_name, l->attempt)),
        task_wrapper);
    for (r = 0; r < s->roles->nelts; r++) {
        const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, r, pai_task_role);
        min_failed = apr_psprintf(p, "%s %d", min_failed, tr->min_failed);
        need = apr_psprintf(p, "%s %d", need, tr->min_succeeded ? tr->min_succeeded
                                                                 : tr->task_number);
        zeros = apr_pstrcat(p, zeros, " 0", NULL);
        for (t = 0; t < tr->task_number; t++) {
            out = apr_pstrcat(p, out, apr_psprintf(p,
                "pai_task %s-%d \\\n"
                "  srun --exact --immediate=" PAI_STEP_IMMEDIATE_SECONDS
                " --ntasks=1 --nodes=1 --cpus-per-task=%d --mem=%d --gres=%s "
                "--job-name=%s --output=%s --error=%s \\\n"
                "  env %s \\\n  /bin/bash \"$logdir/pai-task.sh\" %s \"$logdir/.%s-%d.started\" &\n"
                "role_of[$!]=%d\n",
                tr->name, t, tr->cpu_number, tr->memory_mb,
                tr->gpu_number ? apr_psprintf(p, "gpu:%d", tr->gpu_number) : "none",
                sq(p, apr_psprintf(p, "%s-%d", tr->name, t)),
                task_log(p, tr, t, "out"), task_log(p, tr, t, "err"),
                task_env(p, l, r, t, common), sq(p, tr->command), tr->name, t, r), NULL);
        }
    }
    return apr_pstrcat(p, out,
        "min_failed=(", min_failed, " )\n"
        "need=(", need, " )\n"
        "failed=(", zeros, " )\n"
        "succeeded=(", zeros, " )\n"
        "left=${#role_of[@]}\n"
        "code=0\n"
        "verdict=\n"
        "while [ \"$left\" -gt 0 ]; do\n"
        "  finished=\n"
        "  wait -n -p finished\n"
        "  st=$?\n"
        "  [ -n \"$finished\" ] || break\n"
        "  left=$((left - 1))\n"
        "  r=${role_of[$finished]}\n"
        "  unset \"role_of[$finished]\"\n"
        "  if [ \"$st\" -eq 0 ]; then\n"
        "    succeeded[r]=$((succeeded[r] + 1))\n"
        "  else\n"
        "    failed[r]=$((failed[r] + 1))\n"
        "    [ \"$code\" -ne 0 ] || code=$st\n"
        "    if [ \"${min_failed[r]}\" -gt 0 ] && [ \"${failed[r]}\" -ge \"${min_failed[r]}\" ]; then\n"
        "      verdict=failed; break\n"
        "    fi\n"
        "  fi\n"
        "  all=1\n"
        "  for i in \"${!need[@]}\"; do [ \"${succeeded[i]}\" -ge \"${need[i]}\" ] || all=0; done\n"
        "  if [ \"$all\" -eq 1 ]; then verdict=succeeded; break; fi\n"
        "done\n"
        "for pid in \"${!role_of[@]}\"; do kill -TERM \"$pid\" 2>/dev/null; done\n"
        "wait\n"
        "echo \"mod_pairest: verdict ${verdict:-all tasks ended}, first failure code $code\"\n"
        "if [ \"$verdict\" = failed ]; then exit $(( code == 0 ? 1 : code )); fi\n"
        "exit 0\n", NULL);
}

/* ---- operations ---------------------------------------------------------- */

static pai_error *slurm_submit(void *ctxv, apr_pool_t *p, const pai_launch *l, apr_int64_t *id)
{
    slurm_ctx *c = ctxv;
    const pai_jobspec *s = l->spec;
    const char *user = pai_slurm_account(&c->conf, l->username);
    pai_http_response resp;
    json_t *req, *job, *reply;
    json_int_t jid;
    pai_error *e;

    if (!user)
        return pai_error_make(p, PAI_ERR_FORBIDDEN, "jobs of user %s cannot run: no account of "
                              "that name may be used", l->username);
    job = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:i, s:I, s:I, s:s, s:b}",
                    "name", s->job_name,
                    "partition", c->conf.partition,
                    "current_working_directory", c->conf.log_dir,
                    "environment", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                   "LANG", "C.UTF-8",
                    "standard_output", "/dev/null",
                    "standard_error", "/dev/null",
                    "tasks", 1,
                    "cpus_per_task", (json_int_t)s->total_cpus,
                    "memory_per_node", (json_int_t)s->total_memory_mb,
                    "comment", apr_psprintf(p, "pai:%s:%d", s->job_name, l->attempt),
                    "requeue", 0);
    if (!job)
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot build the Slurm request");
    if (s->total_gpus > 0)
        pai_json_set_str(job, "gres", apr_psprintf(p, "gpu:%" APR_INT64_T_FMT, s->total_gpus));
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

    if ((e = slurm_call(c, p, pai_slurm_account(&c->conf, user), "DELETE",
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

static int slurm_parse_job(apr_pool_t *p, json_t *j, pai_launch_status *out)
{
    const char *comment = pai_json_str(j, "comment"), *st = pai_json_str(j, "job_state");
    const char *reason = pai_json_str(j, "state_reason");
    json_int_t id, wait_status = 0, t;
    char *name, *colon;

    if (!comment || strncmp(comment, "pai:", 4) || !st || !pai_json_int(j, "job_id", &id))
        return 0;
    name = apr_pstrdup(p, comment + 4);
    colon = strrchr(name, ':');
    if (!colon || !pai_job_name_valid((*colon = '\0', name)))
        return 0;
    memset(out, 0, sizeof(*out));
    out->id = id;
    out->job_name = name;
    out->attempt = atoi(colon + 1);
    out->sub_state = apr_pstrdup(p, st);
    pai_json_int(j, "exit_code", &wait_status);
    /* exit_code is a wait status: exit 3 reads 768, a signal its low bits. */
    out->exit_code = (wait_status & 0x7f) ? 128 + (int)(wait_status & 0x7f)
                                          : (int)((wait_status >> 8) & 0xff);
    slurm_state(st, out->exit_code, &out->state, &out->active);
    out->has_exit = !out->active && strcmp(out->state, "UNKNOWN");
    if (pai_json_int(j, "submit_time", &t)) out->submit_ms = t * 1000;
    if (pai_json_int(j, "start_time", &t) && t > 0 && strcmp(st, "PENDING")) out->start_ms = t * 1000;
    if (!out->active && pai_json_int(j, "end_time", &t) && t > 0) out->end_ms = t * 1000;
    out->host = apr_pstrdup(p, pai_json_str(j, "batch_host") ? pai_json_str(j, "batch_host") : "");
    out->user = apr_pstrdup(p, pai_json_str(j, "user_name") ? pai_json_str(j, "user_name") : "");
    out->diagnostics = reason && strcmp(reason, "None")
        ? apr_psprintf(p, "%s: %s", st, reason)
        : apr_pstrdup(p, st);
    return 1;
}

/* Learns the nodes' addresses (GET /nodes) when a name is new. */
static void slurm_resolve_hosts(slurm_ctx *c, apr_pool_t *p, apr_array_header_t *jobs)
{
    pai_http_response resp;
    json_t *reply, *nodes, *n;
    int i, fetched = 0;
    size_t k;

    for (i = 0; i < jobs->nelts; i++) {
        pai_launch_status *st = &APR_ARRAY_IDX(jobs, i, pai_launch_status);
        const char *addr;
        if (!*st->host)
            continue;
        addr = apr_hash_get(c->node_addr, st->host, APR_HASH_KEY_STRING);
        if (!addr && !fetched) {
            fetched = 1;
            if (!slurm_call(c, p, NULL, "GET", SLURM_API "/nodes", NULL, &resp, &reply) &&
                resp.status == 200 && reply && (nodes = pai_json_arr(reply, "nodes"))) {
                json_array_foreach(nodes, k, n) {
                    const char *name = pai_json_str(n, "name"), *a = pai_json_str(n, "address");
                    if (name && a && *a)
                        apr_hash_set(c->node_addr, apr_pstrdup(c->pool, name), APR_HASH_KEY_STRING,
                                     apr_pstrdup(c->pool, a));
                }
            }
            addr = apr_hash_get(c->node_addr, st->host, APR_HASH_KEY_STRING);
        }
        if (addr)
            st->host = addr;
    }
}

static pai_error *slurm_list(void *ctxv, apr_pool_t *p, apr_int64_t since, int *unchanged,
                             apr_array_header_t **out)
{
    slurm_ctx *c = ctxv;
    pai_http_response resp;
    json_t *reply, *jobs, *j;
    pai_error *e;
    size_t i;

    *unchanged = 0;
    *out = apr_array_make(p, 16, sizeof(pai_launch_status));
    if ((e = slurm_call(c, p, NULL, "GET", since > 0
                        ? apr_psprintf(p, SLURM_API "/jobs?update_time=%" APR_INT64_T_FMT, since)
                        : SLURM_API "/jobs", NULL, &resp, &reply)))
        return e;
    if (resp.status == 304) {
        *unchanged = 1;
        return NULL;
    }
    if (resp.status != 200 || !reply || !(jobs = pai_json_arr(reply, "jobs")))
        return reply && resp.status != 200 ? slurm_reply_error(p, reply, resp.status, "list jobs")
                                           : pai_error_make(p, PAI_ERR_LAUNCHER_BAD,
                                                            "Slurm's job list is malformed");
    json_array_foreach(jobs, i, j) {
        pai_launch_status st;
        if (json_is_object(j) && slurm_parse_job(p, j, &st))
            APR_ARRAY_PUSH(*out, pai_launch_status) = st;
    }
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
        pai_json_int(n, "cpus", &cpus);
        pai_json_int(n, "real_memory", &mem);
        out->nodes++;
        out->cpus += cpus;
        out->memory_mb += mem;
        /* "gpu:4" or "gpu:tesla:4(S:0)": the count follows the last colon. */
        if (gres && (g = strstr(gres, "gpu"))) {
            const char *end = g + strcspn(g, ",(");
            const char *colon = g;
            const char *q;
            for (q = g; q < end; q++)
                if (*q == ':')
                    colon = q;
            if (colon != g)
                out->gpus += atoi(colon + 1);
        }
    }
    return NULL;
}

static const pai_launcher_ops slurm_ops = {
    "slurm", slurm_submit, slurm_cancel, slurm_list, slurm_capacity, slurm_status
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

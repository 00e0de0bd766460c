/* The API's routing table, and matching request paths against it. */
#include <string.h>
#include <apr_strings.h>
#include "route.h"

const pai_route pai_routes[PAI_R_COUNT] = {
    [PAI_R_TOKEN_POST] = {"POST", "/api/v1/token", PAI_AUTH_NONE, PAI_BODY_JSON_OR_FORM,
                         {"token.issue", "username", "expiration"}, .password = 1},
    [PAI_R_USER_PUT] = {"PUT", "/api/v1/user", PAI_AUTH_USER, PAI_BODY_JSON,
                       {"user.put", "username", "admin"}, .password = 1},
    [PAI_R_USER_DELETE] = {"DELETE", "/api/v1/user", PAI_AUTH_ADMIN, PAI_BODY_JSON,
                          {"user.delete", "username", NULL}},
    [PAI_R_USER_VCS_PUT] = {"PUT", "/api/v1/user/:username/virtualClusters", PAI_AUTH_ADMIN,
                            PAI_BODY_JSON, {"user.virtualClusters", ":0", "virtualClusters"}},
    [PAI_R_JOBS_GET] = {"GET", "/api/v1/jobs", PAI_AUTH_OPTIONAL, PAI_BODY_NONE,
                        .cache = 1},
    [PAI_R_JOBS_POST] = {"POST", "/api/v1/jobs", PAI_AUTH_USER, PAI_BODY_JSON,
                        {"job.submit", "jobName", "virtualCluster"}},
    [PAI_R_JOB_GET] = {"GET", "/api/v1/jobs/:jobName", PAI_AUTH_OPTIONAL, PAI_BODY_NONE,
                       .cache = 1},
    [PAI_R_JOB_CONFIG_GET] = {"GET", "/api/v1/jobs/:jobName/config", PAI_AUTH_OPTIONAL,
                              PAI_BODY_NONE},
    [PAI_R_JOB_EXECUTION_PUT] = {"PUT", "/api/v1/jobs/:jobName/executionType", PAI_AUTH_USER,
                                 PAI_BODY_JSON, {"job.executionType", ":0", "value"}},
    [PAI_R_JOB_SSH_GET] = {"GET", "/api/v1/jobs/:jobName/ssh", PAI_AUTH_OPTIONAL, PAI_BODY_NONE},
    [PAI_R_JOB_SSH_KEY_GET] = {"GET", "/api/v1/jobs/:jobName/ssh/key", PAI_AUTH_USER,
                               PAI_BODY_NONE},
    /* Tasks authenticate with their job's secret, checked by the handler. */
    [PAI_R_JOB_SSH_REPORT_POST] = {"POST", "/api/v1/jobs/:jobName/ssh/report", PAI_AUTH_NONE,
                                   PAI_BODY_JSON, {"job.ssh.report", ":0", "taskRole"}},
    [PAI_R_JOB_TASK_REPORT_POST] = {"POST", "/api/v1/jobs/:jobName/tasks/report", PAI_AUTH_NONE,
                                    PAI_BODY_JSON, {"job.task.report", ":0", "taskRole"}},
    [PAI_R_VCS_GET] = {"GET", "/api/v1/virtual-clusters", PAI_AUTH_OPTIONAL, PAI_BODY_NONE,
                       .cache = 1},
    [PAI_R_VC_GET] = {"GET", "/api/v1/virtual-clusters/:vcName", PAI_AUTH_OPTIONAL,
                      PAI_BODY_NONE, .cache = 1},
    [PAI_R_AUDIT_GET] = {"GET", "/api/v1/audit", PAI_AUTH_ADMIN, PAI_BODY_NONE},
    /* Only the exact path: httpd folds "/api/v1/jobs/.." into "/api/v1/", and a
     * path that climbs out of a resource is no request for the root. */
    [PAI_R_API_GET] = {"GET", "/api/v1", PAI_AUTH_NONE, PAI_BODY_NONE, {NULL, NULL, NULL}, 1},
    [PAI_R_USERS_GET] = {"GET", "/api/v1/user", PAI_AUTH_ADMIN, PAI_BODY_NONE},
    [PAI_R_USER_JOBS_GET] = {"GET", "/api/v1/user/:username/jobs", PAI_AUTH_OPTIONAL,
                             PAI_BODY_NONE, .cache = 1},
    [PAI_R_USER_JOBS_POST] = {"POST", "/api/v1/user/:username/jobs", PAI_AUTH_USER,
                              PAI_BODY_JSON, {"job.submit", "jobName", "virtualCluster"}},
    [PAI_R_USER_JOB_GET] = {"GET", "/api/v1/user/:username/jobs/:jobName", PAI_AUTH_OPTIONAL,
                            PAI_BODY_NONE, .cache = 1},
    [PAI_R_USER_JOB_CONFIG_GET] = {"GET", "/api/v1/user/:username/jobs/:jobName/config",
                                   PAI_AUTH_OPTIONAL, PAI_BODY_NONE},
    [PAI_R_USER_JOB_EXECUTION_PUT] = {"PUT", "/api/v1/user/:username/jobs/:jobName/executionType",
                                      PAI_AUTH_USER, PAI_BODY_JSON,
                                      {"job.executionType", ":1", "value"}},
    [PAI_R_USER_JOB_SSH_GET] = {"GET", "/api/v1/user/:username/jobs/:jobName/ssh",
                                PAI_AUTH_OPTIONAL, PAI_BODY_NONE},
    [PAI_R_JOB_DELETE] = {"DELETE", "/api/v1/jobs/:jobName", PAI_AUTH_USER, PAI_BODY_NONE,
                          {"job.delete", ":0", NULL}},
    [PAI_R_USER_JOB_DELETE] = {"DELETE", "/api/v1/user/:username/jobs/:jobName", PAI_AUTH_USER,
                               PAI_BODY_NONE, {"job.delete", ":1", NULL}},
    /* v2's reads need a token, as v1.8's; its info is public. */
    [PAI_R_V2_INFO_GET] = {"GET", "/api/v2/info", PAI_AUTH_NONE, PAI_BODY_NONE},
    [PAI_R_V2_LOGIN_POST] = {"POST", "/api/v2/authn/basic/login", PAI_AUTH_NONE,
                             PAI_BODY_JSON_OR_FORM, {"token.issue", "username", "expiration"},
                             .password = 1},
    [PAI_R_V2_LOGOUT_DELETE] = {"DELETE", "/api/v2/authn/basic/logout", PAI_AUTH_USER,
                                PAI_BODY_NONE, {"token.revoke", NULL, NULL}},
    [PAI_R_V2_USERS_GET] = {"GET", "/api/v2/users", PAI_AUTH_ADMIN, PAI_BODY_NONE},
    [PAI_R_V2_USER_GET] = {"GET", "/api/v2/users/:username", PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_VCS_GET] = {"GET", "/api/v2/virtual-clusters", PAI_AUTH_USER, PAI_BODY_NONE,
                          .cache = 1},
    [PAI_R_V2_VC_GET] = {"GET", "/api/v2/virtual-clusters/:vcName", PAI_AUTH_USER,
                         PAI_BODY_NONE, .cache = 1},
    /* A job is "user~job" there (v1.8's frameworkName). */
    [PAI_R_V2_JOBS_GET] = {"GET", "/api/v2/jobs", PAI_AUTH_USER, PAI_BODY_NONE, .cache = 1},
    [PAI_R_V2_JOBS_POST] = {"POST", "/api/v2/jobs", PAI_AUTH_USER, PAI_BODY_YAML,
                            {"job.submit", "name", NULL}},
    [PAI_R_V2_JOB_GET] = {"GET", "/api/v2/jobs/:frameworkName", PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_JOB_CONFIG_GET] = {"GET", "/api/v2/jobs/:frameworkName/config", PAI_AUTH_USER,
                                 PAI_BODY_NONE},
    [PAI_R_V2_JOB_EXECUTION_PUT] = {"PUT", "/api/v2/jobs/:frameworkName/executionType",
                                    PAI_AUTH_USER, PAI_BODY_JSON,
                                    {"job.executionType", ":0", "value"}},
    [PAI_R_V2_JOB_TAG_PUT] = {"PUT", "/api/v2/jobs/:frameworkName/tag", PAI_AUTH_USER,
                              PAI_BODY_JSON, {"job.tag.add", ":0", "value"}},
    [PAI_R_V2_JOB_TAG_DELETE] = {"DELETE", "/api/v2/jobs/:frameworkName/tag", PAI_AUTH_USER,
                                 PAI_BODY_JSON, {"job.tag.delete", ":0", "value"}},
    /* Before .../:index, which it would match too: the first match wins. */
    [PAI_R_V2_JOB_ATTEMPTS_HEALTHZ_GET] = {"GET", "/api/v2/jobs/:frameworkName/job-attempts/healthz",
                                           PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_JOB_ATTEMPTS_GET] = {"GET", "/api/v2/jobs/:frameworkName/job-attempts",
                                   PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_JOB_ATTEMPT_GET] = {"GET", "/api/v2/jobs/:frameworkName/job-attempts/:index",
                                  PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_JOB_ATTEMPT_DETAIL_GET] = {"GET", "/api/v2/jobs/:frameworkName/attempts/:jobAttemptId",
                                         PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_JOB_TASK_ATTEMPTS_GET] = {"GET", "/api/v2/jobs/:frameworkName/attempts/:jobAttemptId"
                                        "/taskRoles/:taskRoleName/taskIndex/:taskIndex/attempts",
                                        PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_VC_SKU_TYPES_GET] = {"GET", "/api/v2/virtual-clusters/:vcName/sku-types",
                                   PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_CLUSTER_SKU_TYPES_GET] = {"GET", "/api/v2/cluster/sku-types", PAI_AUTH_USER,
                                        PAI_BODY_NONE},
    /* A task's log list (v1.8's), and each log's content (this server's URIs). */
    [PAI_R_V2_JOB_TASK_LOGS_GET] = {"GET", "/api/v2/jobs/:frameworkName/attempts/:jobAttemptId"
                                    "/taskRoles/:taskRoleName/taskIndex/:taskIndex"
                                    "/attempts/:taskAttemptId/logs", PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_JOB_TASK_LOG_GET] = {"GET", "/api/v2/jobs/:frameworkName/attempts/:jobAttemptId"
                                   "/taskRoles/:taskRoleName/taskIndex/:taskIndex"
                                   "/attempts/:taskAttemptId/logs/:logName", PAI_AUTH_USER,
                                   PAI_BODY_NONE},
    /* One's own tokens (never the tokens themselves), and revoking one: by
     * its id, or the token as OpenPAI's SDK sends it (not in the audit). */
    [PAI_R_V2_TOKENS_GET] = {"GET", "/api/v2/tokens", PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_TOKEN_CHECK_GET] = {"GET", "/api/v2/tokens/check", PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_TOKEN_APPLICATION_POST] = {"POST", "/api/v2/tokens/application", PAI_AUTH_USER,
                                         PAI_BODY_JSON_OPTIONAL,
                                         {"token.application", NULL, "expiration"}},
    [PAI_R_V2_TOKEN_DELETE] = {"DELETE", "/api/v2/tokens/:token", PAI_AUTH_USER, PAI_BODY_NONE,
                               {"token.revoke", NULL, NULL}},
    [PAI_R_V2_JOB_EVENTS_GET] = {"GET", "/api/v2/jobs/:frameworkName/events", PAI_AUTH_USER,
                                 PAI_BODY_NONE},
    /* Server-Sent Events: every change of a job's state the caller may see. */
    [PAI_R_V2_EVENTS_STREAM_GET] = {"GET", "/api/v2/events/stream", PAI_AUTH_USER,
                                    PAI_BODY_NONE},
    /* One's webhooks (the URL may hold a receiver's key: not in the audit). */
    [PAI_R_V2_WEBHOOKS_GET] = {"GET", "/api/v2/webhooks", PAI_AUTH_USER, PAI_BODY_NONE},
    [PAI_R_V2_WEBHOOKS_POST] = {"POST", "/api/v2/webhooks", PAI_AUTH_USER, PAI_BODY_JSON,
                                {"webhook.create", NULL, NULL}},
    [PAI_R_V2_WEBHOOK_GET] = {"GET", "/api/v2/webhooks/:webhookId", PAI_AUTH_USER,
                              PAI_BODY_NONE},
    [PAI_R_V2_WEBHOOK_DELETE] = {"DELETE", "/api/v2/webhooks/:webhookId", PAI_AUTH_USER,
                                 PAI_BODY_NONE, {"webhook.delete", ":0", NULL}},
    [PAI_R_V2_WEBHOOK_DELIVERIES_GET] = {"GET", "/api/v2/webhooks/:webhookId/deliveries",
                                         PAI_AUTH_USER, PAI_BODY_NONE},
};

int pai_route_for_applications(int id)
{
    const char *path;

    if (id < 0 || id >= PAI_R_COUNT)
        return 0;
    if (id == PAI_R_V2_TOKEN_CHECK_GET || id == PAI_R_V2_EVENTS_STREAM_GET)
        return 1;
    path = pai_routes[id].pattern;
    return !strncmp(path, "/api/v1/jobs", 12) || !strncmp(path, "/api/v2/jobs", 12) ||
           !strncmp(path, "/api/v1/user/:username/jobs", 27);
}

static const struct { const char *prefix, *why; } pai_unprovided[] = {
    {"/api/v2/kubernetes", "OpenPAI's window on Kubernetes: jobs run on Slurm here"},
    {"/api/v2/storages", "storage configurations: jobs name their folders (dataDir, outputDir)"},
    {"/api/v2/storage", "storage configurations: jobs name their folders (dataDir, outputDir)"},
    {"/api/v2/groups", "groups: the VCs a user may use are granted per user "
                       "(PUT /api/v1/user/:username/virtualClusters)"},
    {"/api/v2/group", "groups: the VCs a user may use are granted per user "
                      "(PUT /api/v1/user/:username/virtualClusters)"},
    {"/api/v2/alerts", "alerts: there is no Prometheus alert manager here"},
    {"/api/v2/cluster", "the cluster's resources: only its SKU types (/api/v2/cluster/sku-types)"},
};

const char *pai_route_unprovided(const char *path)
{
    size_t i;
    for (i = 0; i < sizeof(pai_unprovided) / sizeof(*pai_unprovided); i++) {
        size_t n = strlen(pai_unprovided[i].prefix);
        if (!strncmp(path, pai_unprovided[i].prefix, n) && (path[n] == '\0' || path[n] == '/'))
            return pai_unprovided[i].why;
    }
    return NULL;
}

int pai_route_api(const char *path)
{
    /* A request httpd refused before it had a path has none. */
    if (!path || strncmp(path, "/api/v", 6) || (path[6] != '1' && path[6] != '2') ||
        (path[7] != '\0' && path[7] != '/'))
        return 0;
    return path[6] - '0';
}

int pai_route_match(apr_pool_t *p, const char *pattern, const char *path,
                    const char *params[PAI_ROUTE_MAX_PARAMS])
{
    const char *pt = pattern, *pa = path;
    int n = 0;

    while (*pt && *pa) {
        if (*pt == ':') {
            const char *seg_end = strchr(pa, '/');
            apr_size_t len = seg_end ? (apr_size_t)(seg_end - pa) : strlen(pa);
            if (len == 0 || n >= PAI_ROUTE_MAX_PARAMS)
                return 0;
            params[n++] = apr_pstrmemdup(p, pa, len);
            pa += len;
            while (*pt && *pt != '/')
                pt++;
        }
        else if (*pt++ != *pa++) {
            return 0;
        }
    }
    if (*pt)
        return 0;
    return *pa == '\0' || (pa[0] == '/' && pa[1] == '\0');
}

int pai_route_find(apr_pool_t *p, const char *method, const char *path,
                   const char *params[PAI_ROUTE_MAX_PARAMS], const char **allow)
{
    /* HEAD is GET without a body: httpd drops the body for us. */
    const char *want = strcmp(method, "HEAD") ? method : "GET";
    int i;

    *allow = NULL;
    for (i = 0; i < PAI_R_COUNT; i++) {
        const char *tmp[PAI_ROUTE_MAX_PARAMS];
        if (!pai_route_match(p, pai_routes[i].pattern, path, tmp) ||
            (pai_routes[i].exact && strcmp(pai_routes[i].pattern, path)))
            continue;
        if (!strcmp(pai_routes[i].method, want)) {
            memcpy(params, tmp, sizeof(tmp));
            return i;
        }
        *allow = *allow ? apr_pstrcat(p, *allow, ", ", pai_routes[i].method, NULL)
                        : pai_routes[i].method;
    }
    return -1;
}

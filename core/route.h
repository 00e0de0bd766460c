/* The API's routing table and path matching ("/api/v1/jobs/:jobName" style):
 * httpd-free so the fuzzer and unit tests exercise the very table httpd uses. */
#ifndef PAI_ROUTE_H
#define PAI_ROUTE_H

#include <apr_pools.h>

#define PAI_ROUTE_MAX_PARAMS 8

typedef enum { PAI_AUTH_NONE, PAI_AUTH_OPTIONAL, PAI_AUTH_USER, PAI_AUTH_ADMIN } pai_auth;
typedef enum { PAI_BODY_NONE, PAI_BODY_JSON, PAI_BODY_JSON_OR_FORM,
               PAI_BODY_JSON_OPTIONAL /* JSON, or nothing at all */,
               PAI_BODY_YAML /* YAML, or JSON when the type says so: the job protocol */
} pai_body;

/* One id per endpoint; the glue binds a handler to each. */
typedef enum {
    PAI_R_TOKEN_POST,
    PAI_R_USER_PUT,
    PAI_R_USER_DELETE,
    PAI_R_USER_VCS_PUT,
    PAI_R_JOBS_GET,
    PAI_R_JOBS_POST,
    PAI_R_JOB_GET,
    PAI_R_JOB_CONFIG_GET,
    PAI_R_JOB_EXECUTION_PUT,
    PAI_R_JOB_SSH_GET,
    PAI_R_JOB_SSH_KEY_GET,
    PAI_R_JOB_SSH_REPORT_POST,
    PAI_R_JOB_TASK_REPORT_POST,
    PAI_R_VCS_GET,
    PAI_R_VC_GET,
    PAI_R_AUDIT_GET,
    PAI_R_API_GET,
    PAI_R_USERS_GET,
    /* v0.8's routes under a user: the job must be that user's. */
    PAI_R_USER_JOBS_GET,
    PAI_R_USER_JOBS_POST,
    PAI_R_USER_JOB_GET,
    PAI_R_USER_JOB_CONFIG_GET,
    PAI_R_USER_JOB_EXECUTION_PUT,
    PAI_R_USER_JOB_SSH_GET,
    PAI_R_JOB_DELETE,
    PAI_R_USER_JOB_DELETE,
    /* /api/v2: OpenPAI v1.8's paths. */
    PAI_R_V2_INFO_GET,
    PAI_R_V2_LOGIN_POST,
    PAI_R_V2_LOGOUT_DELETE,
    PAI_R_V2_USERS_GET,
    PAI_R_V2_USER_GET,
    PAI_R_V2_VCS_GET,
    PAI_R_V2_VC_GET,
    PAI_R_V2_JOBS_GET,
    PAI_R_V2_JOBS_POST,
    PAI_R_V2_JOB_GET,
    PAI_R_V2_JOB_CONFIG_GET,
    PAI_R_V2_JOB_EXECUTION_PUT,
    PAI_R_V2_JOB_TAG_PUT,
    PAI_R_V2_JOB_TAG_DELETE,
    PAI_R_V2_JOB_ATTEMPTS_HEALTHZ_GET,
    PAI_R_V2_JOB_ATTEMPTS_GET,
    PAI_R_V2_JOB_ATTEMPT_GET,
    PAI_R_V2_JOB_ATTEMPT_DETAIL_GET,
    PAI_R_V2_JOB_TASK_ATTEMPTS_GET,
    PAI_R_V2_VC_SKU_TYPES_GET,
    PAI_R_V2_CLUSTER_SKU_TYPES_GET,
    PAI_R_V2_JOB_TASK_LOGS_GET,
    PAI_R_V2_JOB_TASK_LOG_GET,
    PAI_R_V2_TOKENS_GET,
    PAI_R_V2_TOKEN_CHECK_GET,
    PAI_R_V2_TOKEN_APPLICATION_POST,
    PAI_R_V2_TOKEN_DELETE,
    PAI_R_V2_JOB_EVENTS_GET,
    PAI_R_V2_EVENTS_STREAM_GET,
    PAI_R_V2_WEBHOOKS_GET,
    PAI_R_V2_WEBHOOKS_POST,
    PAI_R_V2_WEBHOOK_GET,
    PAI_R_V2_WEBHOOK_DELETE,
    PAI_R_V2_WEBHOOK_DELIVERIES_GET,
    PAI_R_COUNT
} pai_route_id;

/* A state-changing route is audited: the action's name, and where the target
 * and a detail come from (":0" the first path parameter, ":1" the second,
 * else a body field). */
typedef struct pai_route_audit {
    const char *action;
    const char *target;
    const char *detail;
} pai_route_audit;

typedef struct pai_route {
    const char *method;
    const char *pattern;
    pai_auth auth;
    pai_body body;
    pai_route_audit audit;        /* action NULL: not audited (reads) */
    int exact;                    /* 1: no trailing slash tolerated */
    /* 1: a read whose answer follows from its URL, its caller and the
     * database alone, which the glue may give again until a write (its
     * answer cache: the lists, statuses and VCs that dashboards poll; a
     * VC's share of the cluster is the size the sync stores). */
    int cache;
    /* 1: checks or hashes a password (bcrypt): the glue queues it in the
     * password queue (auth.h) before it takes a database connection. */
    int password;
} pai_route;

extern const pai_route pai_routes[PAI_R_COUNT];

/* 1 when path matches pattern (one trailing slash tolerated); the :params
 * are copied into params[] in order.  A :param matches one non-empty segment. */
int pai_route_match(apr_pool_t *p, const char *pattern, const char *path,
                    const char *params[PAI_ROUTE_MAX_PARAMS]);

/* For a path under one of OpenPAI v1.8's resources that this server does not
 * provide (Kubernetes' API, storage, groups...): what it is and why; else NULL. */
const char *pai_route_unprovided(const char *path);

/* Which API a path is under: 1 (/api/v1...), 2 (/api/v2...), or 0 (neither,
 * or no path). */
int pai_route_api(const char *path);

/* 1 when an application token may call the route: the job routes (v1's,
 * v2's and a user's) and GET /api/v2/tokens/check. */
int pai_route_for_applications(int id);

/* The route for method and path (HEAD finds GET's), with its params; or -1,
 * and then *allow lists the methods the path has (NULL: no such path). */
int pai_route_find(apr_pool_t *p, const char *method, const char *path,
                   const char *params[PAI_ROUTE_MAX_PARAMS], const char **allow);

#endif

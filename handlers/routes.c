/* Which handler answers each route of core/route.c's table, and how a
 * route's body is decoded (JSON, a form where the route takes one, YAML for
 * the job protocol). */
#include <strings.h>

#include "../core/protocol.h"
#include "../core/route.h"
#include "../core/yaml.h"
#include "handlers.h"

static const pai_handler_fn pai_route_fns[PAI_R_COUNT] = {
    [PAI_R_TOKEN_POST] = pai_token_post,
    [PAI_R_USER_PUT] = pai_user_put,
    [PAI_R_USER_DELETE] = pai_user_delete,
    [PAI_R_USER_VCS_PUT] = pai_user_vcs_put,
    [PAI_R_JOBS_GET] = pai_jobs_get,
    [PAI_R_JOBS_POST] = pai_jobs_post,
    [PAI_R_JOB_GET] = pai_job_get,
    [PAI_R_JOB_CONFIG_GET] = pai_job_config_get,
    [PAI_R_JOB_EXECUTION_PUT] = pai_job_execution_put,
    [PAI_R_JOB_SSH_GET] = pai_job_ssh_get,
    [PAI_R_JOB_SSH_KEY_GET] = pai_job_ssh_key_get,
    [PAI_R_JOB_SSH_REPORT_POST] = pai_job_ssh_report_post,
    [PAI_R_JOB_TASK_REPORT_POST] = pai_job_task_report_post,
    [PAI_R_VCS_GET] = pai_vcs_get,
    [PAI_R_VC_GET] = pai_vc_get,
    [PAI_R_AUDIT_GET] = pai_audit_get,
    [PAI_R_API_GET] = pai_api_get,
    [PAI_R_USERS_GET] = pai_users_get,
    [PAI_R_USER_JOBS_GET] = pai_user_jobs_get,
    [PAI_R_USER_JOBS_POST] = pai_user_jobs_post,
    [PAI_R_USER_JOB_GET] = pai_user_job_get,
    [PAI_R_USER_JOB_CONFIG_GET] = pai_user_job_config_get,
    [PAI_R_USER_JOB_EXECUTION_PUT] = pai_user_job_execution_put,
    [PAI_R_JOB_DELETE] = pai_job_delete,
    [PAI_R_USER_JOB_DELETE] = pai_user_job_delete,
    [PAI_R_V2_INFO_GET] = pai_v2_info_get,
    [PAI_R_V2_LOGIN_POST] = pai_v2_login_post,
    [PAI_R_V2_LOGOUT_DELETE] = pai_v2_logout_delete,
    [PAI_R_V2_USERS_GET] = pai_v2_users_get,
    [PAI_R_V2_USER_GET] = pai_v2_user_get,
    [PAI_R_V2_VCS_GET] = pai_v2_vcs_get,
    [PAI_R_V2_VC_GET] = pai_v2_vc_get,
    [PAI_R_V2_JOBS_GET] = pai_v2_jobs_get,
    [PAI_R_V2_JOBS_POST] = pai_v2_jobs_post,
    [PAI_R_V2_JOB_GET] = pai_v2_job_get,
    [PAI_R_V2_JOB_CONFIG_GET] = pai_v2_job_config_get,
    [PAI_R_V2_JOB_EXECUTION_PUT] = pai_v2_job_execution_put,
    [PAI_R_V2_JOB_TAG_PUT] = pai_v2_job_tag_put,
    [PAI_R_V2_JOB_TAG_DELETE] = pai_v2_job_tag_delete,
    [PAI_R_V2_JOB_ATTEMPTS_HEALTHZ_GET] = pai_v2_job_attempts_healthz_get,
    [PAI_R_V2_JOB_ATTEMPTS_GET] = pai_v2_job_attempts_get,
    [PAI_R_V2_JOB_ATTEMPT_GET] = pai_v2_job_attempt_get,
    [PAI_R_V2_VC_SKU_TYPES_GET] = pai_v2_vc_sku_types_get,
    [PAI_R_V2_CLUSTER_SKU_TYPES_GET] = pai_v2_cluster_sku_types_get,
    [PAI_R_V2_JOB_ATTEMPT_DETAIL_GET] = pai_v2_job_attempt_detail_get,
    [PAI_R_V2_JOB_TASK_ATTEMPTS_GET] = pai_v2_job_task_attempts_get,
    [PAI_R_V2_JOB_TASK_LOGS_GET] = pai_v2_job_task_logs_get,
    [PAI_R_V2_JOB_TASK_LOG_GET] = pai_v2_job_task_log_get,
    [PAI_R_V2_TOKENS_GET] = pai_v2_tokens_get,
    [PAI_R_V2_TOKEN_CHECK_GET] = pai_v2_token_check_get,
    [PAI_R_V2_TOKEN_APPLICATION_POST] = pai_v2_token_application_post,
    [PAI_R_V2_TOKEN_DELETE] = pai_v2_token_delete,
    [PAI_R_V2_JOB_EVENTS_GET] = pai_v2_job_events_get,
    [PAI_R_V2_EVENTS_STREAM_GET] = pai_v2_events_stream_get,
    [PAI_R_V2_WEBHOOKS_GET] = pai_v2_webhooks_get,
    [PAI_R_V2_WEBHOOKS_POST] = pai_v2_webhooks_post,
    [PAI_R_V2_WEBHOOK_GET] = pai_v2_webhook_get,
    [PAI_R_V2_WEBHOOK_DELETE] = pai_v2_webhook_delete,
    [PAI_R_V2_WEBHOOK_DELIVERIES_GET] = pai_v2_webhook_deliveries_get,
    [PAI_R_USER_JOB_SSH_GET] = pai_user_job_ssh_get,
};

pai_handler_fn pai_route_handler(int id)
{
    return id >= 0 && id < PAI_R_COUNT ? pai_route_fns[id] : NULL;
}

pai_error *pai_route_body(apr_pool_t *p, int id, const char *content_type, const char *buf,
                          apr_size_t len, json_t **body)
{
    const pai_route *rt = &pai_routes[id];
    pai_error *err;

    *body = NULL;
    if (rt->body == PAI_BODY_NONE)
        return NULL;
    if ((!buf || len == 0) && rt->body == PAI_BODY_JSON_OPTIONAL)
        return NULL;
    if (!buf || len == 0)
        return pai_error_make(p, PAI_ERR_INVALID, "a request body is required");
    if (rt->body == PAI_BODY_JSON_OR_FORM && content_type &&
        !strncasecmp(content_type, "application/x-www-form-urlencoded", 33))
        *body = pai_form_parse(p, buf, len, &err);
    else if (rt->body == PAI_BODY_YAML &&
             !(content_type && !strncasecmp(content_type, "application/json", 16)))
        /* OpenPAI read any type as YAML (the SDK says text/yaml). */
        *body = pai_yaml_parse(p, buf, len, &pai_protocol_yaml_limits, &err);
    else
        /* Any other type is read as JSON: curl -d without -H says "form". */
        *body = pai_json_parse(p, buf, len, &err);
    if (err)
        return err;
    if (!json_is_object(*body))
        return pai_error_make(p, PAI_ERR_INVALID, rt->body == PAI_BODY_YAML
                              ? "the request body must be a mapping"
                              : "the request body must be a JSON object");
    return NULL;
}

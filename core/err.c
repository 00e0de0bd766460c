/* The error table: every API error's HTTP status and OpenPAI name, in one place. */
#include <apr_strings.h>
#include <apr_allocator.h>
#include "err.h"

static const struct { int status; const char *name; } pai_errors[PAI_ERR__COUNT] = {
    [PAI_ERR_INVALID]          = {400, "InvalidParametersError"},
    [PAI_ERR_AUTH_FAILED]      = {401, "AuthenticationFailed"},
    [PAI_ERR_UNAUTHORIZED]     = {401, "UnauthorizedUserError"},
    [PAI_ERR_NOT_AUTHORIZED]   = {401, "NotAuthorized"},
    [PAI_ERR_FORBIDDEN]        = {403, "ForbiddenUserError"},
    [PAI_ERR_REMOVE_ADMIN]     = {403, "RemoveAdminError"},
    [PAI_ERR_NO_USER]          = {404, "NoUserError"},
    [PAI_ERR_CONFLICT_USER]    = {409, "ConflictUserError"},
    [PAI_ERR_NO_VC]            = {400, "NoVirtualClusterError"},
    [PAI_ERR_NO_VC_SUBMIT]     = {404, "NoVirtualClusterError"},
    [PAI_ERR_VC_NOT_FOUND]     = {404, "VirtualClusterNotFound"},
    [PAI_ERR_JOB_NOT_FOUND]    = {404, "JobNotFound"},
    [PAI_ERR_JOB_DUPLICATE]    = {400, "JobUpdateError"},
    [PAI_ERR_JOB_EXECUTE]      = {500, "JobExecuteError"},
    [PAI_ERR_JOB_REJECTED]     = {400, "JobUpdateError"},
    [PAI_ERR_NOT_FOUND]        = {404, "NotFoundError"},
    [PAI_ERR_METHOD]           = {405, "MethodNotAllowedError"},
    [PAI_ERR_TOO_LARGE]        = {413, "RequestEntityTooLargeError"},
    [PAI_ERR_MEDIA_TYPE]       = {415, "UnsupportedMediaTypeError"},
    [PAI_ERR_TOO_MANY]         = {429, "TooManyRequestsError"},
    [PAI_ERR_LAUNCHER_DOWN]    = {503, "LauncherUnavailableError"},
    [PAI_ERR_LAUNCHER_BAD]     = {502, "LauncherError"},
    [PAI_ERR_LAUNCHER_TIMEOUT] = {504, "LauncherTimeoutError"},
    [PAI_ERR_DB]               = {503, "DatabaseUnavailableError"},
    [PAI_ERR_INTERNAL]         = {500, "InternalServerError"},
    [PAI_ERR_NO_JOB]           = {404, "NoJobError"},
    [PAI_ERR_CONFLICT_JOB]     = {409, "ConflictJobError"},
    [PAI_ERR_NOT_IMPLEMENTED]  = {501, "NotImplementedError"},
    [PAI_ERR_NO_TASK_LOG]      = {404, "NoTaskLogError"},
};

pai_error *pai_error_make(apr_pool_t *p, pai_errcode code, const char *fmt, ...)
{
    pai_error *e = apr_palloc(p, sizeof(*e));
    va_list ap;
    va_start(ap, fmt);
    e->code = (code >= 0 && code < PAI_ERR__COUNT) ? code : PAI_ERR_INTERNAL;
    e->message = apr_pvsprintf(p, fmt, ap);
    e->retry_after = 0;
    va_end(ap);
    return e;
}

int pai_error_status(pai_errcode code)
{
    return (code >= 0 && code < PAI_ERR__COUNT) ? pai_errors[code].status : 500;
}

const char *pai_error_name(pai_errcode code)
{
    return (code >= 0 && code < PAI_ERR__COUNT) ? pai_errors[code].name
                                                : "InternalServerError";
}

apr_status_t pai_pool_private(apr_pool_t *parent, apr_pool_t **out)
{
    apr_allocator_t *a;
    apr_status_t rv;

    if ((rv = apr_allocator_create(&a)) != APR_SUCCESS)
        return rv;
    if ((rv = apr_pool_create_ex(out, parent, NULL, a)) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return rv;
    }
    apr_allocator_owner_set(a, *out);
    return APR_SUCCESS;
}

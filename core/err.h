/* One table of every error the API can answer: code -> HTTP status and the
 * OpenPAI error name.  Handlers return a pai_error; one renderer writes it. */
#ifndef PAI_ERR_H
#define PAI_ERR_H

#include <apr_pools.h>

typedef enum {
    PAI_ERR_INVALID = 0,         /* 400 InvalidParametersError */
    PAI_ERR_AUTH_FAILED,         /* 401 AuthenticationFailed */
    PAI_ERR_UNAUTHORIZED,        /* 401 UnauthorizedUserError: no/bad token */
    PAI_ERR_NOT_AUTHORIZED,      /* 401 NotAuthorized: admin only */
    PAI_ERR_FORBIDDEN,           /* 403 ForbiddenUserError */
    PAI_ERR_REMOVE_ADMIN,        /* 403 RemoveAdminError */
    PAI_ERR_NO_USER,             /* 404 NoUserError */
    PAI_ERR_CONFLICT_USER,       /* 409 ConflictUserError */
    PAI_ERR_NO_VC,               /* 400 NoVirtualClusterError (grants) */
    PAI_ERR_NO_VC_SUBMIT,        /* 404 NoVirtualClusterError (submission) */
    PAI_ERR_VC_NOT_FOUND,        /* 404 VirtualClusterNotFound */
    PAI_ERR_JOB_NOT_FOUND,       /* 404 JobNotFound */
    PAI_ERR_JOB_DUPLICATE,       /* 400 JobUpdateError */
    PAI_ERR_JOB_EXECUTE,         /* 500 JobExecuteError */
    PAI_ERR_JOB_REJECTED,        /* 400 JobUpdateError: the launcher refused it */
    PAI_ERR_NOT_FOUND,           /* 404 NotFoundError: no such route */
    PAI_ERR_METHOD,              /* 405 MethodNotAllowedError */
    PAI_ERR_TOO_LARGE,           /* 413 RequestEntityTooLargeError */
    PAI_ERR_MEDIA_TYPE,          /* 415 UnsupportedMediaTypeError */
    PAI_ERR_TOO_MANY,            /* 429 TooManyRequestsError (retry_after set) */
    PAI_ERR_LAUNCHER_DOWN,       /* 503 LauncherUnavailableError */
    PAI_ERR_LAUNCHER_BAD,        /* 502 LauncherError: launcher answered nonsense */
    PAI_ERR_LAUNCHER_TIMEOUT,    /* 504 LauncherTimeoutError */
    PAI_ERR_DB,                  /* 503 DatabaseUnavailableError */
    PAI_ERR_INTERNAL,            /* 500 InternalServerError */
    PAI_ERR_NO_JOB,              /* 404 NoJobError: /api/v2's JobNotFound */
    PAI_ERR_CONFLICT_JOB,        /* 409 ConflictJobError: /api/v2's name taken */
    PAI_ERR_NOT_IMPLEMENTED,     /* 501 NotImplementedError: OpenPAI's, not this server's */
    PAI_ERR_NO_TASK_LOG,         /* 404 NoTaskLogError: a task's log is not there (or unsafe) */
    PAI_ERR__COUNT
} pai_errcode;

typedef struct pai_error {
    pai_errcode code;
    const char *message;
    long retry_after;            /* seconds, for a Retry-After header; 0: none */
} pai_error;

/* Allocates the error in p; the message is printf-formatted. */
pai_error *pai_error_make(apr_pool_t *p, pai_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int pai_error_status(pai_errcode code);
const char *pai_error_name(pai_errcode code);

/* A long-lived pool with an allocator of its own: httpd's child pool shares
 * one allocator (without a lock) among its subpools, so a subpool that one
 * thread grows while others grow theirs must not use it. */
apr_status_t pai_pool_private(apr_pool_t *parent, apr_pool_t **out);

#endif

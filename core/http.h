/* A small HTTP client over libcurl for talking to a launcher: reused handles,
 * time-outs always set, failures as 503 (unreachable), 504 (too slow) or 502. */
#ifndef PAI_HTTP_H
#define PAI_HTTP_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "err.h"

typedef struct pai_http pai_http;

typedef struct pai_http_response {
    long status;
    const char *body;            /* NUL-terminated, in the caller's pool */
    apr_size_t len;
} pai_http_response;

/* target: "unix:/path/to.sock" or "http(s)://host:port".  The handle pool lives
 * in p (a process-lifetime pool); timeout_ms bounds every whole call. */
pai_error *pai_http_create(apr_pool_t *p, const char *target, long timeout_ms, pai_http **out);
/* headers: "Name: value" strings; body may be NULL. Any HTTP status is a
 * response; only transport failures are errors. */
pai_error *pai_http_call(pai_http *h, apr_pool_t *p, const char *method, const char *path,
                         const apr_array_header_t *headers, const char *body,
                         pai_http_response *resp);

/* The same, with the reply's body handed to each() piece by piece as it
 * arrives and not kept (resp->body is "", resp->len counts the bytes): for
 * replies too big to hold.  each() returning non-zero ends the call with a
 * 502. */
typedef int (*pai_http_body_fn)(void *ctx, const char *data, apr_size_t len);
pai_error *pai_http_call_each(pai_http *h, apr_pool_t *p, const char *method, const char *path,
                              const apr_array_header_t *headers, const char *body,
                              pai_http_body_fn each, void *ctx, pai_http_response *resp);

#endif

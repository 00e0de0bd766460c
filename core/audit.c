/* Audit records: who did what to what, from where, and how it ended. */
#include <string.h>
#include <apr_strings.h>
#include "audit.h"

/* ":0" is the first path parameter, ":1" the second...; anything else names
 * a body field. */
static const char *audit_field(apr_pool_t *p, const char *from,
                               const char *const params[PAI_ROUTE_MAX_PARAMS],
                               const json_t *body)
{
    json_t *v;

    if (!from)
        return "";
    if (from[0] == ':' && from[1] >= '0' && from[1] < '0' + PAI_ROUTE_MAX_PARAMS && !from[2])
        return params[from[1] - '0'] ? params[from[1] - '0'] : "";
    if (!body || !json_is_object(body) || !strcmp(from, "password") ||
        !(v = json_object_get(body, from)))
        return "";
    return json_is_string(v) ? json_string_value(v) : pai_json_dump(p, v);
}

pai_audit_row *pai_audit_describe(apr_pool_t *p, const pai_route *rt,
                                  const char *const params[PAI_ROUTE_MAX_PARAMS],
                                  const json_t *body, const char *actor, const char *address,
                                  int status, const char *error_name, const char *message,
                                  apr_int64_t now_ms)
{
    pai_audit_row *a = apr_pcalloc(p, sizeof(*a));

    a->at_ms = now_ms;
    a->actor = actor ? actor : "";
    a->address = address ? address : "";
    a->action = rt->audit.action;
    a->target = audit_field(p, rt->audit.target, params, body);
    a->outcome = status;
    a->detail = error_name ? apr_pstrcat(p, error_name, ": ", message ? message : "", NULL)
                           : audit_field(p, rt->audit.detail, params, body);
    return a;
}

json_t *pai_audit_view(apr_pool_t *p, const apr_array_header_t *rows)
{
    json_t *list = json_array();
    int i;

    for (i = 0; i < rows->nelts; i++) {
        const pai_audit_row *a = &APR_ARRAY_IDX(rows, i, pai_audit_row);
        json_array_append_new(list, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:i}",
                                              "id", (json_int_t)a->id,
                                              "time", (json_int_t)a->at_ms,
                                              "username", a->actor, "address", a->address,
                                              "action", a->action, "target", a->target,
                                              "status", a->outcome, "detail", a->detail,
                                              "repeats", a->repeats > 0 ? a->repeats : 1));
    }
    return list;
}

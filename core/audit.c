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

void pai_audit_write(pai_jsonw *w, const apr_array_header_t *rows)
{
    int i;

    pai_jsonw_open(w, '[');
    for (i = 0; i < rows->nelts; i++) {
        const pai_audit_row *a = &APR_ARRAY_IDX(rows, i, pai_audit_row);
        const pai_json_field f[] = {
            PAI_JF_INT("id", a->id), PAI_JF_INT("time", a->at_ms),
            PAI_JF_STR("username", a->actor), PAI_JF_STR("address", a->address),
            PAI_JF_STR("action", a->action), PAI_JF_STR("target", a->target),
            PAI_JF_INT("status", a->outcome), PAI_JF_STR("detail", a->detail),
            PAI_JF_INT("repeats", a->repeats > 0 ? a->repeats : 1),
        };
        pai_jsonw_open(w, '{');
        pai_jsonw_fields(w, f, (int)(sizeof(f) / sizeof(*f)));
        pai_jsonw_close(w, '}');
    }
    pai_jsonw_close(w, ']');
}

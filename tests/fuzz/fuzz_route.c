/* Fuzzes the router over the real routing table: input is "METHOD path". */
#include "fuzz.h"
#include "core/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    char *in = fuzz_cstr(p, data, size);
    char *sp = strchr(in, ' ');
    const char *params[PAI_ROUTE_MAX_PARAMS], *allow;
    int id, i;

    if (!sp)
        FUZZ_DONE(p);
    *sp = '\0';
    id = pai_route_find(p, in, sp + 1, params, &allow);
    if (id >= PAI_R_COUNT)
        abort();
    if (id >= 0) {
        /* Every :param is one non-empty path segment. */
        const char *pt = pai_routes[id].pattern;
        int n = 0;
        for (; *pt; pt++)
            n += *pt == ':';
        for (i = 0; i < n; i++)
            if (!params[i][0] || strchr(params[i], '/'))
                abort();
    }
    FUZZ_DONE(p);
}

/* /api/v1 and /api/v2/virtual-clusters: each VC's share of the cluster and
 * what it uses. */
#include "handlers.h"

static pai_error *vc_view(pai_req *rq, const char *name, int v2)
{
    pai_jobs_env env;
    json_t *v;
    pai_error *err;

    if ((err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_vc_status_view(&env, rq->pool, name, v2, &v)))
        return err;
    pai_reply(rq, 200, json_incref(v));
    return NULL;
}

pai_error *pai_vcs_get(pai_req *rq)
{
    return vc_view(rq, NULL, 0);
}

pai_error *pai_vc_get(pai_req *rq)
{
    return vc_view(rq, rq->params[0], 0);
}

pai_error *pai_v2_vcs_get(pai_req *rq)
{
    return vc_view(rq, NULL, 1);
}

pai_error *pai_v2_vc_get(pai_req *rq)
{
    return vc_view(rq, rq->params[0], 1);
}

static pai_error *sku_view(pai_req *rq, const char *name)
{
    pai_jobs_env env;
    json_t *v;
    pai_error *err;

    if ((err = pai_req_jobs_env(rq, &env)) ||
        (err = pai_vc_sku_view(&env, rq->pool, name, &v)))
        return err;
    pai_reply(rq, 200, json_incref(v));
    return NULL;
}

/* The SDK's path for a VC's SKU types. */
pai_error *pai_v2_vc_sku_types_get(pai_req *rq)
{
    return sku_view(rq, rq->params[0]);
}

/* v1.8's own path: ?vc= names the VC, else the whole cluster's. */
pai_error *pai_v2_cluster_sku_types_get(pai_req *rq)
{
    const char *vc = rq->query ? apr_table_get(rq->query, "vc") : NULL;
    return sku_view(rq, vc && *vc ? vc : NULL);
}

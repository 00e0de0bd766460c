/* VC admission: capacity is guaranteed, maxCapacity is the ceiling, and room
 * above the guarantee is borrowed only from what no waiting VC is owed. */
#include <string.h>
#include <apr_strings.h>
#include "vc.h"

static const pai_vc_usage vc_no_usage;

static const pai_vc_usage *usage_of(apr_hash_t *usage, const char *vc)
{
    const pai_vc_usage *u = usage ? apr_hash_get(usage, vc, APR_HASH_KEY_STRING) : NULL;
    return u ? u : &vc_no_usage;
}

/* Share of a resource in whole units: percent of total, rounded down. */
static apr_int64_t share(apr_int64_t total, int percent)
{
    return total * percent / 100;
}

static int within(const pai_demand *used, const pai_demand *d, const pai_capacity *c, int percent)
{
    return (c->cpus == 0 || used->cpus + d->cpus <= share(c->cpus, percent)) &&
           (c->memory_mb == 0 || used->memory_mb + d->memory_mb <= share(c->memory_mb, percent)) &&
           (c->gpus == 0 || used->gpus + d->gpus <= share(c->gpus, percent)) &&
           (c->gpus > 0 || d->gpus == 0);
}

pai_error *pai_vc_check_fits(apr_pool_t *p, const pai_capacity *c, const pai_vc *vc,
                             const pai_demand *d)
{
    static const pai_demand none;
    if (within(&none, d, c, vc->max_capacity))
        return NULL;
    return pai_error_make(p, PAI_ERR_INVALID,
        "the job needs %" APR_INT64_T_FMT " CPUs, %" APR_INT64_T_FMT " MB and %" APR_INT64_T_FMT
        " GPUs; virtual cluster %s may use at most %d%% of the cluster (%" APR_INT64_T_FMT
        " CPUs, %" APR_INT64_T_FMT " MB, %" APR_INT64_T_FMT " GPUs)",
        d->cpus, d->memory_mb, d->gpus, vc->name, vc->max_capacity,
        share(c->cpus, vc->max_capacity), share(c->memory_mb, vc->max_capacity),
        share(c->gpus, vc->max_capacity));
}

/* What every VC holds (total), and what the VCs other than vc that have
 * waiting jobs are still owed of their guarantees (owed). */
static void vc_taken(const pai_capacity *c, const apr_array_header_t *vcs, apr_hash_t *usage,
                     const pai_vc *vc, pai_demand *total, pai_demand *owed)
{
    int i;

    for (i = 0; i < vcs->nelts; i++) {
        const pai_vc *w = &APR_ARRAY_IDX(vcs, i, pai_vc);
        const pai_vc_usage *wu = usage_of(usage, w->name);
        total->cpus += wu->admitted.cpus;
        total->memory_mb += wu->admitted.memory_mb;
        total->gpus += wu->admitted.gpus;
        if (w != vc && wu->n_waiting > 0) {
            apr_int64_t x;
            x = share(c->cpus, w->capacity) - wu->admitted.cpus;
            owed->cpus += x > 0 ? x : 0;
            x = share(c->memory_mb, w->capacity) - wu->admitted.memory_mb;
            owed->memory_mb += x > 0 ? x : 0;
            x = share(c->gpus, w->capacity) - wu->admitted.gpus;
            owed->gpus += x > 0 ? x : 0;
        }
    }
}

int pai_vc_admissible(const pai_capacity *c, const apr_array_header_t *vcs, apr_hash_t *usage,
                      const char *name, const pai_demand *d)
{
    const pai_vc *vc = NULL;
    const pai_vc_usage *u = usage_of(usage, name);
    pai_demand total = {0, 0, 0}, owed = {0, 0, 0};
    int i;

    for (i = 0; i < vcs->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(vcs, i, pai_vc).name, name))
            vc = &APR_ARRAY_IDX(vcs, i, pai_vc);
    if (!vc || !within(&u->admitted, d, c, vc->max_capacity))
        return 0;
    /* Inside its guarantee a VC is always admitted; the launcher may still make
     * it wait for borrowed room to come back. */
    if (within(&u->admitted, d, c, vc->capacity))
        return 1;
    /* Borrowing: only out of room that is idle even after every other VC with
     * waiting jobs got the rest of its guarantee. */
    vc_taken(c, vcs, usage, vc, &total, &owed);
    total.cpus += owed.cpus;
    total.memory_mb += owed.memory_mb;
    total.gpus += owed.gpus;
    return within(&total, d, c, 100);
}

/* Per resource, the most pai_vc_admissible would take now: within the VC's
 * maxCapacity, its guarantee's rest or the idle room others are not owed. */
void pai_vc_headroom(const pai_capacity *c, const apr_array_header_t *vcs, apr_hash_t *usage,
                     const char *name, pai_demand *out)
{
    const pai_vc *vc = NULL;
    const pai_vc_usage *u = usage_of(usage, name);
    pai_demand total = {0, 0, 0}, owed = {0, 0, 0};
    apr_int64_t have[3], room[3], guar[3], cap[3], borrow[3];
    int i, k;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < vcs->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(vcs, i, pai_vc).name, name))
            vc = &APR_ARRAY_IDX(vcs, i, pai_vc);
    if (!vc)
        return;
    vc_taken(c, vcs, usage, vc, &total, &owed);
    have[0] = u->admitted.cpus; have[1] = u->admitted.memory_mb; have[2] = u->admitted.gpus;
    cap[0] = c->cpus; cap[1] = c->memory_mb; cap[2] = c->gpus;
    borrow[0] = c->cpus - total.cpus - owed.cpus;
    borrow[1] = c->memory_mb - total.memory_mb - owed.memory_mb;
    borrow[2] = c->gpus - total.gpus - owed.gpus;
    for (k = 0; k < 3; k++) {
        room[k] = share(cap[k], vc->max_capacity) - have[k];
        guar[k] = share(cap[k], vc->capacity) - have[k];
        if (borrow[k] > guar[k])
            guar[k] = borrow[k];
        if (guar[k] < room[k])
            room[k] = guar[k];
        if (room[k] < 0)
            room[k] = 0;
    }
    out->cpus = room[0];
    out->memory_mb = room[1];
    out->gpus = room[2];
}

static double pct(apr_int64_t used, apr_int64_t total)
{
    return total > 0 ? 100.0 * (double)used / (double)total : 0.0;
}

json_t *pai_vc_view(const pai_capacity *c, const pai_vc *vc, const pai_vc_usage *u)
{
    double used = pct(u->admitted.cpus, c->cpus), m = pct(u->admitted.memory_mb, c->memory_mb),
           g = pct(u->admitted.gpus, c->gpus);
    /* The dominant share of what its admitted jobs hold. */
    if (m > used) used = m;
    if (g > used) used = g;
    return json_pack("{s:i, s:i, s:f, s:i, s:i, s:i, s:{s:I, s:I, s:I}}",
                     "capacity", vc->capacity,
                     "maxCapacity", vc->max_capacity,
                     "usedCapacity", (double)((apr_int64_t)(used * 100 + 0.5)) / 100,
                     "numActiveJobs", u->n_admitted,
                     "numJobs", u->n_admitted + u->n_queued,
                     "numPendingJobs", u->n_queued,
                     "resourcesUsed", "memory", (json_int_t)u->admitted.memory_mb,
                     "vCores", (json_int_t)u->admitted.cpus,
                     "GPUs", (json_int_t)u->admitted.gpus);
}

/* OpenPAI v1.8's resource object: cpu/memory/gpu and their v1 aliases. */
static json_t *v2_resources(apr_int64_t cpus, apr_int64_t memory_mb, apr_int64_t gpus)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "cpu", (json_int_t)cpus,
                     "memory", (json_int_t)memory_mb, "gpu", (json_int_t)gpus,
                     "vCores", (json_int_t)cpus, "GPUs", (json_int_t)gpus);
}

json_t *pai_vc_view_v2(const pai_capacity *c, const pai_vc *vc, const pai_vc_usage *u)
{
    json_t *v = pai_vc_view(c, vc, u);

    json_object_set_new(v, "dedicated", json_false());
    json_object_set_new(v, "resourcesUsed", v2_resources(u->admitted.cpus, u->admitted.memory_mb,
                                                         u->admitted.gpus));
    /* What admission holds for it (whole units), and the most it may reach. */
    json_object_set_new(v, "resourcesGuaranteed",
                        v2_resources(share(c->cpus, vc->capacity),
                                     share(c->memory_mb, vc->capacity),
                                     share(c->gpus, vc->capacity)));
    json_object_set_new(v, "resourcesTotal",
                        v2_resources(share(c->cpus, vc->max_capacity),
                                     share(c->memory_mb, vc->max_capacity),
                                     share(c->gpus, vc->max_capacity)));
    return v;
}

json_t *pai_vc_sku_types(const pai_capacity *c)
{
    json_t *out = json_object();
    int i;

    for (i = 0; i < c->shapes.n; i++) {
        const pai_shape *s = &c->shapes.shape[i];
        const char *sku = s->gpus ? (*s->gpu_type ? s->gpu_type : "gpu") : "cpu";
        apr_int64_t units = s->gpus ? s->gpus : s->cpus;
        apr_int64_t cpu, mem;
        json_t *have = json_object_get(out, sku);
        if (units <= 0)
            continue;
        cpu = s->gpus ? s->cpus / units : 1;
        mem = s->memory_mb / units;
        /* Nodes of one type but different sizes: the unit every one of them
         * can give. */
        if (have) {
            json_int_t hc = json_integer_value(json_object_get(have, "cpu"));
            json_int_t hm = json_integer_value(json_object_get(have, "memory"));
            if (hc < cpu) cpu = hc;
            if (hm < mem) mem = hm;
        }
        json_object_set_new(out, sku, json_pack("{s:I, s:I, s:i}", "cpu", (json_int_t)cpu,
                                                "memory", (json_int_t)mem,
                                                "gpu", s->gpus ? 1 : 0));
    }
    return out;
}

/* `default` always exists and gets what the others leave; the sum is <= 100. */
const char *pai_vc_complete(apr_pool_t *p, apr_array_header_t **vcs)
{
    int i, sum = 0, has_default = 0;
    pai_vc *vc;

    if (!*vcs)
        *vcs = apr_array_make(p, 1, sizeof(pai_vc));
    for (i = 0; i < (*vcs)->nelts; i++) {
        vc = &APR_ARRAY_IDX(*vcs, i, pai_vc);
        sum += vc->capacity;
        has_default |= !strcmp(vc->name, "default");
    }
    if (sum > 100)
        return apr_psprintf(p, "PaiVirtualCluster: capacities sum to %d%%, more than 100%%", sum);
    if (!has_default) {
        vc = apr_array_push(*vcs);
        vc->name = "default";
        vc->capacity = 100 - sum;
        vc->max_capacity = 100;
    }
    return NULL;
}

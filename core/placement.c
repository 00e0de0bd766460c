/* Where a job's tasks go.  Slurm allocates a job N nodes with the same
 * request on each (a heterogeneous job would fit tasks of different shapes
 * exactly, but Slurm gives each component nodes of its own and never starts
 * one on a single node), so the tasks are put on N nodes here and each node
 * is asked for what its busiest one holds; Slurm chooses which N nodes.
 * First-fit decreasing finds the fewest nodes, then the tasks are spread
 * over them so that the request per node is as small as it can be. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "placement.h"

int pai_gpu_type_valid(const char *s, apr_size_t len)
{
    apr_size_t i;
    if (len == 0 || len >= PAI_GPU_TYPE_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if (!apr_isalnum(s[i]) && !strchr("_.-", s[i]))
            return 0;
    return 1;
}

void pai_node_shapes_add(pai_node_shapes *ns, const pai_shape *s)
{
    int i, least = 0;

    for (i = 0; i < ns->n; i++)
        if (!memcmp(&ns->shape[i], s, sizeof(*s))) {
            ns->count[i]++;
            return;
        }
    if (ns->n < PAI_NODE_SHAPES_MAX) {
        ns->shape[ns->n] = *s;
        ns->count[ns->n++] = 1;
        return;
    }
    /* Full: a new kind replaces the rarest kind seen once (a lone odd node
     * matters least to placement). */
    for (i = 1; i < ns->n; i++)
        if (ns->count[i] < ns->count[least])
            least = i;
    if (ns->count[least] == 1)
        ns->shape[least] = *s;
}

const char *pai_node_shapes_format(apr_pool_t *p, const pai_node_shapes *ns)
{
    const char *out = "";
    int i;

    for (i = 0; i < ns->n; i++)
        out = apr_psprintf(p, "%s%s%" APR_INT64_T_FMT "/%" APR_INT64_T_FMT "/%" APR_INT64_T_FMT
                           "%s%s*%d", out, i ? ";" : "", ns->shape[i].cpus,
                           ns->shape[i].memory_mb, ns->shape[i].gpus,
                           *ns->shape[i].gpu_type ? ":" : "", ns->shape[i].gpu_type,
                           ns->count[i]);
    return out;
}

int pai_node_shapes_parse(const char *text, pai_node_shapes *ns)
{
    const char *q = text;

    memset(ns, 0, sizeof(*ns));
    while (q && *q) {
        long long c, m, g;
        int count, used = 0, more = 0;
        apr_size_t tlen = 0;
        if (ns->n == PAI_NODE_SHAPES_MAX ||
            sscanf(q, "%lld/%lld/%lld%n", &c, &m, &g, &used) != 3 || c < 0 || m < 0 || g < 0)
            return 0;
        q += used;
        if (*q == ':') {
            tlen = strcspn(q + 1, "*");
            if (!pai_gpu_type_valid(q + 1, tlen))
                return 0;
            memcpy(ns->shape[ns->n].gpu_type, q + 1, tlen);
            q += 1 + tlen;
        }
        if (sscanf(q, "*%d%n", &count, &more) != 1 || count <= 0)
            return 0;
        used = more;
        ns->shape[ns->n].cpus = c;
        ns->shape[ns->n].memory_mb = m;
        ns->shape[ns->n].gpus = g;
        ns->count[ns->n++] = count;
        q += used;
        if (*q == ';')
            q++;
        else if (*q)
            return 0;
    }
    return 1;
}

typedef struct place_task {
    pai_shape need;
    int index;            /* job-wide task order */
    int role;
} place_task;

/* Larger tasks first: GPUs are the scarce part of a node, then CPUs. */
static int place_task_cmp(const void *a, const void *b)
{
    const place_task *x = a, *y = b;
    if (x->need.gpus != y->need.gpus) return x->need.gpus > y->need.gpus ? -1 : 1;
    if (x->need.cpus != y->need.cpus) return x->need.cpus > y->need.cpus ? -1 : 1;
    if (x->need.memory_mb != y->need.memory_mb)
        return x->need.memory_mb > y->need.memory_mb ? -1 : 1;
    return x->index - y->index;
}

static int shape_holds(const pai_shape *cap, const pai_shape *load, const pai_shape *more)
{
    return load->cpus + more->cpus <= cap->cpus &&
           load->memory_mb + more->memory_mb <= cap->memory_mb &&
           load->gpus + more->gpus <= cap->gpus;
}

static void shape_add(pai_shape *load, const pai_shape *more)
{
    load->cpus += more->cpus;
    load->memory_mb += more->memory_mb;
    load->gpus += more->gpus;
}

static void shape_max(pai_shape *acc, const pai_shape *s)
{
    if (s->cpus > acc->cpus) acc->cpus = s->cpus;
    if (s->memory_mb > acc->memory_mb) acc->memory_mb = s->memory_mb;
    if (s->gpus > acc->gpus) acc->gpus = s->gpus;
}

/* How full a node is, all three resources counted. */
static double shape_fill(const pai_shape *cap, const pai_shape *load)
{
    return (cap->cpus ? (double)load->cpus / cap->cpus : 0) +
           (cap->memory_mb ? (double)load->memory_mb / cap->memory_mb : 0) +
           (cap->gpus ? (double)load->gpus / cap->gpus : 0);
}

/* First-fit decreasing into nodes of shape cap: the node count. */
static int place_first_fit(const place_task *t, int n, const pai_shape *cap, pai_shape *load,
                           int *slot)
{
    int i, b, used = 0;

    for (i = 0; i < n; i++) {
        for (b = 0; b < used && !shape_holds(cap, &load[b], &t[i].need); b++)
            ;
        if (b == used)
            memset(&load[used++], 0, sizeof(*load));
        shape_add(&load[b], &t[i].need);
        slot[t[i].index] = b;
    }
    return used;
}

/* The same tasks over exactly `nodes` nodes, each to the emptiest that
 * holds it; 0 when that fails (first fit then stands). */
static int place_spread(const place_task *t, int n, const pai_shape *cap, int nodes,
                        pai_shape *load, int *slot)
{
    int i, b, best;

    memset(load, 0, sizeof(*load) * nodes);
    for (i = 0; i < n; i++) {
        best = -1;
        for (b = 0; b < nodes; b++)
            if (shape_holds(cap, &load[b], &t[i].need) &&
                (best < 0 || shape_fill(cap, &load[b]) < shape_fill(cap, &load[best])))
                best = b;
        if (best < 0)
            return 0;
        shape_add(&load[best], &t[i].need);
        slot[t[i].index] = best;
    }
    return 1;
}

static int shapes_at_least(const pai_node_shapes *ns, const pai_shape *want)
{
    int i, n = 0;
    for (i = 0; i < ns->n; i++)
        if (shape_holds(&ns->shape[i], want, &(pai_shape){0, 0, 0, ""}))
            n += ns->count[i];
    return n;
}

static int shape_less(const pai_shape *a, const pai_shape *b)
{
    if (a->gpus != b->gpus) return a->gpus < b->gpus;
    if (a->cpus != b->cpus) return a->cpus < b->cpus;
    return a->memory_mb < b->memory_mb;
}

pai_error *pai_place(apr_pool_t *p, const pai_jobspec *s, const pai_node_shapes *ns,
                     pai_placement **out)
{
    int n = s->total_tasks, r, k, i, best_nodes = 0, need_nodes = 0, have_nodes = 0;
    place_task *t = apr_pcalloc(p, sizeof(*t) * (n ? n : 1));
    pai_shape *load = apr_pcalloc(p, sizeof(*load) * (n ? n : 1)), best_per_node = {0, 0, 0, ""};
    pai_shape need_per_node = {0, 0, 0, ""};
    int *slot = apr_pcalloc(p, sizeof(int) * (n ? n : 1));
    pai_placement *pl = apr_pcalloc(p, sizeof(*pl));
    const pai_shape *largest = NULL;

    for (r = 0, k = 0; r < s->roles->nelts; r++) {
        const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, r, pai_task_role);
        for (i = 0; i < tr->task_number; i++, k++) {
            t[k].need.cpus = tr->cpu_number;
            t[k].need.memory_mb = tr->memory_mb;
            t[k].need.gpus = tr->gpu_number;
            t[k].index = k;
            t[k].role = r;
        }
    }
    pl->tasks = n;
    pl->slot = apr_pcalloc(p, sizeof(int) * (n ? n : 1));
    if (ns->n == 0) {
        /* Nothing known of the nodes: one node holds all, as Slurm will say. */
        pl->nodes = 1;
        for (k = 0; k < n; k++)
            shape_add(&pl->per_node, &t[k].need);
        *out = pl;
        return NULL;
    }
    for (i = 0; i < ns->n; i++)
        if (!largest || shape_less(largest, &ns->shape[i]))
            largest = &ns->shape[i];
    /* A task no node can hold: name its role and the largest node. */
    for (k = 0; k < n; k++) {
        for (i = 0; i < ns->n && !shape_holds(&ns->shape[i], &(pai_shape){0, 0, 0, ""}, &t[k].need);
             i++)
            ;
        if (i == ns->n) {
            const pai_task_role *tr = &APR_ARRAY_IDX(s->roles, t[k].role, pai_task_role);
            return pai_error_make(p, PAI_ERR_INVALID, "No node can hold a task of task role %s "
                                  "(%d CPUs, %d MB of memory, %d GPUs per task): the largest node "
                                  "has %" APR_INT64_T_FMT " CPUs, %" APR_INT64_T_FMT " MB and %"
                                  APR_INT64_T_FMT " GPUs.", tr->name, tr->cpu_number,
                                  tr->memory_mb, tr->gpu_number, largest->cpus,
                                  largest->memory_mb, largest->gpus);
        }
    }
    qsort(t, n, sizeof(*t), place_task_cmp);
    /* Each shape in turn as the nodes' size: the fewest nodes win, then the
     * smallest request per node. */
    for (i = 0; i < ns->n; i++) {
        const pai_shape *cap = &ns->shape[i];
        pai_shape per_node = {0, 0, 0, ""};
        int nodes, b, have;
        for (k = 0; k < n && shape_holds(cap, &(pai_shape){0, 0, 0, ""}, &t[k].need); k++)
            ;
        if (k < n)
            continue;
        nodes = place_first_fit(t, n, cap, load, slot);
        if (nodes > 1 && !place_spread(t, n, cap, nodes, load, slot))
            place_first_fit(t, n, cap, load, slot);
        for (b = 0; b < nodes; b++)
            shape_max(&per_node, &load[b]);
        have = shapes_at_least(ns, &per_node);
        if (have < nodes) {
            if (!need_nodes || nodes < need_nodes) {
                need_nodes = nodes;
                need_per_node = per_node;
                have_nodes = have;
            }
            continue;
        }
        if (!best_nodes || nodes < best_nodes ||
            (nodes == best_nodes && shape_less(&per_node, &best_per_node))) {
            best_nodes = nodes;
            best_per_node = per_node;
            memcpy(pl->slot, slot, sizeof(int) * n);
        }
    }
    if (!best_nodes)
        return pai_error_make(p, PAI_ERR_INVALID, "The job's tasks need %d nodes of %"
                              APR_INT64_T_FMT " CPUs, %" APR_INT64_T_FMT " MB and %"
                              APR_INT64_T_FMT " GPUs each; the cluster has %d such nodes.",
                              need_nodes, need_per_node.cpus, need_per_node.memory_mb,
                              need_per_node.gpus, have_nodes);
    pl->nodes = best_nodes;
    pl->per_node = best_per_node;
    *out = pl;
    return NULL;
}

const char *pai_placement_slots(apr_pool_t *p, const pai_placement *pl)
{
    char *out = apr_palloc(p, (apr_size_t)pl->tasks * 12 + 1), *q = out;
    int k;

    *q = '\0';
    for (k = 0; k < pl->tasks; k++)
        q += sprintf(q, k ? ",%d" : "%d", pl->slot[k]);
    return out;
}

int *pai_placement_slots_parse(apr_pool_t *p, const char *text, int tasks)
{
    int *slot = apr_pcalloc(p, sizeof(int) * (tasks > 0 ? tasks : 1)), k;
    const char *q = text;
    char *end;

    if (!text || !*text || tasks <= 0)
        return NULL;
    for (k = 0; k < tasks; k++) {
        long v = strtol(q, &end, 10);
        if (end == q || v < 0 || v >= PAI_TASKS_MAX)
            return NULL;
        slot[k] = (int)v;
        q = end;
        if (k + 1 < tasks) {
            if (*q != ',')
                return NULL;
            q++;
        }
    }
    return *q ? NULL : slot;
}

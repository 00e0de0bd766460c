/* Where a job's tasks go: the cluster's node shapes, and a placement of the
 * tasks on nodes that one Slurm allocation of N equal nodes can hold. */
#ifndef PAI_PLACEMENT_H
#define PAI_PLACEMENT_H

#include <apr_pools.h>
#include "err.h"
#include "jobspec.h"

/* Distinct node shapes kept of a cluster; a cluster with more kinds of node
 * than this keeps the most numerous ones (placement then ignores the rest). */
#define PAI_NODE_SHAPES_MAX 16

#define PAI_GPU_TYPE_MAX 32

typedef struct pai_shape {
    apr_int64_t cpus, memory_mb, gpus;
    char gpu_type[PAI_GPU_TYPE_MAX];  /* Slurm's GRES type ("gpu:a100:4": a100), "": none
                                       * named; [A-Za-z0-9_.-] (pai_gpu_type_valid) */
} pai_shape;

/* A GPU type name as a node shape keeps it. */
int pai_gpu_type_valid(const char *s, apr_size_t len);

typedef struct pai_node_shapes {
    int n;
    pai_shape shape[PAI_NODE_SHAPES_MAX];
    int count[PAI_NODE_SHAPES_MAX];       /* nodes of that shape */
} pai_node_shapes;

/* Counts one node of shape s in. */
void pai_node_shapes_add(pai_node_shapes *ns, const pai_shape *s);
/* "cpus/memory/gpus[:type]*count;..." and back (the store keeps the text). */
const char *pai_node_shapes_format(apr_pool_t *p, const pai_node_shapes *ns);
int pai_node_shapes_parse(const char *text, pai_node_shapes *ns);

typedef struct pai_placement {
    int nodes;                 /* N: the allocation's nodes */
    pai_shape per_node;        /* asked of each of them: the most any one holds */
    int *slot;                 /* per task, job-wide order: its node, 0..N-1 */
    int tasks;
} pai_placement;

/* Places every task of s on the fewest nodes of one shape of ns, spread so
 * that the busiest node holds as little as it can.  400 (PAI_ERR_INVALID)
 * when no node can hold a task of some role (naming the role and the
 * largest node), or the cluster has too few nodes for the job.  With no
 * shapes known (a launcher that does not tell), everything goes on one node. */
pai_error *pai_place(apr_pool_t *p, const pai_jobspec *s, const pai_node_shapes *ns,
                     pai_placement **out);

/* The slots as "0,0,1,2" (stored with the attempt) and back; the parse
 * gives NULL for text that does not name `tasks` slots. */
const char *pai_placement_slots(apr_pool_t *p, const pai_placement *pl);
int *pai_placement_slots_parse(apr_pool_t *p, const char *text, int tasks);

#endif

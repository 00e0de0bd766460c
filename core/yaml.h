/* YAML documents (OpenPAI's job protocol) read into jansson values, with
 * limits that keep a hostile document cheap: one document, a bounded depth,
 * and a bounded number of nodes counting every alias's expansion. */
#ifndef PAI_YAML_H
#define PAI_YAML_H

#include <apr_pools.h>
#include <jansson.h>
#include "err.h"

typedef struct pai_yaml_limits {
    int max_depth;               /* nested mappings and sequences */
    long max_nodes;              /* scalars, mappings and sequences, aliases expanded */
} pai_yaml_limits;

/* The one document in buf as JSON (bound to p): plain scalars typed as YAML
 * 1.1's core schema types them (null, true/false, integers, floats), quoted
 * ones text, mapping keys text.  NULL and *err (400, saying what and where)
 * for what is not YAML or breaks a limit. */
json_t *pai_yaml_parse(apr_pool_t *p, const char *buf, apr_size_t len,
                       const pai_yaml_limits *lim, pai_error **err);

/* A JSON value as a YAML document (block style), in p. */
const char *pai_yaml_dump(apr_pool_t *p, const json_t *v);

#endif

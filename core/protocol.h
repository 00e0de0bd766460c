/* OpenPAI's job protocol v2 (the YAML /api/v2 takes, microsoft/pai v1.8.0's
 * config/v2/protocol.js) read into the v1 job config core/jobspec.c checks. */
#ifndef PAI_PROTOCOL_H
#define PAI_PROTOCOL_H

#include <apr_pools.h>
#include <jansson.h>
#include "err.h"
#include "yaml.h"

#define PAI_PROTOCOL_SECRETS_MAX 64      /* entries of `secrets` (and of `parameters`) */

/* What a submitted protocol document may be: nesting and nodes (aliases
 * expanded), on top of PaiBodyLimit's bytes. */
extern const pai_yaml_limits pai_protocol_yaml_limits;

typedef struct pai_protocol {
    json_t *config;      /* the v1 job config: commands with the parameters rendered,
                          * the secrets' tags (<% $secrets.k %>) left for launch time */
    json_t *kept;        /* the protocol as submitted, every secret's value masked:
                          * what GET .../config shows */
    json_t *secrets;     /* {name: text}, or NULL: kept apart from both above */
} pai_protocol;

/* Reads a protocol document (from YAML or JSON).  A 400 names the field and
 * what is wrong; features this server does not run (prerequisites other than
 * docker images, deployments, runtime plugins other than ssh, task retries,
 * different images per task role) are refused by name. */
pai_error *pai_protocol_read(apr_pool_t *p, const json_t *doc, pai_protocol *out);

/* text with each <% $secrets.k %> replaced by secret k (in p); tags naming no
 * secret stay as they are, as OpenPAI left them. */
const char *pai_protocol_render_secrets(apr_pool_t *p, const char *text, const json_t *secrets);

#endif

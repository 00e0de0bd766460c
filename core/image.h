/* Container image references as docker reads them (registry/name:tag,
 * name:tag on Docker Hub, @sha256: digests), and the site's allow rules. */
#ifndef PAI_IMAGE_H
#define PAI_IMAGE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "err.h"

#define PAI_IMAGE_REF_MAX 512        /* bytes of a reference, as docker's 255-byte name + tag/digest */

typedef struct pai_image_ref {
    const char *registry;            /* "docker.io", "127.0.0.1:5000", ... */
    const char *repository;          /* "library/ubuntu" */
    const char *tag;                 /* "latest" when none; NULL when pulled by digest */
    const char *digest;              /* "sha256:<64 hex>" or NULL */
    const char *name;                /* registry/repository */
    const char *canonical;           /* name:tag or name@digest: what is pulled */
} pai_image_ref;

/* 400 naming what is wrong with s as an image reference. */
pai_error *pai_image_ref_parse(apr_pool_t *p, const char *s, pai_image_ref *out);

/* 1 when ref's name (registry/repository) matches one of the shell patterns
 * (apr_fnmatch; '*' also matches '/'), or there are none. */
int pai_image_allowed(const pai_image_ref *ref, const apr_array_header_t *patterns);

/* A host folder given in a job config (dataDir, …) that tasks may bind: an
 * absolute path of [A-Za-z0-9._/-] with no "." or ".." component. */
int pai_image_mount_path_ok(const char *path);

#endif

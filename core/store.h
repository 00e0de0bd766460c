/* The store: every SQL statement of mod_pairest, run through apr_dbd as
 * prepared statements.  One schema serves SQLite and MySQL/MariaDB. */
#ifndef PAI_STORE_H
#define PAI_STORE_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include <apr_dbd.h>
#include "err.h"

/* A borrowed connection.  `prepared` caches statements for the life of the
 * connection and `conn_pool` must live exactly as long (mod_dbd's ap_dbd_t
 * provides both). */
typedef struct pai_db {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;
    apr_pool_t *conn_pool;
} pai_db;

typedef struct pai_user {
    const char *username;
    const char *password_hash;
    int admin;
    apr_int64_t generation;   /* tokens carry it; a password change bumps it */
} pai_user;

typedef struct pai_vc {
    const char *name;
    int capacity;             /* percent of the cluster, guaranteed */
    int max_capacity;         /* percent of the cluster, at most */
} pai_vc;

/* Creates the tables when missing and makes sure `default` exists. Idempotent
 * and safe to run from several processes at once. */
pai_error *pai_store_init(pai_db *db, apr_pool_t *p);

/* *out is NULL when the user does not exist. */
pai_error *pai_store_user_get(pai_db *db, apr_pool_t *p, const char *username,
                              pai_user **out);
/* PAI_ERR_CONFLICT_USER when the name is taken. */
pai_error *pai_store_user_create(pai_db *db, apr_pool_t *p, const char *username,
                                 const char *password_hash, int admin);
/* password_hash NULL: unchanged (else the token generation moves on);
 * admin < 0: unchanged.  PAI_ERR_NO_USER when absent. */
pai_error *pai_store_user_update(pai_db *db, apr_pool_t *p, const char *username,
                                 const char *password_hash, int admin);
/* Removes the user and their grants.  PAI_ERR_NO_USER when absent. */
pai_error *pai_store_user_delete(pai_db *db, apr_pool_t *p, const char *username);

/* *out NULL when no such VC. */
pai_error *pai_store_vc_get(pai_db *db, apr_pool_t *p, const char *name, pai_vc **out);
/* An array of pai_vc, by name. */
pai_error *pai_store_vc_list(pai_db *db, apr_pool_t *p, apr_array_header_t **out);
/* Replaces the user's grants with `vcs` (const char *), all in one transaction. */
pai_error *pai_store_grants_set(pai_db *db, apr_pool_t *p, const char *username,
                                const apr_array_header_t *vcs);
/* An array of const char *, by name. */
pai_error *pai_store_grants_get(pai_db *db, apr_pool_t *p, const char *username,
                                apr_array_header_t **out);

#endif

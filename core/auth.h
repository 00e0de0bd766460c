/* Tokens (HS256 JWT with a required exp) and passwords (bcrypt), httpd-free. */
#ifndef PAI_AUTH_H
#define PAI_AUTH_H

#include <apr_pools.h>
#include "err.h"

typedef struct pai_claims {
    const char *username;
    int admin;               /* informational: the store is the authority */
    apr_int64_t generation;  /* the user's token generation when issued */
    apr_int64_t iat;
    apr_int64_t exp;
    const char *jti;         /* the token's id (pai_tokens); NULL: an older token */
    int application;         /* an application token: job routes only */
} pai_claims;

#define PAI_TOKEN_ID_LEN 32  /* hex characters */

#define PAI_SECRET_MIN 32    /* bytes; a shorter HS256 key is refused */

/* Signs c (iat/exp taken from c) with key; the token is allocated in p. */
pai_error *pai_token_issue(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                           const pai_claims *c, const char **token);
/* Verifies signature, alg == HS256, exp > now, and the claims' shapes.
 * Any failure is PAI_ERR_UNAUTHORIZED with a reason. */
pai_error *pai_token_verify(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                            const char *token, apr_int64_t now, pai_claims *out);

/* A token's SHA-256 in hex: how a logged-out token is kept (never the token). */
const char *pai_token_hash(apr_pool_t *p, const char *token);

/* The password queue.  bcrypt takes tens of ms of a CPU, and a login holds
 * a database connection from its start: hundreds of logins at once each ran
 * on 1/Nth of the CPUs and waited, unordered, for one of a process's
 * connections, so the unlucky ones waited past their clients' timeouts
 * (bench (i), 256 connections).  The glue puts a route that checks or hashes
 * a password (pai_route.password) in this queue before it takes anything:
 * at most width run at once in this process, the others wait in the order
 * they came.  Made in each child before its threads start; without it
 * (unit tests, tools) enter and leave do nothing. */
void pai_password_gate_init(apr_pool_t *p, int width);
void pai_password_gate_enter(void);
void pai_password_gate_leave(void);

/* bcrypt with a random salt; cost 4..31. */
pai_error *pai_password_hash(apr_pool_t *p, const char *password, int cost,
                             const char **hash);
int pai_password_check(const char *password, const char *hash);

/* Names and passwords as OpenPAI defined them (plus a length bound). */
#define PAI_NAME_MAX 64
#define PAI_PASSWORD_MIN 6
#define PAI_PASSWORD_MAX 256
int pai_username_valid(const char *s);     /* ^[A-Za-z0-9_]{1,64}$ */
int pai_password_valid(const char *s);     /* 6..256 bytes */

#endif

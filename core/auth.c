/* JWT issue/verify over libjwt and bcrypt over apr-util.  libjwt 1.10 neither
 * pins the algorithm nor checks exp, so both are checked here. */
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <jwt.h>
#include <apr_strings.h>
#include <apr_general.h>
#include <apr_md5.h>          /* apr_bcrypt_encode, apr_password_validate */
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <openssl/sha.h>
#include "auth.h"

pai_error *pai_token_issue(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                           const pai_claims *c, const char **token)
{
    jwt_t *jwt = NULL;
    char *s;
    int rv = 0;

    if (keylen < PAI_SECRET_MIN)
        return pai_error_make(p, PAI_ERR_INTERNAL, "token secret too short");
    if (jwt_new(&jwt) != 0)
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot create token");
    rv |= jwt_add_grant(jwt, "username", c->username);
    rv |= jwt_add_grant_bool(jwt, "admin", c->admin);
    rv |= jwt_add_grant_int(jwt, "gen", (long)c->generation);
    rv |= jwt_add_grant_int(jwt, "iat", (long)c->iat);
    rv |= jwt_add_grant_int(jwt, "exp", (long)c->exp);
    if (c->jti)
        rv |= jwt_add_grant(jwt, "jti", c->jti);
    if (c->application)
        rv |= jwt_add_grant_bool(jwt, "app", 1);
    rv |= jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)keylen);
    s = rv ? NULL : jwt_encode_str(jwt);
    jwt_free(jwt);
    if (!s)
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot sign token");
    *token = apr_pstrdup(p, s);
    free(s);
    return NULL;
}

pai_error *pai_token_verify(apr_pool_t *p, const unsigned char *key, apr_size_t keylen,
                            const char *token, apr_int64_t now, pai_claims *out)
{
    jwt_t *jwt = NULL;
    const char *user;
    long exp, iat, gen;
    pai_error *err = NULL;

    /* An empty key would make libjwt skip the signature check altogether. */
    if (keylen < PAI_SECRET_MIN)
        return pai_error_make(p, PAI_ERR_INTERNAL, "token secret too short");
    if (!token || !*token || strlen(token) > 8192)
        return pai_error_make(p, PAI_ERR_UNAUTHORIZED, "invalid token");
    if (jwt_decode(&jwt, token, key, (int)keylen) != 0 || !jwt)
        return pai_error_make(p, PAI_ERR_UNAUTHORIZED, "invalid token");
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        err = pai_error_make(p, PAI_ERR_UNAUTHORIZED, "invalid token: algorithm not allowed");
        goto done;
    }
    errno = 0;
    exp = jwt_get_grant_int(jwt, "exp");
    if (errno) {
        err = pai_error_make(p, PAI_ERR_UNAUTHORIZED, "invalid token: no expiry");
        goto done;
    }
    if ((apr_int64_t)exp <= now) {
        err = pai_error_make(p, PAI_ERR_UNAUTHORIZED, "token expired");
        goto done;
    }
    errno = 0;
    gen = jwt_get_grant_int(jwt, "gen");
    if (errno) {
        err = pai_error_make(p, PAI_ERR_UNAUTHORIZED, "invalid token: no generation");
        goto done;
    }
    errno = 0;
    iat = jwt_get_grant_int(jwt, "iat");
    if (errno)
        iat = 0;
    user = jwt_get_grant(jwt, "username");
    if (!user || !pai_username_valid(user)) {
        err = pai_error_make(p, PAI_ERR_UNAUTHORIZED, "invalid token: no user");
        goto done;
    }
    out->username = apr_pstrdup(p, user);
    errno = 0;
    out->admin = jwt_get_grant_bool(jwt, "admin") > 0;
    out->generation = gen;
    out->iat = iat;
    out->exp = exp;
    user = jwt_get_grant(jwt, "jti");
    out->jti = user && strlen(user) == PAI_TOKEN_ID_LEN
               && strspn(user, "0123456789abcdef") == PAI_TOKEN_ID_LEN
               ? apr_pstrdup(p, user) : NULL;
    errno = 0;
    out->application = jwt_get_grant_bool(jwt, "app") > 0;
done:
    jwt_free(jwt);
    return err;
}

/* A FIFO of width places: ticket t runs once fewer than width of those
 * before it are still running (tickets run in order, end in any order). */
static struct {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *turn;
    apr_uint64_t next, done;
    int width;
} auth_gate;

void pai_password_gate_init(apr_pool_t *p, int width)
{
    if (width < 1 ||
        apr_thread_mutex_create(&auth_gate.lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS ||
        apr_thread_cond_create(&auth_gate.turn, p) != APR_SUCCESS) {
        auth_gate.lock = NULL;
        return;
    }
    auth_gate.next = auth_gate.done = 0;
    auth_gate.width = width;
}

void pai_password_gate_enter(void)
{
    apr_uint64_t ticket;

    if (!auth_gate.lock)
        return;
    apr_thread_mutex_lock(auth_gate.lock);
    ticket = auth_gate.next++;
    while (ticket >= auth_gate.done + (apr_uint64_t)auth_gate.width)
        apr_thread_cond_wait(auth_gate.turn, auth_gate.lock);
    apr_thread_mutex_unlock(auth_gate.lock);
}

void pai_password_gate_leave(void)
{
    if (!auth_gate.lock)
        return;
    apr_thread_mutex_lock(auth_gate.lock);
    auth_gate.done++;
    apr_thread_cond_broadcast(auth_gate.turn);
    apr_thread_mutex_unlock(auth_gate.lock);
}

pai_error *pai_password_hash(apr_pool_t *p, const char *password, int cost,
                             const char **hash)
{
    unsigned char salt[16];
    char buf[128];

    if (cost < 4 || cost > 31)
        return pai_error_make(p, PAI_ERR_INTERNAL, "bcrypt cost out of range");
    if (apr_generate_random_bytes(salt, sizeof(salt)) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_INTERNAL, "no randomness for a salt");
    if (apr_bcrypt_encode(password, (unsigned int)cost, salt, sizeof(salt), buf,
                          sizeof(buf)) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot hash password");
    *hash = apr_pstrdup(p, buf);
    return NULL;
}

int pai_password_check(const char *password, const char *hash)
{
    /* Only bcrypt hashes are accepted: apr_password_validate would also take
     * crypt(3), SHA1 and plain text, which no account here should carry. */
    if (!password || !hash || strncmp(hash, "$2", 2) != 0)
        return 0;
    return apr_password_validate(password, hash) == APR_SUCCESS;
}

int pai_username_valid(const char *s)
{
    apr_size_t n = 0;

    if (!s || !*s)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return n <= PAI_NAME_MAX;
}

int pai_password_valid(const char *s)
{
    apr_size_t n = s ? strlen(s) : 0;
    return n >= PAI_PASSWORD_MIN && n <= PAI_PASSWORD_MAX;
}

const char *pai_token_hash(apr_pool_t *p, const char *token)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[SHA256_DIGEST_LENGTH];
    char *out = apr_palloc(p, 2 * SHA256_DIGEST_LENGTH + 1);
    int i;

    SHA256((const unsigned char *)token, strlen(token), d);
    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * SHA256_DIGEST_LENGTH] = '\0';
    return out;
}

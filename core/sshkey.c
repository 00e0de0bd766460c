/* Per-job ed25519 key pairs, made in-process with libcrypto and written in
 * OpenSSH's formats (PROTOCOL.key): no ssh-keygen process per submission. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <apr_strings.h>
#include <apr_base64.h>
#include <apr_general.h>
#include "sshkey.h"

/* A growing byte buffer for SSH wire encoding (uint32 lengths, big-endian). */
typedef struct sshbuf {
    unsigned char b[512];
    apr_size_t n;
} sshbuf;

static void put_u32(sshbuf *w, apr_uint32_t v)
{
    w->b[w->n++] = (unsigned char)(v >> 24);
    w->b[w->n++] = (unsigned char)(v >> 16);
    w->b[w->n++] = (unsigned char)(v >> 8);
    w->b[w->n++] = (unsigned char)v;
}

static void put_bytes(sshbuf *w, const void *d, apr_size_t len)
{
    memcpy(w->b + w->n, d, len);
    w->n += len;
}

static void put_string(sshbuf *w, const void *d, apr_size_t len)
{
    put_u32(w, (apr_uint32_t)len);
    put_bytes(w, d, len);
}

static char *b64(apr_pool_t *p, const unsigned char *d, apr_size_t len)
{
    char *out = apr_palloc(p, apr_base64_encode_len((int)len));
    apr_base64_encode_binary(out, d, (int)len);
    return out;
}

pai_error *pai_ssh_keygen(apr_pool_t *p, const char *comment, const char **private_key,
                          const char **public_key)
{
    static const char type[] = "ssh-ed25519";
    unsigned char pk[32], sk[64];
    size_t pklen = sizeof(pk), sklen = 32;
    sshbuf pub = {{0}, 0}, priv = {{0}, 0}, file = {{0}, 0};
    apr_uint32_t check;
    EVP_PKEY *key;
    char *text, *out;
    apr_size_t clen = strlen(comment), i, tlen;
    unsigned char pad = 1;

    if (clen > 200)
        return pai_error_make(p, PAI_ERR_INTERNAL, "key comment too long");
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!key || EVP_PKEY_get_raw_private_key(key, sk, &sklen) != 1 || sklen != 32 ||
        EVP_PKEY_get_raw_public_key(key, pk, &pklen) != 1 || pklen != 32) {
        EVP_PKEY_free(key);
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot make an ed25519 key");
    }
    EVP_PKEY_free(key);
    memcpy(sk + 32, pk, 32);           /* OpenSSH keeps seed || public */
    apr_generate_random_bytes((unsigned char *)&check, sizeof(check));

    put_string(&pub, type, sizeof(type) - 1);
    put_string(&pub, pk, sizeof(pk));

    put_u32(&priv, check);
    put_u32(&priv, check);
    put_string(&priv, type, sizeof(type) - 1);
    put_string(&priv, pk, sizeof(pk));
    put_string(&priv, sk, sizeof(sk));
    put_string(&priv, comment, clen);
    while (priv.n % 8)                 /* cipher "none": blocks of 8 */
        priv.b[priv.n++] = pad++;

    put_bytes(&file, "openssh-key-v1", 15);     /* with its NUL */
    put_string(&file, "none", 4);
    put_string(&file, "none", 4);
    put_string(&file, "", 0);
    put_u32(&file, 1);
    put_string(&file, pub.b, pub.n);
    put_string(&file, priv.b, priv.n);
    memset(sk, 0, sizeof(sk));
    memset(priv.b, 0, sizeof(priv.b));

    text = b64(p, file.b, file.n);
    memset(file.b, 0, sizeof(file.b));
    tlen = strlen(text);
    out = apr_palloc(p, tlen + tlen / 70 + 80);
    strcpy(out, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for (i = 0; i < tlen; i += 70) {
        strncat(out, text + i, 70);
        strcat(out, "\n");
    }
    strcat(out, "-----END OPENSSH PRIVATE KEY-----\n");
    memset(text, 0, tlen);
    *private_key = out;
    *public_key = apr_pstrcat(p, type, " ", b64(p, pub.b, pub.n), " ", comment, "\n", NULL);
    return NULL;
}

pai_error *pai_random_hex(apr_pool_t *p, const char **out)
{
    unsigned char raw[32];
    char *hex = apr_palloc(p, sizeof(raw) * 2 + 1);
    apr_size_t i;

    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_INTERNAL, "no randomness");
    for (i = 0; i < sizeof(raw); i++)
        apr_snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    *out = hex;
    return NULL;
}

int pai_secret_equal(const char *a, const char *b)
{
    apr_size_t n = strlen(a), m = strlen(b), i;
    unsigned char d = (unsigned char)(n != m);
    for (i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i < m ? i : 0]);
    return d == 0 && m > 0;
}

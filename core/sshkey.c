/* Per-job ed25519 key pairs, made in-process with libcrypto and written in
 * OpenSSH's formats (PROTOCOL.key): no ssh-keygen process per submission. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
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

char *pai_hex(apr_pool_t *p, const unsigned char *b, apr_size_t n)
{
    char *hex = apr_palloc(p, 2 * n + 1);
    apr_size_t i;

    hex[0] = '\0';
    for (i = 0; i < n; i++)
        apr_snprintf(hex + 2 * i, 3, "%02x", b[i]);
    return hex;
}

pai_error *pai_random_hex_n(apr_pool_t *p, apr_size_t n, const char **out)
{
    unsigned char *raw = apr_palloc(p, n);

    if (apr_generate_random_bytes(raw, n) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_INTERNAL, "no randomness");
    *out = pai_hex(p, raw, n);
    return NULL;
}

pai_error *pai_random_hex(apr_pool_t *p, const char **out)
{
    return pai_random_hex_n(p, 32, out);
}

int pai_secret_equal(const char *a, const char *b)
{
    apr_size_t n = strlen(a), m = strlen(b), i;
    unsigned char d = (unsigned char)(n != m);
    for (i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i < m ? i : 0]);
    return d == 0 && m > 0;
}

/* ---- launch tags ------------------------------------------------------------ */

#define TAG_NONCE_BYTES 8
#define TAG_MAC_BYTES 8

static void tag_hex(char *out, const unsigned char *b, apr_size_t n)
{
    apr_size_t i;
    for (i = 0; i < n; i++)
        apr_snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int tag_mac(apr_pool_t *p, const unsigned char *key, apr_size_t key_len, const char *job,
                   int attempt, const char *account, const char *nonce_hex, char *mac_hex)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const char *msg = apr_psprintf(p, "pai-launch:%s:%d:%s:%s", job, attempt,
                                   account ? account : "", nonce_hex);

    if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), mac, &len)
        || len < TAG_MAC_BYTES)
        return 0;
    tag_hex(mac_hex, mac, TAG_MAC_BYTES);
    return 1;
}

pai_error *pai_launch_tag_make(apr_pool_t *p, const unsigned char *key, apr_size_t key_len,
                               const char *job, int attempt, const char *account,
                               const char **tag)
{
    unsigned char nonce[TAG_NONCE_BYTES];
    char *out = apr_pcalloc(p, 2 * (TAG_NONCE_BYTES + TAG_MAC_BYTES) + 1);

    if (apr_generate_random_bytes(nonce, sizeof(nonce)) != APR_SUCCESS)
        return pai_error_make(p, PAI_ERR_INTERNAL, "no randomness");
    tag_hex(out, nonce, sizeof(nonce));
    if (!tag_mac(p, key, key_len, job, attempt, account, out, out + 2 * TAG_NONCE_BYTES))
        return pai_error_make(p, PAI_ERR_INTERNAL, "cannot sign a launch tag");
    *tag = out;
    return NULL;
}

int pai_launch_tag_valid(apr_pool_t *p, const unsigned char *key, apr_size_t key_len,
                         const char *job, int attempt, const char *account, const char *tag)
{
    char nonce[2 * TAG_NONCE_BYTES + 1], mac[2 * TAG_MAC_BYTES + 1];

    if (!tag || strlen(tag) != 2 * (TAG_NONCE_BYTES + TAG_MAC_BYTES))
        return 0;
    memcpy(nonce, tag, 2 * TAG_NONCE_BYTES);
    nonce[2 * TAG_NONCE_BYTES] = '\0';
    return tag_mac(p, key, key_len, job, attempt, account, nonce, mac) &&
           pai_secret_equal(mac, tag + 2 * TAG_NONCE_BYTES);
}

/* ---- host keys ---------------------------------------------------------------- */

const char *pai_ssh_host_key_fingerprint(apr_pool_t *p, const char *host_key)
{
    static const char *const types[] = {"ssh-ed25519 ", "ecdsa-sha2-nistp256 ",
                                        "ecdsa-sha2-nistp384 ", "ecdsa-sha2-nistp521 ",
                                        "ssh-rsa ", NULL};
    unsigned char digest[SHA256_DIGEST_LENGTH];
    const char *b64 = NULL, *c;
    char *blob, *fp;
    int i, n;

    for (i = 0; types[i]; i++)
        if (!strncmp(host_key, types[i], strlen(types[i])))
            b64 = host_key + strlen(types[i]);
    if (!b64 || !*b64 || strlen(b64) > 8192)
        return NULL;
    for (c = b64; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '+' || *c == '/' || *c == '='))
            return NULL;
    blob = apr_palloc(p, apr_base64_decode_len(b64));
    n = apr_base64_decode_binary((unsigned char *)blob, b64);
    if (n <= 4)
        return NULL;
    SHA256((const unsigned char *)blob, (size_t)n, digest);
    fp = apr_palloc(p, apr_base64_encode_len(sizeof(digest)));
    apr_base64_encode_binary(fp, digest, sizeof(digest));
    /* OpenSSH prints it without the padding. */
    for (i = (int)strlen(fp); i > 0 && fp[i - 1] == '='; i--)
        fp[i - 1] = '\0';
    return apr_pstrcat(p, "SHA256:", fp, NULL);
}

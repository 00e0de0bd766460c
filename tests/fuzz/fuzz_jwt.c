/* Fuzzes bearer-token verification: only a token signed with our key, HS256,
 * unexpired and well-shaped may pass. */
#include "fuzz.h"
#include "core/auth.h"

static const unsigned char key[] = "fuzz-key-0123456789abcdef0123456789abcdef";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    pai_claims c;
    pai_error *err;

    memset(&c, 0, sizeof(c));
    err = pai_token_verify(p, key, sizeof(key) - 1, fuzz_cstr(p, data, size),
                           1800000000, &c);
    if (!err) {
        const char *again;
        pai_claims back;
        /* An accepted token names a valid user and is unexpired; re-issuing
         * its claims must verify again (no claim is lost in the round trip). */
        if (!c.username || !pai_username_valid(c.username) || c.exp <= 1800000000)
            abort();
        if (pai_token_issue(p, key, sizeof(key) - 1, &c, &again) ||
            pai_token_verify(p, key, sizeof(key) - 1, again, 1800000000, &back) ||
            strcmp(back.username, c.username) || back.generation != c.generation)
            abort();
    }
    FUZZ_DONE(p);
}

/* Container image references: docker's grammar and normalization (so that
 * "ubuntu:22.04" is docker.io/library/ubuntu:22.04, as docker pulls it), and
 * the allow rules an admin sets with PaiImageAllow. */
#include <string.h>
#include <apr_strings.h>
#include <apr_fnmatch.h>
#include <apr_lib.h>
#include "image.h"

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A path component: [a-z0-9]+ joined by ".", "_", "__" or runs of "-". */
static int component_ok(const char *s, apr_size_t n)
{
    apr_size_t i = 0, j;

    if (!n || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return 0;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        j = i;
        while (j < n && s[j] == '-')
            j++;
        if (j == i) {               /* a separator other than dashes */
            if (s[i] == '.' || (s[i] == '_' && s[i + 1] != '_'))
                j = i + 1;
            else if (s[i] == '_' && s[i + 1] == '_')
                j = i + 2;
            else
                return 0;
        }
        if (j >= n || !is_lower_alnum(s[j]))
            return 0;
        i = j;
    }
    return 1;
}

/* host[:port], host labels of [A-Za-z0-9-] joined by "." */
static int registry_ok(const char *s, apr_size_t n)
{
    const char *colon = memchr(s, ':', n);
    apr_size_t host = colon ? (apr_size_t)(colon - s) : n, i;

    if (!host || s[0] == '.' || s[0] == '-' || s[host - 1] == '.' || s[host - 1] == '-')
        return 0;
    for (i = 0; i < host; i++)
        if (!(apr_isalnum(s[i]) || s[i] == '.' || s[i] == '-') ||
            (s[i] == '.' && s[i + 1] == '.'))
            return 0;
    if (colon) {
        apr_size_t d = n - host - 1;
        if (!d || d > 5)
            return 0;
        for (i = host + 1; i < n; i++)
            if (!apr_isdigit(s[i]))
                return 0;
    }
    return 1;
}

static int tag_ok(const char *s)
{
    apr_size_t n = strlen(s), i;

    if (!n || n > 128 || !(apr_isalnum(s[0]) || s[0] == '_'))
        return 0;
    for (i = 1; i < n; i++)
        if (!(apr_isalnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

static int digest_ok(const char *s)
{
    apr_size_t i;

    if (strncmp(s, "sha256:", 7) || strlen(s) != 7 + 64)
        return 0;
    for (i = 7; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

pai_error *pai_image_ref_parse(apr_pool_t *p, const char *s, pai_image_ref *out)
{
    char *name, *at, *slash, *colon, *comp, *last;
    const char *first_end;
    apr_size_t n;

    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'image' must not be empty");
    if (strlen(s) > PAI_IMAGE_REF_MAX)
        return pai_error_make(p, PAI_ERR_INVALID, "field 'image' is longer than %d bytes",
                              PAI_IMAGE_REF_MAX);
    name = apr_pstrdup(p, s);
    if ((at = strchr(name, '@'))) {
        *at++ = '\0';
        if (!digest_ok(at))
            return pai_error_make(p, PAI_ERR_INVALID, "image '%s': a digest must be "
                                  "sha256: and 64 lowercase hex digits", s);
        out->digest = at;
    }
    /* A tag is after the last ':' that follows the last '/' (a registry's
     * port comes before a '/'). */
    slash = strrchr(name, '/');
    colon = strrchr(slash ? slash : name, ':');
    if (colon) {
        *colon++ = '\0';
        if (!tag_ok(colon))
            return pai_error_make(p, PAI_ERR_INVALID, "image '%s': the tag '%s' must match "
                                  "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", s, colon);
        out->tag = colon;
    }
    /* The first component is a registry when it has '.' or ':', or is
     * localhost (docker's rule). */
    first_end = strchr(name, '/');
    if (first_end) {
        n = (apr_size_t)(first_end - name);
        if (memchr(name, '.', n) || memchr(name, ':', n) ||
            (n == 9 && !strncmp(name, "localhost", 9))) {
            if (!registry_ok(name, n))
                return pai_error_make(p, PAI_ERR_INVALID, "image '%s': '%.*s' is not a "
                                      "registry (host[:port])", s, (int)n, name);
            out->registry = apr_pstrmemdup(p, name, n);
            name += n + 1;
        }
    }
    if (!out->registry)
        out->registry = "docker.io";
    if (!strcmp(out->registry, "index.docker.io"))
        out->registry = "docker.io";
    if (!strcmp(out->registry, "docker.io") && !strchr(name, '/'))
        name = apr_pstrcat(p, "library/", name, NULL);
    if (strlen(name) > 255)
        return pai_error_make(p, PAI_ERR_INVALID, "image '%s': the name is longer than 255 "
                              "bytes", s);
    if (!*name || *name == '/' || name[strlen(name) - 1] == '/' || strstr(name, "//"))
        return pai_error_make(p, PAI_ERR_INVALID, "image '%s' has an empty name "
                              "component", s);
    {
        char *copy = apr_pstrdup(p, name);
        for (comp = apr_strtok(copy, "/", &last); comp; comp = apr_strtok(NULL, "/", &last))
            if (!component_ok(comp, strlen(comp)))
                return pai_error_make(p, PAI_ERR_INVALID, "image '%s': '%s' must be lowercase "
                                      "letters and digits, joined by '.', '_' or '-'", s, comp);
    }
    out->repository = name;
    out->name = apr_pstrcat(p, out->registry, "/", name, NULL);
    if (out->digest) {
        /* Pulled by digest alone: the tag would say nothing more. */
        out->tag = NULL;
        out->canonical = apr_pstrcat(p, out->name, "@", out->digest, NULL);
    } else {
        if (!out->tag)
            out->tag = "latest";
        out->canonical = apr_pstrcat(p, out->name, ":", out->tag, NULL);
    }
    return NULL;
}

int pai_image_allowed(const pai_image_ref *ref, const apr_array_header_t *patterns)
{
    int i;

    if (!patterns || !patterns->nelts)
        return 1;
    for (i = 0; i < patterns->nelts; i++)
        if (apr_fnmatch(APR_ARRAY_IDX(patterns, i, const char *), ref->name, 0) == APR_SUCCESS)
            return 1;
    return 0;
}

int pai_image_mount_path_ok(const char *path)
{
    const char *c, *seg;

    if (!path || path[0] != '/' || strlen(path) > 1024 || !strcmp(path, "/"))
        return 0;
    for (c = path; *c; c++)
        if (!(apr_isalnum(*c) || *c == '.' || *c == '_' || *c == '-' || *c == '/'))
            return 0;
    for (seg = path; seg; seg = strchr(seg + 1, '/')) {
        const char *s = seg + 1;
        apr_size_t n = strcspn(s, "/");
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
    }
    return 1;
}

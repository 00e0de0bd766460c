/* OpenPAI's job protocol v2 into the v1 job config: see protocol.h. */
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "json.h"
#include "jobspec.h"
#include "protocol.h"

#define SECRET_MASK "******"

const pai_yaml_limits pai_protocol_yaml_limits = {32, 100000};
#define RUNTIME_PLUGINS "com.microsoft.pai.runtimeplugin"

static pai_error *bad(apr_pool_t *p, const char *field, const char *what)
{
    return pai_error_make(p, PAI_ERR_INVALID, "field '%s' %s", field, what);
}

static int name_ok(const char *s, const char *first, const char *rest, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max && strchr(first, *s) && strspn(s, rest) == n;
}

#define LETTERS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS "0123456789"

/* Only these keys in object o (at field `where`). */
static pai_error *only(apr_pool_t *p, const json_t *o, const char *where,
                       const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        const char *const *x;
        for (x = keys; *x && strcmp(*x, k); x++)
            ;
        if (!*x)
            return bad(p, where ? apr_pstrcat(p, where, ".", k, NULL) : k,
                       "is not part of the job protocol");
    }
    return NULL;
}

/* o's mapping at key (NULL when absent) with only these keys; *field names it. */
static pai_error *get_mapping(apr_pool_t *p, const json_t *o, const char *where, const char *key,
                              const char *const *keys, const json_t **out, const char **field)
{
    *field = where ? apr_pstrcat(p, where, ".", key, NULL) : key;
    *out = json_object_get(o, key);
    if (!*out)
        return NULL;
    if (!json_is_object(*out))
        return bad(p, *field, "must be a mapping");
    return only(p, *out, *field, keys);
}

static pai_error *get_int(apr_pool_t *p, const json_t *o, const char *where, const char *key,
                          int required, json_int_t lo, json_int_t hi, json_int_t *out)
{
    const json_t *v = json_object_get(o, key);
    const char *f = where ? apr_pstrcat(p, where, ".", key, NULL) : key;
    if (!v || json_is_null(v))
        return required ? bad(p, f, "is required") : NULL;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return bad(p, f, apr_psprintf(p, "must be an integer from %" APR_INT64_T_FMT
                                      " to %" APR_INT64_T_FMT, (apr_int64_t)lo, (apr_int64_t)hi));
    *out = json_integer_value(v);
    return NULL;
}

static pai_error *get_str(apr_pool_t *p, const json_t *o, const char *where, const char *key,
                          int required, const char **out)
{
    const json_t *v = json_object_get(o, key);
    const char *f = where ? apr_pstrcat(p, where, ".", key, NULL) : key;
    if (!v || json_is_null(v))
        return required ? bad(p, f, "is required") : NULL;
    if (!json_is_string(v))
        return bad(p, f, "must be text");
    *out = json_string_value(v);
    return NULL;
}

/* A scalar as text, as OpenPAI's renderer printed it. */
static const char *scalar_text(apr_pool_t *p, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return json_string_value(v);
    case JSON_INTEGER: return apr_psprintf(p, "%" APR_INT64_T_FMT,
                                           (apr_int64_t)json_integer_value(v));
    case JSON_REAL: return apr_psprintf(p, "%.17g", json_real_value(v));
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    default: return NULL;
    }
}

/* text with each <% $<scope>.a.b %> replaced by that value of dict; other
 * tags as they are. */
static const char *render(apr_pool_t *p, const char *text, const char *scope, const json_t *dict)
{
    apr_array_header_t *out = apr_array_make(p, 8, sizeof(const char *));
    const char *s = text, *open, *close;
    size_t plen = strlen(scope);

    while ((open = strstr(s, "<%")) && (close = strstr(open + 2, "%>"))) {
        const char *a = open + 2, *b = close, *val = NULL;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (dict && (size_t)(b - a) > plen + 1 && !strncmp(a, scope, plen) && a[plen] == '.') {
            char *path = apr_pstrmemdup(p, a + plen + 1, b - a - plen - 1), *last, *k;
            const json_t *v = dict;
            for (k = apr_strtok(path, ".", &last); k && v; k = apr_strtok(NULL, ".", &last))
                v = json_is_object(v) ? json_object_get(v, k) : NULL;
            val = v ? scalar_text(p, v) : NULL;
        }
        APR_ARRAY_PUSH(out, const char *) = apr_pstrmemdup(p, s, open - s);
        APR_ARRAY_PUSH(out, const char *) = val ? val
                                                : apr_pstrmemdup(p, open, close + 2 - open);
        s = close + 2;
    }
    APR_ARRAY_PUSH(out, const char *) = s;
    return apr_array_pstrcat(p, out, 0);
}

const char *pai_protocol_render_secrets(apr_pool_t *p, const char *text, const json_t *secrets)
{
    return render(p, text, "$secrets", secrets);
}

/* parameters and secrets: a flat-or-nested object of scalars, bounded. */
static pai_error *check_dict(apr_pool_t *p, const json_t *d, const char *field, int depth,
                             size_t *count)
{
    const char *k;
    json_t *v;
    if (!json_is_object(d))
        return bad(p, field, "must be a mapping");
    json_object_foreach((json_t *)d, k, v) {
        const char *f = apr_pstrcat(p, field, ".", k, NULL);
        if (++*count > PAI_PROTOCOL_SECRETS_MAX)
            return bad(p, field, apr_psprintf(p, "has more than %d entries",
                                              PAI_PROTOCOL_SECRETS_MAX));
        if (json_is_object(v)) {
            pai_error *e;
            if (depth >= 4)
                return bad(p, f, "is nested too deep");
            if ((e = check_dict(p, v, f, depth + 1, count)))
                return e;
        }
        else if (!scalar_text(p, v))
            return bad(p, f, "must be text, a number or a boolean");
    }
    return NULL;
}

static json_t *masked(const json_t *d)
{
    json_t *m = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)d, k, v)
        json_object_set_new(m, k, json_is_object(v) ? masked(v) : json_string(SECRET_MASK));
    return m;
}

/* The extras this server acts on: OpenPAI's ssh runtime plugin (every task
 * runs an sshd already); any other plugin is refused by name. */
static pai_error *check_extras(apr_pool_t *p, const json_t *extras)
{
    const json_t *plugins;
    json_t *item;
    size_t i;

    if (!json_is_object(extras))
        return bad(p, "extras", "must be a mapping");
    plugins = json_object_get(extras, RUNTIME_PLUGINS);
    if (!plugins)
        return NULL;
    if (!json_is_array(plugins))
        return bad(p, "extras." RUNTIME_PLUGINS, "must be a list");
    json_array_foreach(plugins, i, item) {
        const char *f = apr_psprintf(p, "extras.%s[%" APR_SIZE_T_FMT "].plugin", RUNTIME_PLUGINS,
                                     i);
        const char *name = json_is_object(item)
            ? json_string_value(json_object_get(item, "plugin")) : NULL;
        if (!name)
            return bad(p, f, "is required");
        if (strcmp(name, "ssh"))
            return pai_error_make(p, PAI_ERR_INVALID, "field '%s': the runtime plugin '%.64s' is "
                                  "not supported here (only 'ssh')", f, name);
    }
    return NULL;
}

/* prerequisites: docker images only, by name; *images gets name -> uri. */
static pai_error *read_prerequisites(apr_pool_t *p, const json_t *list, json_t *images)
{
    static const char *const keys[] = {"name", "type", "uri", "contributor", "description",
                                       "version", "protocolVersion", NULL};
    json_t *item;
    size_t i;
    pai_error *e;

    if (!json_is_array(list) || json_array_size(list) == 0)
        return bad(p, "prerequisites", "must be a list of at least one item");
    if (json_array_size(list) > 100)
        return bad(p, "prerequisites", "has more than 100 items");
    json_array_foreach(list, i, item) {
        const char *f = apr_psprintf(p, "prerequisites[%" APR_SIZE_T_FMT "]", i);
        const char *name, *type, *uri;
        if (!json_is_object(item))
            return bad(p, f, "must be a mapping");
        if ((e = get_str(p, item, f, "name", 1, &name)) ||
            (e = get_str(p, item, f, "type", 1, &type)))
            return e;
        if (strcmp(type, "dockerimage"))
            return pai_error_make(p, PAI_ERR_INVALID, "field '%s.type': prerequisites of type "
                                  "'%.32s' are not supported here (only 'dockerimage')", f, type);
        if (json_object_get(item, "auth"))
            return pai_error_make(p, PAI_ERR_INVALID, "field '%s.auth': registry credentials in "
                                  "the job are not supported here; the cluster's registries are "
                                  "configured on its nodes", f);
        if ((e = only(p, item, f, keys)) || (e = get_str(p, item, f, "uri", 1, &uri)))
            return e;
        if (json_object_get(images, name))
            return bad(p, apr_pstrcat(p, f, ".name", NULL),
                       apr_psprintf(p, "'%.64s' is given twice", name));
        json_object_set_new(images, name, json_string(uri));
    }
    return NULL;
}

static pai_error *read_role(apr_pool_t *p, const char *rname, const json_t *r,
                            const json_t *images, const json_t *params, const char **image,
                            json_t **out)
{
    static const char *const keys[] = {"protocolVersion", "instances", "completion",
        "taskRetryCount", "prerequisites", "dockerImage", "extraContainerOptions",
        "resourcePerInstance", "commands", NULL};
    static const char *const res_keys[] = {"cpu", "memoryMB", "gpu", "ports", NULL};
    static const char *const ckeys[] = {"minFailedInstances", "minSucceededInstances", NULL};
    static const char *const okeys[] = {"shmMB", NULL};
    const char *f = apr_pstrcat(p, "taskRoles.", rname, NULL);
    const char *fr, *fx;
    const json_t *res, *cmds, *ports, *x;
    json_int_t instances = 1, cpu, mem, gpu, retry = 0, shm, n;
    const char *img, *k;
    json_t *role, *portlist, *v;
    apr_array_header_t *lines;
    pai_error *e;
    size_t i;

    if (!json_is_object(r))
        return bad(p, f, "must be a mapping");
    if ((e = only(p, r, f, keys)))
        return e;
    if (!name_ok(rname, LETTERS "_", LETTERS DIGITS "_", 64))
        return bad(p, f, "must be named by ^[a-zA-Z_][a-zA-Z0-9_]*$ (at most 64)");
    if ((e = get_int(p, r, f, "instances", 0, 1, 1000, &instances)) ||
        (e = get_int(p, r, f, "taskRetryCount", 0, 0, 1000, &retry)) ||
        (e = get_str(p, r, f, "dockerImage", 1, &img)))
        return e;
    if (retry)
        return pai_error_make(p, PAI_ERR_INVALID, "field '%s.taskRetryCount': retrying single "
                              "tasks is not supported here; use jobRetryCount", f);
    if (!json_object_get(images, img))
        return bad(p, apr_pstrcat(p, f, ".dockerImage", NULL),
                   apr_psprintf(p, "names no dockerimage prerequisite ('%.64s')", img));
    if (*image && strcmp(*image, json_string_value(json_object_get(images, img))))
        return bad(p, apr_pstrcat(p, f, ".dockerImage", NULL),
                   "differs from another task role's; one image per job is supported here");
    *image = json_string_value(json_object_get(images, img));
    if ((x = json_object_get(r, "prerequisites"))) {
        if (!json_is_array(x))
            return bad(p, apr_pstrcat(p, f, ".prerequisites", NULL), "must be a list");
        json_array_foreach(x, i, v)
            if (!json_is_string(v) || !json_object_get(images, json_string_value(v)))
                return bad(p, apr_psprintf(p, "%s.prerequisites[%" APR_SIZE_T_FMT "]", f, i),
                           "names no prerequisite");
    }
    if ((e = get_mapping(p, r, f, "resourcePerInstance", res_keys, &res, &fr)))
        return e;
    if (!res)
        return bad(p, fr, "is required");
    if ((e = get_int(p, res, fr, "cpu", 1, 1, 1024, &cpu)) ||
        (e = get_int(p, res, fr, "memoryMB", 1, 1, 16 * 1024 * 1024, &mem)) ||
        (e = get_int(p, res, fr, "gpu", 1, 0, 64, &gpu)))
        return e;
    role = json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", rname, "taskNumber", instances,
                     "cpuNumber", cpu, "memoryMB", mem, "gpuNumber", gpu);
    *out = role;                 /* the caller's from here: freed with the config */
    portlist = json_array();
    json_object_set_new(role, "portList", portlist);
    if ((ports = json_object_get(res, "ports"))) {
        if (!json_is_object(ports))
            return bad(p, apr_pstrcat(p, fr, ".ports", NULL), "must be a mapping");
        json_object_foreach((json_t *)ports, k, v) {
            const char *fp = apr_pstrcat(p, fr, ".ports.", k, NULL);
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100)
                return bad(p, fp, "must be an integer from 1 to 100");
            json_array_append_new(portlist, json_pack("{s:s, s:i, s:I}", "label", k,
                                                      "beginAt", 0, "portNumber",
                                                      json_integer_value(v)));
        }
    }
    if ((e = get_mapping(p, r, f, "completion", ckeys, &x, &fx)))
        return e;
    if (x) {
        n = -2;
        if ((e = get_int(p, x, fx, "minFailedInstances", 0, -1, 1000, &n)))
            return e;
        if (n != -2)
            json_object_set_new(role, "minFailedTaskCount", n < 1 ? json_null() : json_integer(n));
        n = -2;
        if ((e = get_int(p, x, fx, "minSucceededInstances", 0, -1, 1000, &n)))
            return e;
        if (n != -2)
            json_object_set_new(role, "minSucceededTaskCount",
                                n < 0 ? json_null() : json_integer(n));
    }
    if ((e = get_mapping(p, r, f, "extraContainerOptions", okeys, &x, &fx)))
        return e;
    shm = -1;
    if (x && (e = get_int(p, x, fx, "shmMB", 0, 0, 16 * 1024 * 1024, &shm)))
        return e;
    if (shm >= 0)
        json_object_set_new(role, "shmMB", json_integer(shm));
    cmds = json_object_get(r, "commands");
    if (!json_is_array(cmds) || json_array_size(cmds) == 0)
        return bad(p, apr_pstrcat(p, f, ".commands", NULL), "must be a list of at least one command");
    if (json_array_size(cmds) > 1000)
        return bad(p, apr_pstrcat(p, f, ".commands", NULL), "has more than 1000 commands");
    lines = apr_array_make(p, (int)json_array_size(cmds), sizeof(const char *));
    json_array_foreach(cmds, i, v) {
        const char *line;
        if (!json_is_string(v))
            return bad(p, apr_psprintf(p, "%s.commands[%" APR_SIZE_T_FMT "]", f, i), "must be text");
        /* Parameters now; the secrets' tags stay until the attempt starts. */
        line = apr_pstrdup(p, render(p, json_string_value(v), "$parameters", params));
        APR_ARRAY_PUSH(lines, const char *) = line;
    }
    json_object_set_new(role, "command", json_string(apr_array_pstrcat(p, lines, '\n')));
    return NULL;
}

pai_error *pai_protocol_read(apr_pool_t *p, const json_t *doc, pai_protocol *out)
{
    static const char *const keys[] = {"protocolVersion", "name", "type", "version",
        "contributor", "description", "prerequisites", "parameters", "secrets", "jobRetryCount",
        "taskRoles", "deployments", "defaults", "extras", NULL};
    static const char *const default_keys[] = {"virtualCluster", NULL};
    const json_t *pv, *roles, *params, *secrets, *defaults, *r;
    json_t *config, *images, *list, *role;
    const char *name, *type, *image = NULL, *vc = NULL, *rname, *fd;
    json_int_t retry = 0;
    size_t count = 0;
    pai_error *e;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(doc))
        return pai_error_make(p, PAI_ERR_INVALID, "the job protocol must be a mapping");
    if ((e = only(p, doc, NULL, keys)))
        return e;
    pv = json_object_get(doc, "protocolVersion");
    if (!pv || !((json_is_integer(pv) && json_integer_value(pv) == 2) ||
                 (json_is_string(pv) && !strcmp(json_string_value(pv), "2"))))
        return bad(p, "protocolVersion", "must be 2");
    if ((e = get_str(p, doc, NULL, "name", 1, &name)) ||
        (e = get_str(p, doc, NULL, "type", 1, &type)) ||
        (e = get_int(p, doc, NULL, "jobRetryCount", 0, 0, 1000, &retry)))
        return e;
    if (!name_ok(name, LETTERS DIGITS "_-", LETTERS DIGITS "_-", 128))
        return bad(p, "name", "must match ^[a-zA-Z0-9_-]+$ (at most 128)");
    if (strcmp(type, "job"))
        return bad(p, "type", "must be job");
    if (json_object_get(doc, "deployments"))
        return bad(p, "deployments", "is not supported here");
    if ((params = json_object_get(doc, "parameters")) &&
        (e = check_dict(p, params, "parameters", 0, &count)))
        return e;
    count = 0;
    if ((secrets = json_object_get(doc, "secrets")) &&
        (e = check_dict(p, secrets, "secrets", 0, &count)))
        return e;
    if ((e = get_mapping(p, doc, NULL, "defaults", default_keys, &defaults, &fd)) ||
        (defaults && (e = get_str(p, defaults, fd, "virtualCluster", 0, &vc))))
        return e;
    if (json_object_get(doc, "extras") && (e = check_extras(p, json_object_get(doc, "extras"))))
        return e;
    images = pai_json_pool(p, json_object());
    if (json_object_get(doc, "prerequisites") &&
        (e = read_prerequisites(p, json_object_get(doc, "prerequisites"), images)))
        return e;
    roles = json_object_get(doc, "taskRoles");
    if (!json_is_object(roles) || json_object_size(roles) == 0)
        return bad(p, "taskRoles", "must be a mapping of at least one task role");
    config = pai_json_pool(p, json_pack("{s:s, s:I}", "jobName", name, "retryCount", retry));
    list = json_array();
    json_object_set_new(config, "taskRoles", list);
    json_object_foreach((json_t *)roles, rname, r) {
        role = NULL;
        e = read_role(p, rname, r, images, params, &image, &role);
        if (role)
            json_array_append_new(list, role);
        if (e)
            return e;
    }
    json_object_set_new(config, "image", json_string(image));
    if (vc)
        json_object_set_new(config, "virtualCluster", json_string(vc));
    out->config = config;
    out->kept = pai_json_pool(p, json_deep_copy(doc));
    if (secrets) {
        size_t i;
        json_t *role;
        /* What the launcher will get must pass where the config did. */
        json_array_foreach(list, i, role) {
            const char *cmd = json_string_value(json_object_get(role, "command"));
            if (cmd && strlen(pai_protocol_render_secrets(p, cmd, secrets)) > PAI_COMMAND_MAX)
                return bad(p, apr_psprintf(p, "taskRoles.%s.commands",
                                           json_string_value(json_object_get(role, "name"))),
                           apr_psprintf(p, "with the secrets is longer than %d bytes",
                                        PAI_COMMAND_MAX));
        }
        json_object_set_new(out->kept, "secrets", masked(secrets));
        out->secrets = pai_json_pool(p, json_deep_copy(secrets));
    }
    return NULL;
}

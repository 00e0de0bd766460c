/* core/protocol.c: OpenPAI's job protocol v2 as the v1 job config, and what it
 * refuses by name. */
#include <string.h>
#include <apr_strings.h>
#include "tests.h"
#include "core/protocol.h"
#include "core/yaml.h"
#include "core/jobspec.h"

static const pai_yaml_limits lim = {32, 10000};

static const char *const doc =
    "protocolVersion: 2\n"
    "name: train-1\n"
    "type: job\n"
    "jobRetryCount: 2\n"
    "prerequisites:\n"
    "  - {name: img, type: dockerimage, uri: '127.0.0.1:9180/pai/test:1'}\n"
    "parameters: {epochs: 3, lr: 0.5, model: {name: resnet}}\n"
    "secrets: {token: s3cr3t, db: {password: hunter2}}\n"
    "defaults: {virtualCluster: vc1}\n"
    "extras:\n"
    "  com.microsoft.pai.runtimeplugin:\n"
    "    - {plugin: ssh, parameters: {jobssh: true}}\n"
    "taskRoles:\n"
    "  worker:\n"
    "    instances: 2\n"
    "    completion: {minFailedInstances: 1, minSucceededInstances: null}\n"
    "    dockerImage: img\n"
    "    extraContainerOptions: {shmMB: 128}\n"
    "    resourcePerInstance: {cpu: 1, memoryMB: 512, gpu: 0, ports: {http: 2}}\n"
    "    commands:\n"
    "      - echo <% $parameters.epochs %> <%$parameters.model.name%> <% $parameters.nope %>\n"
    "      - \"curl -H 'X: <% $secrets.token %>' <% $secrets.db.password %>\"\n"
    "  ps:\n"
    "    dockerImage: img\n"
    "    resourcePerInstance: {cpu: 2, memoryMB: 1024, gpu: 0}\n"
    "    commands: [sleep 1]\n";

static pai_error *read_doc(const char *text, pai_protocol *out)
{
    pai_error *e = NULL;
    json_t *d = pai_yaml_parse(ut_pool, text, strlen(text), &lim, &e);
    ck_assert_msg(d != NULL, "%s", e ? e->message : "");
    return pai_protocol_read(ut_pool, d, out);
}

START_TEST(a_protocol_becomes_a_v1_config)
{
    pai_protocol pr;
    pai_jobspec *spec;
    pai_error *e = read_doc(doc, &pr);
    json_t *w, *ps;
    const char *cmd;

    ck_assert_msg(e == NULL, "%s", e ? e->message : "");
    ck_assert_str_eq(json_string_value(json_object_get(pr.config, "jobName")), "train-1");
    ck_assert_str_eq(json_string_value(json_object_get(pr.config, "image")),
                     "127.0.0.1:9180/pai/test:1");
    ck_assert_str_eq(json_string_value(json_object_get(pr.config, "virtualCluster")), "vc1");
    ck_assert_int_eq(json_integer_value(json_object_get(pr.config, "retryCount")), 2);
    w = json_array_get(json_object_get(pr.config, "taskRoles"), 0);
    ps = json_array_get(json_object_get(pr.config, "taskRoles"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(w, "name")), "worker");
    ck_assert_int_eq(json_integer_value(json_object_get(w, "taskNumber")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(w, "shmMB")), 128);
    ck_assert_int_eq(json_integer_value(json_object_get(w, "minFailedTaskCount")), 1);
    /* null: the default, as if absent */
    ck_assert_ptr_null(json_object_get(w, "minSucceededTaskCount"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
        json_object_get(w, "portList"), 0), "portNumber")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(ps, "taskNumber")), 1);
    /* Parameters rendered, unknown tags kept; secrets left for launch time. */
    cmd = json_string_value(json_object_get(w, "command"));
    ck_assert_str_eq(cmd, "echo 3 resnet <% $parameters.nope %>\n"
                          "curl -H 'X: <% $secrets.token %>' <% $secrets.db.password %>");
    ck_assert_str_eq(pai_protocol_render_secrets(ut_pool, cmd, pr.secrets),
                     "echo 3 resnet <% $parameters.nope %>\ncurl -H 'X: s3cr3t' hunter2");
    /* What GET .../config shows has no secret. */
    ck_assert_ptr_null(strstr(pai_json_dump(ut_pool, pr.kept), "s3cr3t"));
    ck_assert_ptr_null(strstr(pai_json_dump(ut_pool, pr.kept), "hunter2"));
    ck_assert_ptr_null(strstr(pai_json_dump(ut_pool, pr.config), "s3cr3t"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(pr.kept, "secrets"),
                                                       "token")), "******");
    /* And the v1 config passes the v1 checks. */
    e = pai_jobspec_parse(ut_pool, pr.config, &spec);
    ck_assert_msg(e == NULL, "%s", e ? e->message : "");
    ck_assert_int_eq(spec->total_tasks, 3);
}
END_TEST

START_TEST(what_is_not_run_here_is_refused_by_name)
{
    static const struct { const char *from, *to, *says; } cases[] = {
        {"plugin: ssh", "plugin: teamwise_storage", "runtime plugin 'teamwise_storage'"},
        {"type: dockerimage", "type: data", "prerequisites of type 'data'"},
        {"    instances: 2\n", "    instances: 2\n    taskRetryCount: 3\n", "taskRetryCount"},
        {"protocolVersion: 2", "protocolVersion: 1", "protocolVersion"},
        {"type: job", "type: service", "'type' must be job"},
        {"name: train-1", "name: train/1", "'name' must match"},
        {"jobRetryCount: 2", "jobRetryCount: -1", "'jobRetryCount' must be an integer"},
        {"jobRetryCount: 2", "jobRetryCount: 2\nfoo: 1", "'foo' is not part of the job protocol"},
        {"jobRetryCount: 2", "jobRetryCount: 2\ndeployments: []", "'deployments' is not supported"},
        {"    dockerImage: img\n    extra", "    dockerImage: other\n    extra",
         "'taskRoles.worker.dockerImage' names no dockerimage prerequisite"},
        {"cpu: 1, memoryMB: 512", "cpu: 0, memoryMB: 512",
         "'taskRoles.worker.resourcePerInstance.cpu' must be an integer from 1"},
        {"    commands: [sleep 1]", "    commands: []", "'taskRoles.ps.commands' must be a list"},
        {"  ps:", "  p-s:", "'taskRoles.p-s' must be named"},
        {"uri: '127.0.0.1:9180/pai/test:1'}\n",
         "uri: x}\n  - {name: img2, type: dockerimage, uri: y}\n", NULL},
        {"secrets: {token: s3cr3t,", "secrets: {token: [1],", "'secrets.token' must be text"},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *at = strstr(doc, cases[i].from);
        const char *text;
        pai_protocol pr;
        pai_error *e;
        ck_assert_msg(at != NULL, "case %zu", i);
        text = apr_pstrcat(ut_pool, apr_pstrmemdup(ut_pool, doc, at - doc), cases[i].to,
                           at + strlen(cases[i].from), NULL);
        if (!cases[i].says) {
            /* Two images, the second for ps: one image per job here. */
            const char *ps = strstr(text, "  ps:\n    dockerImage: img\n");
            text = apr_pstrcat(ut_pool, apr_pstrmemdup(ut_pool, text, ps - text),
                               "  ps:\n    dockerImage: img2\n", ps + 27, NULL);
        }
        e = read_doc(text, &pr);
        ck_assert_msg(e != NULL, "case %zu accepted", i);
        ck_assert_int_eq(e->code, PAI_ERR_INVALID);
        ck_assert_msg(strstr(e->message, cases[i].says ? cases[i].says
                                                        : "differs from another task role's"),
                      "case %zu: %s", i, e->message);
    }
}
END_TEST

Suite *suite_protocol(void)
{
    Suite *s = suite_create("protocol");
    TCase *t = tcase_create("job protocol v2");
    tcase_add_test(t, a_protocol_becomes_a_v1_config);
    tcase_add_test(t, what_is_not_run_here_is_refused_by_name);
    suite_add_tcase(s, t);
    return s;
}

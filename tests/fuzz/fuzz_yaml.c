/* Fuzzes the job protocol's path: YAML (with its limits) into JSON, the
 * protocol into a v1 config, that config's checks, and YAML written back. */
#include "fuzz.h"
#include "core/jobspec.h"
#include "core/json.h"
#include "core/protocol.h"
#include "core/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    char *buf = fuzz_cstr(p, data, size);
    pai_error *err = NULL;
    pai_protocol proto;
    pai_jobspec *spec;
    json_t *doc = pai_yaml_parse(p, buf, size, &pai_protocol_yaml_limits, &err);

    if (!doc && !err)
        abort();    /* a refusal must say why */
    if (doc) {
        if (!pai_yaml_dump(p, doc))
            abort();
        if (!pai_protocol_read(p, doc, &proto)) {
            (void)pai_jobspec_parse(p, proto.config, &spec);
            if (proto.secrets)
                (void)pai_protocol_render_secrets(p, "<% $secrets.a %><%$secrets.b.c%>",
                                                  proto.secrets);
            pai_json_dump(p, proto.kept);
        }
    }
    FUZZ_DONE(p);
}

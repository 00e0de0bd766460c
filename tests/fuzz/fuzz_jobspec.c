/* Fuzzes the job-config validator on any JSON the body parser accepts. */
#include "fuzz.h"
#include "core/jobspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    pai_error *err = NULL;
    json_t *j = pai_json_parse(p, fuzz_cstr(p, data, size), size, &err);
    pai_jobspec *spec = NULL;

    if (!j)
        FUZZ_DONE(p);
    err = pai_jobspec_parse(p, j, &spec);
    if (!err) {
        /* What the launcher relies on for an accepted config. */
        if (!spec || !spec->roles || spec->roles->nelts < 1 || spec->total_tasks < 1 ||
            !pai_job_name_valid(spec->job_name) || !spec->normalized)
            abort();
        pai_json_dump(p, spec->normalized);
    }
    FUZZ_DONE(p);
}

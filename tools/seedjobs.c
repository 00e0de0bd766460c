/* Seeds a mod_pairest database with a history of completed jobs through the
 * store layer (the benchmark's fixture):  seedjobs DRIVER PARAMS COUNT [FIRST]
 * e.g. seedjobs sqlite3 var/bench/db/pairest.db 100000; PARAMS "@FILE" reads
 * them from FILE (a MariaDB's, which hold its password: never on a command
 * line).  Names are hist_<n>,
 * owners histuser_<n % 100>, newest last; running it again adds FIRST.. on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_dbd.h>
#include "core/store.h"

static const char config_json[] =
    "{\"jobName\":\"%s\",\"image\":\"debian:12\",\"virtualCluster\":\"default\","
    "\"retryCount\":0,\"taskRoles\":[{\"name\":\"main\",\"taskNumber\":1,\"cpuNumber\":1,"
    "\"memoryMB\":128,\"shmMB\":64,\"gpuNumber\":0,\"portList\":[],\"command\":\"true\"}]}";

int main(int argc, char **argv)
{
    apr_pool_t *root, *conn, *p;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    pai_db db;
    pai_error *e;
    long count, first, i;
    const char *params;
    apr_int64_t now;

    if (argc < 4) {
        fprintf(stderr, "usage: seedjobs DRIVER PARAMS COUNT [FIRST]\n");
        return 2;
    }
    count = atol(argv[3]);
    first = argc > 4 ? atol(argv[4]) : 0;
    apr_initialize();
    apr_pool_create(&root, NULL);
    apr_pool_create(&conn, root);
    apr_dbd_init(root);
    params = argv[2];
    if (*params == '@') {
        char buf[1024];
        FILE *f = fopen(params + 1, "r");
        if (!f || !fgets(buf, sizeof(buf), f)) {
            fprintf(stderr, "seedjobs: cannot read %s\n", params + 1);
            return 1;
        }
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        params = apr_pstrdup(root, buf);
    }
    if (apr_dbd_get_driver(root, argv[1], &driver) != APR_SUCCESS ||
        apr_dbd_open(driver, conn, params, &handle) != APR_SUCCESS) {
        fprintf(stderr, "seedjobs: cannot open %s database %s\n", argv[1], argv[2]);
        return 1;
    }
    /* Every field this tool does not use (the answer cache's epoch) stays NULL. */
    memset(&db, 0, sizeof(db));
    db.driver = driver;
    db.handle = handle;
    db.prepared = apr_hash_make(conn);
    db.conn_pool = conn;
    db.write_lock = NULL;
    db.in_tx = 0;
    db.deadlocked = 0;
    if ((e = pai_store_init(&db, conn))) {
        fprintf(stderr, "seedjobs: %s\n", e->message);
        return 1;
    }
    now = apr_time_as_msec(apr_time_now());
    apr_pool_create(&p, root);
    /* A thousand rows a transaction: one fsync each, not one a row. */
    for (i = first; i < first + count; i++) {
        static apr_dbd_transaction_t *tx;
        pai_job_row j = {0};

        if ((i - first) % 1000 == 0) {
            apr_pool_clear(p);
            tx = NULL;
            apr_dbd_transaction_start(driver, p, handle, &tx);
        }
        j.name = apr_psprintf(p, "hist_%ld", i);
        j.username = apr_psprintf(p, "histuser_%ld", i % 100);
        j.vc = "default";
        j.state = "SUCCEEDED";
        j.sub_state = "COMPLETED";
        j.execution_type = "START";
        j.launcher_id = 1000000 + i;
        j.host = "127.0.0.1";
        /* One a second up to now, so that newer seeds sort first. */
        j.created = now - (first + count - i) * 1000;
        j.submitted = j.created;
        j.launched = j.created + 500;
        j.completed = j.created + 900;
        j.has_exit = 1;
        j.diagnostics = "";
        j.cpus = 1;
        j.memory_mb = 128;
        j.config = apr_psprintf(p, config_json, j.name);
        if ((e = pai_store_job_insert(&db, p, &j))) {
            fprintf(stderr, "seedjobs: %s: %s\n", j.name, e->message);
            return 1;
        }
        if (((i - first) % 1000 == 999 || i == first + count - 1) &&
            apr_dbd_transaction_end(driver, p, tx) != 0) {
            fprintf(stderr, "seedjobs: commit failed at %s\n", j.name);
            return 1;
        }
    }
    apr_dbd_close(driver, handle);
    apr_terminate();
    return 0;
}

"""PaiReadAccess per location: `public` (OpenPAI's anonymous reads, the
default), `users` (a valid token for every read) and `owner` (also: a job's
config and SSH info only to its owner and admins; a user's job list holds
their own jobs).  Each mode is a server of its own on the suite's database,
its /api/v1 location set through PAI_HTTPD_INCLUDE; every read endpoint is
called by nobody, the job's owner, another user and an admin."""
import os
import shutil

import pytest

from conftest import VAR, Api, base_url, sh

PORTS = {"users": 19270, "owner": 19271}


def start(api, mode):
    inst = os.path.join(VAR, "test-%s-read-%s" % (api.backend, mode))
    sh("scripts/httpd.sh", "stop", inst)
    shutil.rmtree(inst, ignore_errors=True)
    os.makedirs(inst)
    for f in ("admin.password", "jwt.secret"):
        shutil.copy2(os.path.join(api.instdir, f), os.path.join(inst, f))
    include = os.path.join(inst, "read.conf")
    with open(include, "w") as f:
        f.write("<Location /api/v1>\n    PaiReadAccess %s\n</Location>\n" % mode)
    port = PORTS[mode] + (0 if api.backend == "sqlite3" else 2)
    env = dict(api.env, PAI_LISTEN="127.0.0.1:%d" % port, PAI_HTTPD_INCLUDE=include)
    if api.backend == "sqlite3":
        # The suite's own database (servers on one SQLite file share its lease).
        env["PAI_DB_PARAMS"] = os.path.join(api.statedir, "db", "pairest.db")
    sh("scripts/httpd.sh", "start", inst, env=env)
    return Api(api.backend, base_url(port), api.admin_password, inst,
               api.statedir)


@pytest.fixture(scope="module")
def world(api):
    owner_name, owner = api.make_user()
    _, other = api.make_user()
    name = api.unique("readjob")
    r = api.call("POST", "/api/v1/jobs", owner, json={
        "jobName": name, "image": "x", "jobEnvs": {"SECRET_ISH": "only-the-owner"},
        "taskRoles": [{"name": "w", "taskNumber": 1, "cpuNumber": 1, "memoryMB": 64,
                       "command": "true"}]})
    assert r.status_code == 201, r.text
    servers = {mode: start(api, mode) for mode in PORTS}
    yield {"job": name, "owner": owner_name,
           "tokens": {"nobody": None, "owner": owner, "other": other,
                      "admin": api.admin_token},
           "servers": servers}
    for srv in servers.values():
        sh("scripts/httpd.sh", "stop", srv.instdir)


READS = ["/api/v1/jobs", "/api/v1/jobs/{job}", "/api/v1/jobs/{job}/config",
         "/api/v1/jobs/{job}/ssh", "/api/v1/virtual-clusters",
         "/api/v1/virtual-clusters/default"]

# mode -> caller -> status of each read, in READS' order.
MATRIX = {
    "public": {"nobody": [200] * 6, "owner": [200] * 6, "other": [200] * 6,
               "admin": [200] * 6},
    "users": {"nobody": [401] * 6, "owner": [200] * 6, "other": [200] * 6,
              "admin": [200] * 6},
    "owner": {"nobody": [401] * 6, "owner": [200] * 6,
              "other": [200, 200, 403, 403, 200, 200], "admin": [200] * 6},
}


@pytest.mark.parametrize("mode", ["public", "users", "owner"])
def test_every_read_for_every_caller(api, world, mode):
    srv = api if mode == "public" else world["servers"][mode]
    got = {}
    for caller, token in world["tokens"].items():
        got[caller] = [srv.call("GET", p.format(job=world["job"]), token).status_code
                       for p in READS]
    assert got == MATRIX[mode], got
    for caller in ("nobody", "other"):
        r = srv.call("GET", "/api/v1/jobs/%s/config" % world["job"], world["tokens"][caller])
        if r.status_code != 200:
            assert r.headers["Content-Type"].startswith("application/json")
            assert set(r.json()) == {"error", "message"}, r.text
            assert "only-the-owner" not in r.text


def test_owner_mode_covers_the_routes_under_a_user(api, world):
    """v0.8's /user/:username/jobs routes follow the same rules."""
    srv = world["servers"]["owner"]
    base = "/api/v1/user/%s/jobs" % world["owner"]
    paths = [base, "%s/%s" % (base, world["job"]), "%s/%s/config" % (base, world["job"]),
             "%s/%s/ssh" % (base, world["job"])]
    expect = {"nobody": [401] * 4, "owner": [200] * 4, "other": [200, 200, 403, 403],
              "admin": [200] * 4}
    got = {caller: [srv.call("GET", p, token).status_code for p in paths]
           for caller, token in world["tokens"].items()}
    assert got == expect, got
    # Another user's list under the owner holds nothing.
    assert srv.call("GET", base, world["tokens"]["other"]).json() == []
    assert world["job"] in [j["name"] for j in srv.call("GET", base, world["tokens"]["owner"]).json()]


def test_owner_mode_lists_a_users_own_jobs(api, world):
    srv = world["servers"]["owner"]
    tok = world["tokens"]
    names = lambda token, q="": [j["name"] for j in  # noqa: E731
                                 srv.call("GET", "/api/v1/jobs" + q, token).json()]
    assert world["job"] in names(tok["owner"])
    assert world["job"] in names(tok["admin"], "?username=" + world["owner"])
    assert world["job"] not in names(tok["other"])
    # Asking for the owner's jobs by name does not widen another user's view.
    assert world["job"] not in names(tok["other"], "?username=" + world["owner"])

"""PAI tokens in httpd's own auth phases: a site protects anything the server
serves with `AuthType pai-bearer` and `Require pai-user|pai-admin|
pai-job-owner`, composed with httpd's own rules (here, static files added
through PAI_HTTPD_INCLUDE: conftest.write_site_include)."""
import os
import subprocess
import time

from conftest import ROOT, TEAM_USER, sh


def get(api, path, token=None):
    return api.call("GET", path, token)


def submit_true(api, token, prefix):
    """A one-task job of the token's user; its name."""
    name = api.unique(prefix)
    r = api.call("POST", "/api/v1/jobs", token, json={
        "jobName": name, "image": "x",
        "taskRoles": [{"name": "w", "taskNumber": 1, "cpuNumber": 1, "memoryMB": 64,
                       "command": "true"}]})
    assert r.status_code == 201, r.text
    return name


def test_require_pai_admin(api):
    _, user = api.make_user()
    r = get(api, "/private/hello.txt")
    assert r.status_code == 401, r.status_code
    assert r.headers["WWW-Authenticate"].startswith("Bearer realm=\"pai\"")
    assert get(api, "/private/hello.txt", "not-a-token").status_code == 401
    assert get(api, "/private/hello.txt", user).status_code == 403
    r = get(api, "/private/hello.txt", api.admin_token)
    assert r.status_code == 200 and r.text == "hello from a protected folder\n"
    # The identity reaches what else the request runs (here mod_headers).
    assert r.headers["X-PAI-User"] == "admin/1", r.headers


def test_require_pai_user_by_name(api):
    r = api.call("PUT", "/api/v1/user", api.admin_token,
                 json=dict(username=TEAM_USER, password="secret123", admin=False, modify=False))
    assert r.status_code == 201, r.text
    alice = api.login(TEAM_USER, "secret123")
    _, other = api.make_user()
    assert get(api, "/team/hello.txt").status_code == 401
    assert get(api, "/team/hello.txt", other).status_code == 403
    assert get(api, "/team/hello.txt", api.admin_token).status_code == 403
    assert get(api, "/team/hello.txt", alice).status_code == 200
    # an application token is for the job routes: it opens nothing else
    app = api.call("POST", "/api/v2/tokens/application", alice).json()["token"]
    assert get(api, "/team/hello.txt", app).status_code == 401


def test_require_composes_with_httpd_rules(api):
    """RequireAll of pai-admin and an address range this client is outside."""
    assert get(api, "/ops/hello.txt", api.admin_token).status_code == 403
    # The address alone refuses: httpd asks for no token it could not accept.
    assert get(api, "/ops/hello.txt").status_code == 403


def test_require_pai_job_owner(api):
    _, owner = api.make_user()
    _, other = api.make_user()
    name = submit_true(api, owner, "owned")
    path = "/owned/jobs/%s/hello.txt" % name
    assert get(api, path).status_code == 401
    assert get(api, path, other).status_code == 403
    assert get(api, path, owner).status_code == 200
    assert get(api, path, api.admin_token).status_code == 200
    # A job nobody has, or a name that is no job name: no one but admins.
    assert get(api, "/owned/jobs/no-such-job-%s/hello.txt" % name, owner).status_code == 403


def test_the_access_log_names_the_pai_user(api):
    name, token = api.make_user()
    path = "/api/v1/jobs?marker=%s" % name
    assert get(api, path, token).status_code == 200
    assert get(api, "/private/hello.txt?marker=%s" % name, api.admin_token).status_code == 200
    log = os.path.join(api.instdir, "logs", "access.log")
    deadline = time.time() + 5
    while time.time() < deadline:
        with open(log) as f:
            lines = [l for l in f if "marker=" + name in l]
        if len(lines) == 2:
            break
        time.sleep(0.1)
    assert len(lines) == 2, lines
    assert " %s [" % name in lines[0], lines[0]
    assert " admin [" in lines[1], lines[1]


def test_module_wide_directives_inside_a_virtual_host_stop_startup(api):
    """One database, launcher, sync and set of VCs per server: a vhost's copy
    of a module directive would be half-ignored, so startup stops naming it."""
    srv_dir = os.path.join(os.path.dirname(api.instdir), "test-%s-vhost" % api.backend)
    subprocess.run(["rm", "-rf", srv_dir])
    os.makedirs(srv_dir)
    for f in ("admin.password", "jwt.secret"):
        subprocess.run(["cp", "-p", os.path.join(api.instdir, f), srv_dir], check=True)
    include = os.path.join(srv_dir, "vhost.conf")
    with open(include, "w") as f:
        f.write("Listen 127.0.0.1:19298\n<VirtualHost 127.0.0.1:19298>\n"
                "    PaiSyncInterval 500\n    PaiVirtualCluster vcx 10 10\n</VirtualHost>\n")
    env = dict(api.env, PAI_LISTEN="127.0.0.1:19297", PAI_HTTPD_INCLUDE=include)
    r = subprocess.run(["scripts/httpd.sh", "start", srv_dir], env=env, capture_output=True,
                       text=True, cwd=ROOT)
    try:
        assert r.returncode != 0
        with open(os.path.join(srv_dir, "logs", "error.log")) as f:
            log = f.read()
        assert "PAI0014: mod_pairest's directives are module-wide" in log, log[-2000:]
        assert "PaiSyncInterval (%s:3)" % include in log and "PaiVirtualCluster" in log, log
    finally:
        sh("scripts/httpd.sh", "stop", srv_dir)


def test_job_owner_reads_the_first_job_of_the_path(api):
    """A path that names a job the caller owns after another's is judged by
    the first: appending one's own job grants nothing."""
    _, victim = api.make_user()
    _, attacker = api.make_user()
    names = [submit_true(api, token, "ownedx") for token in (victim, attacker)]
    path = "/owned/jobs/%s/jobs/%s/hello.txt" % tuple(names)
    assert get(api, path, attacker).status_code == 403
    assert get(api, path, victim).status_code in (200, 404)


def test_a_require_under_the_api_answers_in_its_json(api):
    """A Require pai-* added under /api/v1 applies on top of the route's own
    rule; its refusal is the API's JSON, a bad token's saying why."""
    from conftest import assert_error
    path = "/api/v1/jobs/require-user"
    assert_error(api.call("GET", path), 401, "UnauthorizedUserError")
    body = assert_error(api.call("GET", path, "not-a-token"), 401, "UnauthorizedUserError")
    assert "authentication is required" not in body["message"], body
    _, token = api.make_user()
    assert_error(api.call("GET", path, token), 404, "JobNotFound")


def test_a_bad_token_on_the_api_is_answered_and_audited_by_the_route(api):
    """/api/v1 sets AuthType pai-bearer: the access phase checks the token,
    and a bad one on an open route is still the route's JSON 401 (audited)."""
    from conftest import assert_error
    r = api.call("GET", "/api/v1/jobs", "not-a-token")
    assert_error(r, 401, "UnauthorizedUserError")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    name = api.unique("badtok")
    r = api.call("POST", "/api/v1/jobs", "not-a-token", json={"jobName": name})
    assert_error(r, 401, "UnauthorizedUserError")
    rows = api.call("GET", "/api/v1/audit", api.admin_token,
                    params={"action": "job.submit", "limit": 200}).json()
    assert any(a["target"] == name and a["status"] == 401 for a in rows), rows

"""Black-box fixtures: a real httpd with mod_pairest per database backend.

Each backend gets its own instance folder under var/, a fresh database, and an
error log that must hold no crash or unexpected module error at the end."""
import itertools
import os
import re
import secrets
import shutil
import subprocess

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VAR = os.path.join(ROOT, "var")
# PAI_TEST_PORT_SHIFT moves the api fixture's servers (httpd, Slurm, MariaDB),
# so that a second clone can run a few of its tests beside a running suite.
SHIFT = int(os.environ.get("PAI_TEST_PORT_SHIFT", "0"))
PORTS = {"sqlite3": 19186 + SHIFT, "mysql": 19187 + SHIFT}
SLURM_PORTS = {"sqlite3": 26817 + SHIFT, "mysql": 27817 + SHIFT}
# vc1 may borrow idle room; vc2 is capped at its share; `default` gets the rest.
VIRTUAL_CLUSTERS = "vc1 25 100; vc2 50 50"
MARIADB_PORT = 13306 + SHIFT
# Failed logins allowed per window: one user from one address; one address.
LOGIN_LIMIT_USER = "4 30"
LOGIN_LIMIT_ADDRESS = "25 30"
ADMIN = "admin"
# The one user `Require pai-user` names in the suite's included configuration.
TEAM_USER = "team_alice"
# An error-log line that means something broke, whatever the test expected.
BAD_LOG = re.compile(r"exit signal|AH00052|AH00060|Segmentation|\[pairest:(crit|alert|emerg)\]")
# PAI_TLS=1 (`make test-tls`): every server the suite starts serves https with
# a certificate of this clone's CA (scripts/tls.sh), which every client here
# trusts and nothing else: requests, curl and http.client verify it.
TLS = os.environ.get("PAI_TLS") == "1"
SCHEME = "https" if TLS else "http"
TLS_CA = os.path.join(VAR, "tls", "ca.crt")
if TLS:
    os.environ["REQUESTS_CA_BUNDLE"] = TLS_CA
    os.environ["CURL_CA_BUNDLE"] = TLS_CA


def base_url(port, host="127.0.0.1"):
    """The URL of a server the suite started."""
    return "%s://%s:%d" % (SCHEME, host, port)


def http_connection(host, port, **kw):
    """An http.client connection to a server of the suite (TLS or not)."""
    import http.client
    if TLS:
        import ssl
        return http.client.HTTPSConnection(host, port, context=ssl.create_default_context(
            cafile=TLS_CA), **kw)
    return http.client.HTTPConnection(host, port, **kw)


def pytest_configure(config):
    config.addinivalue_line("markers", "mysql_only: runs against the MariaDB instance only")


def pytest_collection_modifyitems(config, items):
    """A mysql_only test is not collected for SQLite at all (not skipped)."""
    keep, drop = [], []
    for item in items:
        param = getattr(getattr(item, "callspec", None), "params", {}).get("api")
        (drop if item.get_closest_marker("mysql_only") and param == "sqlite3" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def sh(*args, env=None):
    subprocess.run(args, check=True, env=env, cwd=ROOT)


class Api:
    """Calls the API; knows the admin's password and makes throw-away users."""

    _seq = itertools.count(1)

    def __init__(self, backend, base, admin_password, instdir, statedir):
        self.backend = backend
        self.statedir = statedir
        self.slurmdir = os.path.join(statedir, "slurm")
        self.base = base
        self.admin_password = admin_password
        self.instdir = instdir
        self.session = requests.Session()
        self._admin_token = None

    def url(self, path):
        return self.base + path

    def call(self, method, path, token=None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = "Bearer " + token
        return self.session.request(method, self.url(path), headers=headers, timeout=30, **kw)

    def login(self, username, password, **extra):
        r = self.call("POST", "/api/v1/token",
                      json=dict(username=username, password=password, **extra))
        assert r.status_code == 200, r.text
        return r.json()["token"]

    @property
    def admin_token(self):
        if not self._admin_token:
            self._admin_token = self.login(ADMIN, self.admin_password)
        return self._admin_token

    def unique(self, prefix="u"):
        return "%s_%d_%s" % (prefix, next(self._seq), secrets.token_hex(3))

    def make_user(self, admin=False, password="secret123"):
        name = self.unique("admin" if admin else "user")
        r = self.call("PUT", "/api/v1/user", self.admin_token,
                      json=dict(username=name, password=password, admin=admin, modify=False))
        assert r.status_code == 201, r.text
        return name, self.login(name, password)


def fresh_instance(inst, password):
    """An empty instance folder holding only the admin's password file (an
    httpd of it that still runs is stopped first)."""
    if os.path.isdir(inst):
        sh("scripts/httpd.sh", "stop", inst)
    shutil.rmtree(inst, ignore_errors=True)
    os.makedirs(inst)
    with open(os.path.join(inst, "admin.password"), "w") as f:
        f.write(password + "\n")
    os.chmod(os.path.join(inst, "admin.password"), 0o600)
    return inst


class OwnServer:
    """A server a test module starts for itself (its own instance folder,
    Slurm and port): calls as its admin, and waits for a job's state."""

    def __init__(self, inst, statedir, password, port):
        self.inst, self.statedir, self.password = inst, statedir, password
        self.slurmdir = os.path.join(statedir, "slurm")
        self.base = base_url(port)
        self.token = None

    def call(self, method, path, **kw):
        headers = kw.pop("headers", {})
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        return requests.request(method, self.base + path, headers=headers, timeout=30, **kw)

    def state(self, name, states, timeout=60):
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.call("GET", "/api/v1/jobs/" + name).json()
            if st["state"] in states:
                return st
            time.sleep(0.2)
        raise AssertionError("%s never reached %s: %s" % (name, states, st))


def mariadb_dir():
    """The test MariaDB's folder: the state folder of var/test-mariadb, which
    the mysql account reaches even when the clone sits in a closed folder."""
    return state_dir(os.path.join(VAR, "test-mariadb"))


def job_dir(api, name, attempt=0, account="paijob"):
    """A job attempt's folder: <jobs>/<account>/<job>/attempt-<n>."""
    return os.path.join(api.statedir, "jobs", account, name, "attempt-%d" % attempt)


def mariadb_client(*args):
    """The command line of MariaDB's client on the tests' database, as root."""
    return ["mariadb", "--no-defaults", "--socket=" + os.path.join(mariadb_dir(), "mysqld.sock"),
            "-u", "root", "-N"] + list(args) + ["pairest"]


def db_query(api, sql):
    """One value (or rows, tab-separated) from the instance's database."""
    if api.backend == "sqlite3":
        cmd = ["sqlite3", "-batch", os.path.join(api.statedir, "db", "pairest.db"), sql]
    else:
        cmd = mariadb_client("-e", sql)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def start_mariadb():
    d = mariadb_dir()
    sh("scripts/mariadb.sh", "start", d, str(MARIADB_PORT))
    # A fresh database for every run.
    sh("mariadb", "--no-defaults", "--socket=" + os.path.join(d, "mysqld.sock"), "-u", "root",
       "-e", "DROP DATABASE IF EXISTS pairest; CREATE DATABASE pairest "
             "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;")
    with open(os.path.join(d, "dbdparams")) as f:
        return d, f.read().strip()


def crash_report(statedir):
    """The backtraces of the cores crashed children left (scripts/httpd.sh's
    CoreDumpDirectory), so that a crash seen once, in CI say, can be explained."""
    out = []
    cores = os.path.join(statedir, "cores")
    for name in sorted(os.listdir(cores)) if os.path.isdir(cores) else []:
        path = os.path.join(cores, name)
        if not shutil.which("gdb"):
            out.append("core %s (no gdb here to read it)\n" % path)
            continue
        bt = subprocess.run(["gdb", "-batch", "-nx", "-ex", "thread apply all bt",
                             "/usr/sbin/apache2", path], capture_output=True, text=True,
                            timeout=120)
        out.append("core %s:\n%s\n" % (path, bt.stdout[-20000:]))
    return "".join(out)


def state_dir(inst):
    return subprocess.run(["scripts/statedir.sh", inst], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="session", params=["sqlite3", "mysql"])
def api(request):
    backend = request.param
    inst = os.path.join(VAR, "test-" + backend)
    statedir = state_dir(inst)
    slurmdir = os.path.join(statedir, "slurm")
    # A fresh instance: nothing of an earlier run survives.
    sh("scripts/httpd.sh", "stop", inst)
    sh("scripts/slurm.sh", "stop", slurmdir)
    shutil.rmtree(inst, ignore_errors=True)
    shutil.rmtree(statedir, ignore_errors=True)
    os.makedirs(inst)
    # A folder made anew has a state folder of its own (statedir.sh).
    statedir = state_dir(inst)
    slurmdir = os.path.join(statedir, "slurm")
    password = secrets.token_urlsafe(12)
    with open(os.path.join(inst, "admin.password"), "w") as f:
        f.write(password + "\n")
    os.chmod(os.path.join(inst, "admin.password"), 0o600)
    env = dict(os.environ, PAI_LISTEN="127.0.0.1:%d" % PORTS[backend], PAI_DB=backend,
               PAI_ADMIN_USERNAME=ADMIN, PAI_SLURM_DIR=slurmdir,
               PAI_JOBS_DIR=os.path.join(statedir, "jobs"),
               PAI_SLURM_PORT=str(SLURM_PORTS[backend]), PAI_VIRTUAL_CLUSTERS=VIRTUAL_CLUSTERS,
               PAI_LOGIN_LIMIT_USER=LOGIN_LIMIT_USER, PAI_LOGIN_LIMIT_ADDRESS=LOGIN_LIMIT_ADDRESS,
               PAI_SLURM_TEST_HOLD="1",
               # The API suite's jobs run on the node; test_containers.py runs
               # its own server with containers.
               PAI_CONTAINER_RUNTIME="none")
    dbdir = None
    # Whatever happens (a start that fails included), what was started stops.
    try:
        sh("scripts/slurm.sh", "start", slurmdir, env=env)
        if backend == "mysql":
            dbdir, params = start_mariadb()
            env["PAI_DB_PARAMS"] = params
        env["PAI_HTTPD_INCLUDE"] = write_site_include(inst, statedir)
        sh("scripts/httpd.sh", "start", inst, env=env)
        assert_sanitized(inst)
        a = Api(backend, base_url(PORTS[backend]), password, inst, statedir)
        a.env = env
        yield a
    finally:
        sh("scripts/httpd.sh", "stop", inst)
        sh("scripts/slurm.sh", "stop", slurmdir)
        if backend == "mysql":
            sh("scripts/mariadb.sh", "stop", mariadb_dir())
    with open(os.path.join(inst, "logs", "error.log")) as f:
        bad = [line for line in f if BAD_LOG.search(line)]
    assert not bad, "error log of %s:\n%s%s" % (backend, "".join(bad), crash_report(statedir))


def write_site_include(inst, statedir):
    """What a site adds through PAI_HTTPD_INCLUDE: static files and a job
    path protected by PAI tokens through httpd's Require (test_httpd_auth.py).
    The files sit in the state folder, which httpd's workers reach."""
    static = os.path.join(statedir, "static")
    os.makedirs(static, exist_ok=True)
    with open(os.path.join(static, "hello.txt"), "w") as f:
        f.write("hello from a protected folder\n")
    os.chmod(static, 0o755)
    os.chmod(os.path.join(static, "hello.txt"), 0o644)
    path = os.path.join(inst, "site.conf")
    with open(path, "w") as f:
        f.write("""LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
Alias /private "{static}"
Alias /team "{static}"
Alias /ops "{static}"
AliasMatch "^/owned/jobs/[^/]+/(.*)$" "{static}/$1"
<Location /private>
    AuthType pai-bearer
    AuthzSendForbiddenOnFailure On
    Require pai-admin
    # What the auth phase proved, for what else the request runs.
    Header always set X-PAI-User "%{{PAI_USER}}e/%{{PAI_ADMIN}}e"
</Location>
# The webhook receivers of test_webhooks.py listen on this address.
PaiWebhookAllow 127.0.0.1/32
# A body limit of one location only (test_http.py).
<LocationMatch "^/api/v1/user/[^/]+/virtualClusters$">
    PaiBodyLimit 2048
</LocationMatch>
<Location /api/v1/jobs/require-user>
    Require pai-user
</Location>
<Location /team>
    AuthType pai-bearer
    AuthzSendForbiddenOnFailure On
    Require pai-user {team}
</Location>
<Location /ops>
    AuthType pai-bearer
    AuthzSendForbiddenOnFailure On
    <RequireAll>
        Require pai-admin
        Require ip 10.0.0.0/8
    </RequireAll>
</Location>
<Location /owned>
    AuthType pai-bearer
    AuthzSendForbiddenOnFailure On
    Require pai-job-owner
</Location>
""".format(static=static, team=TEAM_USER))
    return path


def assert_sanitized(inst):
    """Under `make test SAN=1`, prove the sanitized module is what httpd runs."""
    if not os.environ.get("SAN_PRELOAD"):
        return
    with open(os.path.join(inst, "httpd.pid")) as f:
        pid = f.read().strip()
    with open("/proc/%s/maps" % pid) as f:
        maps = f.read()
    assert "libasan" in maps and os.environ["PAI_MODULE"] in maps, "httpd runs without ASan"


def assert_error(r, status, name, message_part=None, key="error"):
    """Every error is JSON {"error","message"} with the given status (on
    /api/v2, key="code": v1.8's {"code","message"})."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {key, "message"}, body
    assert body[key] == name, body
    assert isinstance(body["message"], str) and body["message"]
    if message_part:
        assert message_part in body["message"], body
    return body

"""Brute force and the audit log: failed logins are limited per user and address
(across httpd's processes, in the database), and every state-changing call is
recorded for admins to read."""
import json
import os
import signal
import time

from conftest import ADMIN, assert_error, http_connection
from test_jobs import job, submit_ok, wait_state


def login_from(api, address, username, password):
    """POST /token from a chosen loopback source address."""
    port = int(api.base.rsplit(":", 1)[1])
    conn = http_connection("127.0.0.1", port, source_address=(address, 0), timeout=30)
    try:
        conn.request("POST", "/api/v1/token", body=json.dumps(
            {"username": username, "password": password}),
            headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(resp.read())
    finally:
        conn.close()


def replace_children(api):
    """A graceful restart: every child process is replaced by a new one."""
    with open(os.path.join(api.instdir, "httpd.pid")) as f:
        os.kill(int(f.read()), signal.SIGUSR1)
    time.sleep(1.5)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if api.call("GET", "/api/v1/virtual-clusters").status_code == 200:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError("httpd did not come back after a graceful restart")


def test_failed_logins_limited_per_user_and_address(api):
    user, _ = api.make_user()
    other, _ = api.make_user()
    # 4 failures per user and address in 30 s (conftest); the count lives in
    # the database, so new processes in the middle do not reset it.
    for i in range(4):
        status, _, body = login_from(api, "127.0.0.2", user, "wrong-%d" % i)
        assert status == 401 and body["error"] == "AuthenticationFailed", body
        if i == 1:
            replace_children(api)
    status, headers, body = login_from(api, "127.0.0.2", user, "secret123")
    assert status == 429, body
    assert body["error"] == "TooManyRequestsError" and set(body) == {"error", "message"}
    assert "try again in" in body["message"]
    assert 1 <= int(headers["retry-after"]) <= 30
    # not the same user from another address, nor another user from this one
    assert login_from(api, "127.0.0.3", user, "secret123")[0] == 200
    assert login_from(api, "127.0.0.2", other, "secret123")[0] == 200
    # a success elsewhere does not lift the limit where the attack came from
    assert login_from(api, "127.0.0.2", user, "secret123")[0] == 429


def test_failed_logins_limited_per_address(api):
    user, _ = api.make_user()
    # 25 failures from one address in 30 s, whatever the names (real or not)
    for i in range(25):
        status, _, body = login_from(api, "127.0.0.4", api.unique("ghost"), "whatever")
        assert status == 401, body
    status, headers, body = login_from(api, "127.0.0.4", user, "secret123")
    assert status == 429 and body["error"] == "TooManyRequestsError", body
    assert int(headers["retry-after"]) >= 1
    assert login_from(api, "127.0.0.5", user, "secret123")[0] == 200


def audit(api, **query):
    r = api.call("GET", "/api/v1/audit", api.admin_token, params=query)
    assert r.status_code == 200, r.text
    return r.json()


def test_audit_log_records_state_changes(api):
    user, tok = api.make_user(password="pw-secret-77")
    r = api.call("PUT", "/api/v1/user/%s/virtualClusters" % user, api.admin_token,
                 json={"virtualClusters": "vc1"})
    assert r.status_code == 201, r.text
    assert login_from(api, "127.0.0.6", user, "not-it")[0] == 401
    name = submit_ok(api, tok, job(api.unique("audited"), "sleep 60", virtualCluster="vc1"))
    wait_state(api, name, {"RUNNING"})
    r = api.call("PUT", "/api/v1/jobs/%s/executionType" % name, tok, json={"value": "STOP"})
    assert r.status_code == 200, r.text
    r = api.call("PUT", "/api/v1/jobs/%s/executionType" % name, api.login(*_other(api)),
                 json={"value": "START"})
    assert r.status_code == 403

    mine = audit(api, username=user, limit=50)
    seen = [(a["action"], a["target"], a["status"]) for a in mine]
    assert ("job.submit", name, 201) in seen, seen
    assert ("job.executionType", name, 200) in seen, seen
    stop = [a for a in mine if a["action"] == "job.executionType"][0]
    assert stop["detail"] == "STOP" and stop["address"] == "127.0.0.1" and stop["username"] == user
    assert abs(stop["time"] / 1000 - time.time()) < 120
    # by the admin: the user made and granted; by nobody: the failed login
    admin_rows = audit(api, username=ADMIN, limit=200)
    assert ("user.put", user, 201) in [(a["action"], a["target"], a["status"]) for a in admin_rows]
    grant = [a for a in admin_rows if a["action"] == "user.virtualClusters" and a["target"] == user]
    assert grant and grant[0]["detail"] == "vc1"
    failed = [a for a in audit(api, action="token.issue", limit=200)
              if a["target"] == user and a["address"] == "127.0.0.6"]
    assert failed and failed[0]["status"] == 401 and failed[0]["username"] == ""
    assert failed[0]["detail"].startswith("AuthenticationFailed")
    # refusals are recorded too, with who tried
    refused = [a for a in audit(api, action="job.executionType", limit=200)
               if a["target"] == name and a["status"] == 403]
    assert refused and refused[0]["username"] != user
    # no password ever reaches the log
    everything = json.dumps(audit(api, limit=1000))
    assert "pw-secret-77" not in everything and "not-it" not in everything


_others = {}


def _other(api):
    if api.backend not in _others:
        _others[api.backend] = (api.make_user()[0], "secret123")
    return _others[api.backend]


def test_audit_paging_and_access(api):
    for _ in range(3):
        api.make_user()
    first = audit(api, limit=2)
    second = audit(api, limit=2, offset=2)
    assert len(first) == 2 and len(second) == 2
    ids = [a["id"] for a in first + second]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    assert set(first[0]) == {"id", "time", "username", "address", "action", "target",
                             "status", "detail", "repeats"}
    assert_error(api.call("GET", "/api/v1/audit", params={"limit": 0}, token=api.admin_token),
                 400, "InvalidParametersError", "limit")
    assert_error(api.call("GET", "/api/v1/audit", params={"username": "a'b"},
                          token=api.admin_token), 400, "InvalidParametersError")
    user, tok = api.make_user()
    assert_error(api.call("GET", "/api/v1/audit", tok), 401, "NotAuthorized")
    assert_error(api.call("GET", "/api/v1/audit"), 401, "UnauthorizedUserError")

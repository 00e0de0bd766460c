"""Hostile requests, each with its expected 4xx JSON error, and the
authorization matrix of every endpoint.  The fixture then checks the error log:
no httpd child may have died."""
import json

import pytest

from conftest import ADMIN, assert_error
from test_jobs import job, submit_ok

ROLE = {"name": "r", "command": "true"}


def hostile_cases(api):
    t = api.admin_token
    big = 99999999999999999999999
    J = lambda **kw: json.dumps(job(api.unique("h"), **kw))          # noqa: E731
    R = lambda **kw: json.dumps(job(api.unique("h"), taskRoles=[dict(ROLE, **kw)]))  # noqa: E731
    return [
        # (method, path, token, raw body, content type, status, error)
        ("POST", "/api/v1/jobs", t, "{" * 10000, None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, "[" * 10000 + "]" * 10000, None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, b'{"jobName": "\xc3\x28"}', None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, '{"jobName": "a\\u0000b"}', None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(jobName="a'; DROP TABLE pai_jobs;--"), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(jobName="../../etc/passwd"), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(jobName=".."), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(virtualCluster="vc1' OR '1'='1"), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(virtualCluster="../vc1"), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, R(taskNumber=big), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, R(cpuNumber=-1), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, R(memoryMB=1.5), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, R(gpuNumber=-9223372036854775808), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, R(memoryMB=9223372036854775807), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, '{"jobName": "a", "jobName": "b"}', None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(jobName=5), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(taskRoles={}), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, R(command=["rm", "-rf"]), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, R(name=None), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, R(portList="ssh"), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, R(portList=[{"label": "x", "beginAt": -1}]), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(jobEnvs={"PATH": 1}), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(jobEnvs={"A B": "x"}), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(retryCount="3"), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, J(admin=True), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, "true", None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, "", None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs", t, "x" * (1024 * 1024 + 1), None, 413, "RequestEntityTooLargeError"),
        ("PUT", "/api/v1/user", t, json.dumps({"username": "x' OR '1'='1", "password": "secret123"}), None, 400, "InvalidParametersError"),
        ("PUT", "/api/v1/user", t, json.dumps({"username": "../root", "password": "secret123"}), None, 400, "InvalidParametersError"),
        ("PUT", "/api/v1/user", t, json.dumps({"username": "ok_name", "password": "a\u0000bcdefg"}), None, 400, "InvalidParametersError"),
        ("PUT", "/api/v1/user", t, json.dumps({"username": ["x"], "password": "secret123"}), None, 400, "InvalidParametersError"),
        ("PUT", "/api/v1/user", t, json.dumps({"username": "ok_name", "password": "p" * 300}), None, 400, "InvalidParametersError"),
        ("PUT", "/api/v1/user/x';--/virtualClusters", t, json.dumps({"virtualClusters": "default"}), None, 400, "InvalidParametersError"),
        ("PUT", "/api/v1/user/%s/virtualClusters" % ADMIN, t, json.dumps({"virtualClusters": "vc1;DROP"}), None, 400, "InvalidParametersError"),
        ("DELETE", "/api/v1/user", t, json.dumps({"username": {"$ne": 1}}), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/token", None, "username=%ff&password=x", "application/x-www-form-urlencoded", 400, "InvalidParametersError"),
        ("POST", "/api/v1/token", None, "username=a%00b&password=x", "application/x-www-form-urlencoded", 400, "InvalidParametersError"),
        ("POST", "/api/v1/token", None, json.dumps({"username": ADMIN, "password": "x", "expiration": big}), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/token", None, json.dumps({"username": ADMIN, "password": "x", "expiration": -60}), None, 400, "InvalidParametersError"),
        ("GET", "/api/v1/jobs/..%2F..%2Fetc%2Fpasswd", None, None, None, 404, "JobNotFound"),
        ("GET", "/api/v1/jobs/..%2F..%2Fetc%2Fpasswd/config", None, None, None, 404, "JobNotFound"),
        ("GET", "/api/v1/jobs/x'%20OR%20'1'='1", None, None, None, 404, "JobNotFound"),
        ("GET", "/api/v1/virtual-clusters/..", None, None, None, 404, "NotFoundError"),
        ("GET", "/api/v1/virtual-clusters/vc1%27--", None, None, None, 404, "VirtualClusterNotFound"),
        ("GET", "/api/v1/jobs?username=x'%20OR%201=1", None, None, None, 400, "InvalidParametersError"),
        ("PUT", "/api/v1/jobs/x/executionType", t, json.dumps({"value": "START; rm -rf /"}), None, 400, "InvalidParametersError"),
        ("POST", "/api/v1/jobs/x/ssh/report", None, json.dumps({"attempt": 0}), None, 404, "JobNotFound"),
        ("PUT", "/api/v1/user", "a" * 5000, json.dumps({"username": "x", "password": "secret123"}), None, 401, "UnauthorizedUserError"),
    ]


def test_hostile_table(api):
    cases = hostile_cases(api)
    assert len(cases) >= 40
    for method, path, token, body, ctype, status, name in cases:
        headers = {"Content-Type": ctype or "application/json"} if body is not None else {}
        r = api.call(method, path, token, data=body, headers=headers)
        assert r.status_code != 500 and r.status_code < 500, (method, path, r.text)
        try:
            assert_error(r, status, name)
        except AssertionError as e:
            raise AssertionError("%s %s: %s" % (method, path, e))
    # the server still answers normally, and nothing reached the store
    r = api.call("GET", "/api/v1/jobs")
    assert r.status_code == 200
    assert not [j for j in r.json() if "'" in j["name"] or "/" in j["name"]]
    api.login(ADMIN, api.admin_password)


def test_authorization_matrix(api):
    """Every endpoint as {no token, user, other user, admin}: one table."""
    owner, otok = api.make_user()
    other, xtok = api.make_user()
    name = submit_ok(api, otok, job(api.unique("authz"), "sleep 120"))
    victim = lambda: api.make_user()[0]                                # noqa: E731
    # Fresh tokens for every call: a password change (a row below) revokes older ones.
    who = {"none": lambda: None, "user": lambda: api.login(owner, "secret123"),
           "other": lambda: api.login(other, "secret123"), "admin": lambda: api.admin_token}
    rows = [
        # method, path, body (callable for a fresh one), {who: status}
        ("POST", "/api/v1/token", lambda: {"username": owner, "password": "secret123"},
         dict(none=200, user=200, other=200, admin=200)),
        ("PUT", "/api/v1/user", lambda: {"username": owner, "password": "secret123", "modify": True},
         dict(none=401, user=201, other=403, admin=201)),
        ("PUT", "/api/v1/user", lambda: {"username": api.unique(), "password": "secret123"},
         dict(none=401, user=403, other=403, admin=201)),
        ("DELETE", "/api/v1/user", lambda: {"username": victim()},
         dict(none=401, user=401, other=401, admin=200)),
        ("PUT", "/api/v1/user/%s/virtualClusters" % owner, lambda: {"virtualClusters": "default"},
         dict(none=401, user=401, other=401, admin=201)),
        ("GET", "/api/v1/jobs", None, dict(none=200, user=200, other=200, admin=200)),
        ("POST", "/api/v1/jobs", lambda: job(api.unique("m"), "true"),
         dict(none=401, user=201, other=201, admin=201)),
        ("GET", "/api/v1/jobs/" + name, None, dict(none=200, user=200, other=200, admin=200)),
        ("GET", "/api/v1/jobs/%s/config" % name, None, dict(none=200, user=200, other=200, admin=200)),
        ("GET", "/api/v1/jobs/%s/ssh" % name, None, dict(none=200, user=200, other=200, admin=200)),
        ("GET", "/api/v1/jobs/%s/ssh/key" % name, None, dict(none=401, user=200, other=403, admin=200)),
        ("PUT", "/api/v1/jobs/%s/executionType" % name, lambda: {"value": "START"},
         dict(none=401, user=200, other=403, admin=200)),
        ("POST", "/api/v1/jobs/%s/ssh/report" % name, lambda: {"attempt": 0},
         dict(none=403, user=403, other=403, admin=403)),
        ("GET", "/api/v1/virtual-clusters", None, dict(none=200, user=200, other=200, admin=200)),
        ("GET", "/api/v1/virtual-clusters/vc1", None, dict(none=200, user=200, other=200, admin=200)),
        ("GET", "/api/v1/audit", None, dict(none=401, user=401, other=401, admin=200)),
        ("GET", "/api/v1", None, dict(none=200, user=200, other=200, admin=200)),
        ("GET", "/api/v1/user", None, dict(none=401, user=401, other=401, admin=200)),
        # v0.8's routes under the job's owner
        ("GET", "/api/v1/user/%s/jobs" % owner, None, dict(none=200, user=200, other=200, admin=200)),
        ("POST", "/api/v1/user/%s/jobs" % owner, lambda: job(api.unique("n"), "true"),
         dict(none=401, user=201, other=403, admin=403)),
        ("GET", "/api/v1/user/%s/jobs/%s" % (owner, name), None,
         dict(none=200, user=200, other=200, admin=200)),
        ("GET", "/api/v1/user/%s/jobs/%s/config" % (owner, name), None,
         dict(none=200, user=200, other=200, admin=200)),
        ("GET", "/api/v1/user/%s/jobs/%s/ssh" % (owner, name), None,
         dict(none=200, user=200, other=200, admin=200)),
        ("PUT", "/api/v1/user/%s/jobs/%s/executionType" % (owner, name), lambda: {"value": "START"},
         dict(none=401, user=200, other=403, admin=200)),
    ]
    for method, path, body, expect in rows:
        for who_name in ("none", "user", "other", "admin"):
            r = api.call(method, path, who[who_name](), json=body() if body else None)
            assert r.status_code == expect[who_name], (method, path, who_name, r.status_code, r.text)
            if r.status_code >= 400:
                assert set(r.json()) == {"error", "message"}
    api.call("PUT", "/api/v1/jobs/%s/executionType" % name, api.admin_token, json={"value": "STOP"})

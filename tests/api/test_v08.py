"""What /api/v1 lacked next to OpenPAI v0.8 (which its v1 SDK client calls):
GET /api/v1, the admins' user list, and the job routes under a user,
/api/v1/user/:username/jobs[/:jobName[/config|/ssh|/executionType]]."""
from conftest import assert_error
from test_jobs import job, submit_ok, wait_state


def test_the_api_answers_at_its_root(api):
    r = api.call("GET", "/api/v1")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["message"] == "PAI RESTful API"
    # Only there: httpd folds "/api/v1/jobs/.." into "/api/v1/", no root call.
    assert_error(api.call("GET", "/api/v1/"), 404, "NotFoundError")


def test_admins_list_the_users_with_their_virtual_clusters(api):
    name, token = api.make_user()
    r = api.call("PUT", "/api/v1/user/%s/virtualClusters" % name, api.admin_token,
                 json={"virtualClusters": "vc1"})
    assert r.status_code == 201, r.text
    r = api.call("GET", "/api/v1/user", api.admin_token)
    assert r.status_code == 200, r.text
    users = {u["username"]: u for u in r.json()}
    assert users[name] == {"username": name, "admin": False, "virtualCluster": "default,vc1"}
    assert users["admin"]["admin"] is True
    assert "password" not in r.text and "hash" not in r.text
    assert_error(api.call("GET", "/api/v1/user", token), 401, "NotAuthorized")


def test_job_routes_under_their_owner(api):
    owner, otok = api.make_user()
    other, xtok = api.make_user()
    # A submission under one's own name; not under another's.
    name = api.unique("v08")
    r = api.call("POST", "/api/v1/user/%s/jobs" % owner, otok, json=job(name, "sleep 60"))
    assert r.status_code == 201, r.text
    assert_error(api.call("POST", "/api/v1/user/%s/jobs" % owner, xtok,
                          json=job(api.unique("v08x"), "true")), 403, "ForbiddenUserError")
    base = "/api/v1/user/%s/jobs" % owner
    # The list holds that user's jobs only.
    mine = submit_ok(api, xtok, job(api.unique("v08o"), "true"))
    names = [j["name"] for j in api.call("GET", base).json()]
    assert name in names and mine not in names
    # The same answers as /api/v1/jobs/:name for the owner's job (the parts
    # that cannot change between two calls: a task may report its sshd)...
    wait_state(api, name, {"RUNNING"})
    for suffix, part in (("", "name"), ("/config", None), ("/ssh", "keyPair")):
        a = api.call("GET", "%s/%s%s" % (base, name, suffix), otok)
        b = api.call("GET", "/api/v1/jobs/%s%s" % (name, suffix), otok)
        assert a.status_code == 200 and b.status_code == 200, (suffix, a.text, b.text)
        if part:
            assert a.json()[part] == b.json()[part], (suffix, a.text, b.text)
        else:
            assert a.json() == b.json(), (suffix, a.text, b.text)
    # ...and none for a job of another user, whatever its name.
    for suffix in ("", "/config", "/ssh"):
        assert_error(api.call("GET", "%s/%s%s" % (base, mine, suffix), otok), 404, "JobNotFound")
    assert_error(api.call("PUT", "%s/%s/executionType" % (base, mine), api.admin_token,
                          json={"value": "STOP"}), 404, "JobNotFound")
    # STOP through the owner's route; the audit names the job.
    r = api.call("PUT", "%s/%s/executionType" % (base, name), otok, json={"value": "STOP"})
    assert r.status_code == 200, r.text
    assert wait_state(api, name, {"STOPPED"})["state"] == "STOPPED"
    rows = api.call("GET", "/api/v1/audit", api.admin_token,
                    params={"action": "job.executionType", "limit": 200}).json()
    assert any(a["target"] == name and a["status"] == 200 and a["username"] == owner
               for a in rows), rows
    # Bad names are refused, not looked up.
    assert_error(api.call("GET", "/api/v1/user/a'b/jobs"), 400, "InvalidParametersError")

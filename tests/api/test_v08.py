"""What /api/v1 lacked next to OpenPAI v0.8 (which its v1 SDK client calls):
GET /api/v1, the admins' user list, DELETE of a job, and the job routes under a user,
/api/v1/user/:username/jobs[/:jobName[/config|/ssh|/executionType]]."""
import os
import time

from conftest import assert_error, db_query, job_dir
from test_jobs import job, slurm_jobs, status, submit_ok, task_output, wait_state


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


def test_delete_stops_the_job_and_frees_its_name(api):
    owner, otok = api.make_user()
    other, xtok = api.make_user()
    name = submit_ok(api, otok, job(api.unique("del"), "echo first; sleep 300"))
    slurm_id = wait_state(api, name, {"RUNNING"})["appId"]
    # RUNNING is Slurm's allocation: the task prints a moment later.
    out = os.path.join(job_dir(api, name), "main-0.out")
    deadline = time.time() + 30
    while time.time() < deadline and not (os.path.exists(out) and open(out).read()):
        time.sleep(0.2)
    assert_error(api.call("DELETE", "/api/v1/jobs/" + name), 401, "UnauthorizedUserError")
    assert_error(api.call("DELETE", "/api/v1/jobs/" + name, xtok), 403, "ForbiddenUserError")
    assert_error(api.call("DELETE", "/api/v1/user/%s/jobs/%s" % (other, name), xtok),
                 404, "JobNotFound")
    assert_error(api.call("DELETE", "/api/v1/jobs/nosuchjob", otok), 404, "JobNotFound")
    # A running job is stopped first: Slurm's job goes, and so does the name.
    r = api.call("DELETE", "/api/v1/jobs/" + name, otok)
    assert r.status_code == 202, r.text
    assert r.json() == {"message": "deleted job %s successfully" % name}
    assert_error(api.call("GET", "/api/v1/jobs/" + name), 404, "JobNotFound")
    assert name not in [j["name"] for j in api.call("GET", "/api/v1/jobs").json()]
    def in_slurm():
        return slurm_id in [line.split()[0] for line in slurm_jobs(api).splitlines()]
    deadline = time.time() + 30
    while in_slurm() and time.time() < deadline:
        time.sleep(0.5)
    assert not in_slurm()
    # The record stays for admins, with who deleted it.
    assert db_query(api, "SELECT username, state, deleted_by FROM pai_jobs_deleted "
                         "WHERE name = '%s'" % name).replace("|", "\t").split() \
        == [owner, "STOPPED", owner]
    # Another user takes the name: the new job starts in a folder of its own,
    # the old one kept aside.
    submit_ok(api, xtok, job(name, "echo second"))
    assert wait_state(api, name, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    assert status(api, name)["username"] == other
    assert task_output(api, name, "main", 0) == "second\n"
    account_dir = os.path.dirname(os.path.dirname(job_dir(api, name)))
    aside = [d for d in os.listdir(account_dir) if d.startswith(name + "@deleted-")]
    assert len(aside) == 1, os.listdir(account_dir)
    with open(os.path.join(account_dir, aside[0], "attempt-0", "main-0.out")) as f:
        assert f.read().startswith("first\n")
    # A finished job goes at once, by an admin's hand too, under its owner's path.
    r = api.call("DELETE", "/api/v1/user/%s/jobs/%s" % (other, name), api.admin_token)
    assert r.status_code == 202, r.text
    assert db_query(api, "SELECT COUNT(*) FROM pai_jobs_deleted WHERE name = '%s'" % name) == "2"
    rows = api.call("GET", "/api/v1/audit", api.admin_token,
                    params={"action": "job.delete", "limit": 200}).json()
    assert [a["username"] for a in rows if a["target"] == name and a["status"] == 202] \
        == ["admin", owner], rows

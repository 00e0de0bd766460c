"""/api/v2, OpenPAI v1.8's API (microsoft/pai v1.8.0): info, basic login,
users and virtual clusters, with v1.8's {"code","message"} errors.  Every v2
read needs a token, as in v1.8."""
import os
import time

import yaml

from conftest import assert_error, db_query, job_dir
from test_jobs import job, submit_ok, task_output, wait_state
from test_security import proc_texts

job_v1 = job


def assert_v2_error(r, status, code, message_part=None):
    return assert_error(r, status, code, message_part, key="code")


def test_info_is_public(api):
    r = api.call("GET", "/api/v2/info")
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "PAI RESTful API", "version": "v1.8.0", "launcherType": "slurm",
                        "authnMethod": "basic"}


def test_basic_login_as_the_sdk_sends_it(api):
    name, _ = api.make_user(password="secret123")
    # The SDK posts a form with expiration as text.
    r = api.call("POST", "/api/v2/authn/basic/login",
                 data={"username": name, "password": "secret123", "expiration": "4000"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"user", "token", "admin", "hasGitHubPAT"}, body
    assert body["user"] == name and body["admin"] is False and body["hasGitHubPAT"] is False
    # The token works on both versions.
    assert api.call("GET", "/api/v2/users/" + name, body["token"]).status_code == 200
    assert api.call("GET", "/api/v1/jobs", body["token"]).status_code == 200
    r = api.call("POST", "/api/v2/authn/basic/login",
                 json={"username": "admin", "password": api.admin_password})
    assert r.status_code == 200 and r.json()["admin"] is True, r.text
    # A wrong password or an unknown user: one answer, naming neither.
    for user, pw in ((name, "wrong-password"), ("nobody_here", "secret123")):
        assert_v2_error(api.call("POST", "/api/v2/authn/basic/login",
                                 json={"username": user, "password": pw}),
                        401, "AuthenticationFailed")
    assert_v2_error(api.call("POST", "/api/v2/authn/basic/login",
                             json={"username": name, "password": "secret123", "expiration": 5}),
                    400, "InvalidParametersError", "expiration")
    assert_v2_error(api.call("POST", "/api/v2/authn/basic/login", json={"username": name}),
                    400, "InvalidParametersError", "password")


def test_logout_ends_that_token(api):
    name, other_token = api.make_user(password="secret123")

    def login():
        r = api.call("POST", "/api/v2/authn/basic/login",
                     json={"username": name, "password": "secret123", "expiration": 600})
        assert r.status_code == 200, r.text
        return r.json()["token"]
    token = login()
    time.sleep(1.1)         # a token of another second: another token
    kept = login()
    assert token != kept
    assert api.call("GET", "/api/v2/users/" + name, token).status_code == 200
    r = api.call("DELETE", "/api/v2/authn/basic/logout", token)
    assert r.status_code == 200 and r.json() == {"message": "Logout successfully"}, r.text
    assert_v2_error(api.call("GET", "/api/v2/users/" + name, token), 401,
                    "UnauthorizedUserError", "logged out")
    r = api.call("PUT", "/api/v1/user", token, json={"username": name, "password": "x" * 8})
    assert r.status_code == 401, r.text
    # Only that token: the user's others still work.
    assert api.call("GET", "/api/v2/users/" + name, kept).status_code == 200
    assert api.call("GET", "/api/v2/users/" + name, other_token).status_code == 200
    assert_v2_error(api.call("DELETE", "/api/v2/authn/basic/logout"), 401,
                    "UnauthorizedUserError")
    assert_v2_error(api.call("DELETE", "/api/v2/authn/basic/logout", token), 401,
                    "UnauthorizedUserError")


def test_errors_in_v2_shape(api):
    assert_v2_error(api.call("GET", "/api/v2/nothing-here"), 404, "NotFoundError")
    # OpenPAI's resources this server does not have say so.
    for method, path in (("GET", "/api/v2/kubernetes/nodes"), ("POST", "/api/v2/groups"),
                         ("GET", "/api/v2/storages"), ("GET", "/api/v2/alerts")):
        assert_v2_error(api.call(method, path, api.admin_token), 501, "NotImplementedError",
                        "not provided by this server")
    assert_v2_error(api.call("DELETE", "/api/v2/info"), 405, "MethodNotAllowedError")
    assert_v2_error(api.call("GET", "/api/v2/virtual-clusters"), 401, "UnauthorizedUserError")
    assert_v2_error(api.call("GET", "/api/v2/virtual-clusters", "not.a.token"), 401,
                    "UnauthorizedUserError")
    # What httpd itself refuses is answered in the same shape.
    assert_v2_error(api.call("GET", "/api/v2/users/a%00b"), 404, "NotFoundError")
    r = api.call("GET", "/api/v1/users/a%00b")
    assert r.status_code == 404 and set(r.json()) == {"error", "message"}, r.text


def test_users(api):
    name, token = api.make_user()
    other, otoken = api.make_user()
    r = api.call("PUT", "/api/v1/user/%s/virtualClusters" % name, api.admin_token,
                 json={"virtualClusters": "vc1"})
    assert r.status_code == 201, r.text
    r = api.call("GET", "/api/v2/users/" + name, token)
    assert r.status_code == 200, r.text
    assert r.json() == {"username": name, "grouplist": ["default", "vc1"], "email": "",
                        "extension": {}, "admin": False, "virtualCluster": ["default", "vc1"],
                        "storageConfig": []}
    assert_v2_error(api.call("GET", "/api/v2/users/" + name, otoken), 403, "ForbiddenUserError")
    assert api.call("GET", "/api/v2/users/" + name, api.admin_token).status_code == 200
    assert_v2_error(api.call("GET", "/api/v2/users/nobody_here", api.admin_token), 404,
                    "NoUserError")
    assert_v2_error(api.call("GET", "/api/v2/users/a'b", api.admin_token), 400,
                    "InvalidParametersError")
    # The admins' list (the SDK asks with a trailing slash).
    r = api.call("GET", "/api/v2/users/", api.admin_token)
    assert r.status_code == 200, r.text
    users = {u["username"]: u for u in r.json()}
    assert users[name]["virtualCluster"] == ["default", "vc1"]
    assert users["admin"]["admin"] is True and "admingroup" in users["admin"]["grouplist"]
    assert sorted(users["admin"]["virtualCluster"]) == ["default", "vc1", "vc2"]
    assert "password" not in r.text
    assert_v2_error(api.call("GET", "/api/v2/users", token), 401, "NotAuthorized")


def test_virtual_clusters(api):
    name, token = api.make_user()
    r = api.call("GET", "/api/v2/virtual-clusters", token)
    assert r.status_code == 200, r.text
    vcs = r.json()
    assert set(vcs) == {"default", "vc1", "vc2"}
    v1 = api.call("GET", "/api/v1/virtual-clusters").json()
    for vc, v in vcs.items():
        # v1's fields, the same figures...
        for k in ("capacity", "maxCapacity", "numActiveJobs", "numJobs", "numPendingJobs"):
            assert v[k] == v1[vc][k], (vc, k, v, v1[vc])
        # ...and v1.8's: what it holds, is guaranteed and may reach.
        assert v["dedicated"] is False
        for res in ("resourcesUsed", "resourcesGuaranteed", "resourcesTotal"):
            assert set(v[res]) == {"cpu", "memory", "gpu", "vCores", "GPUs"}, v
            assert v[res]["vCores"] == v[res]["cpu"] and v[res]["GPUs"] == v[res]["gpu"]
        g, t = v["resourcesGuaranteed"], v["resourcesTotal"]
        assert g["cpu"] <= t["cpu"] and g["memory"] <= t["memory"] and g["gpu"] <= t["gpu"]
    # vc2 is capped at its share: guaranteed is total there.
    assert vcs["vc2"]["resourcesGuaranteed"] == vcs["vc2"]["resourcesTotal"]
    assert vcs["vc2"]["resourcesTotal"]["cpu"] > 0
    # A running job shows in what its VC holds.
    jname = submit_ok(api, api.admin_token, job(api.unique("v2vc"), "sleep 60",
                                                virtualCluster="vc2"))
    wait_state(api, jname, {"RUNNING"})
    r = api.call("GET", "/api/v2/virtual-clusters/vc2", token)
    assert r.status_code == 200, r.text
    assert r.json()["resourcesUsed"]["cpu"] >= 1
    assert r.json()["resourcesUsed"]["memory"] >= 128
    r = api.call("PUT", "/api/v1/jobs/%s/executionType" % jname, api.admin_token,
                 json={"value": "STOP"})
    assert r.status_code == 200, r.text
    assert_v2_error(api.call("GET", "/api/v2/virtual-clusters/nope", token), 404,
                    "NoVirtualClusterError", "nope")


def test_sku_types_come_from_the_nodes(api):
    """SKU types (the SDK's path and v1.8's): per GPU type what one GPU comes
    with, or per CPU on nodes without GPUs; every VC has the cluster's types."""
    _, token = api.make_user()
    vcs = api.call("GET", "/api/v2/virtual-clusters", token).json()
    whole = [v for v in vcs.values() if v["maxCapacity"] == 100][0]["resourcesTotal"]
    # the one node of this cluster
    cpu, mem, gpu = whole["cpu"], whole["memory"], whole["gpu"]
    want = {"gpu": {"cpu": cpu // gpu, "memory": mem // gpu, "gpu": 1}} if gpu else \
        {"cpu": {"cpu": 1, "memory": mem // cpu, "gpu": 0}}
    for vc in vcs:
        r = api.call("GET", "/api/v2/virtual-clusters/%s/sku-types" % vc, token)
        assert r.status_code == 200 and r.json() == want, (r.text, want)
    assert api.call("GET", "/api/v2/cluster/sku-types", token).json() == want
    assert api.call("GET", "/api/v2/cluster/sku-types?vc=vc1", token).json() == want
    assert_v2_error(api.call("GET", "/api/v2/virtual-clusters/nope/sku-types", token), 404,
                    "NoVirtualClusterError", "nope")
    assert_v2_error(api.call("GET", "/api/v2/cluster/sku-types?vc=nope", token), 404,
                    "NoVirtualClusterError", "nope")
    assert api.call("GET", "/api/v2/cluster/sku-types").status_code == 401
    # the rest of /api/v2/cluster is not here, and says so
    assert_v2_error(api.call("GET", "/api/v2/cluster/nodes", token), 501, "NotImplementedError")


PROTOCOL = """protocolVersion: 2
name: {name}
type: job
jobRetryCount: 0
prerequisites:
  - name: image
    type: dockerimage
    uri: debian:12
parameters:
  greeting: hello
secrets:
  token: {secret}
defaults:
  virtualCluster: vc1
extras:
  com.microsoft.pai.runtimeplugin:
    - plugin: ssh
      parameters:
        jobssh: true
taskRoles:
  worker:
    instances: 2
    dockerImage: image
    resourcePerInstance:
      cpu: 1
      memoryMB: 128
      gpu: 0
      ports:
        http: 1
    commands:
      - echo <% $parameters.greeting %> $PAI_TASK_INDEX
      - echo "token=<% $secrets.token %>"
      - "{tail}"
"""


def submit_yaml(api, token, name, secret="s3cr3t-value", tail="true", **kw):
    return api.call("POST", "/api/v2/jobs", token,
                    data=PROTOCOL.format(name=name, secret=secret, tail=tail).encode(),
                    headers={"Content-Type": "text/yaml"}, **kw)


def v2_state(api, token, fw, states, timeout=60):
    deadline = time.time() + timeout
    while True:
        r = api.call("GET", "/api/v2/jobs/" + fw, token)
        assert r.status_code == 200, r.text
        if r.json()["jobStatus"]["state"] in states or time.time() > deadline:
            return r.json()
        time.sleep(0.3)


def test_a_yaml_job_runs_with_its_parameters_and_secrets(api):
    user, token = api.make_user()
    other, otoken = api.make_user()
    for u in (user, other):
        assert api.call("PUT", "/api/v1/user/%s/virtualClusters" % u, api.admin_token,
                        json={"virtualClusters": "vc1"}).status_code == 201
    name = api.unique("v2yaml")
    r = submit_yaml(api, token, name)
    assert r.status_code == 202, r.text
    assert r.json() == {"status": 202,
                        "message": "Update job %s for user %s successfully." % (name, user)}
    fw = "%s~%s" % (user, name)
    job = v2_state(api, token, fw, {"SUCCEEDED", "FAILED"})
    assert job["jobStatus"]["state"] == "SUCCEEDED", job
    assert job["name"] == name and job["frameworkName"] == fw
    assert job["jobStatus"]["username"] == user and job["jobStatus"]["virtualCluster"] == "vc1"
    assert [t["taskIndex"] for t in job["taskRoles"]["worker"]["taskStatuses"]] == [0, 1]
    # Parameters and secrets reached the commands...
    for i in (0, 1):
        assert task_output(api, name, "worker", i) == "hello %d\ntoken=s3cr3t-value\n" % i
    # ...but no view shows the secret.
    r = api.call("GET", "/api/v2/jobs/%s/config" % fw, token)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/yaml")
    cfg = yaml.safe_load(r.text)
    assert cfg["secrets"] == {"token": "******"} and cfg["name"] == name
    assert cfg["taskRoles"]["worker"]["commands"][1] == 'echo "token=<% $secrets.token %>"'
    for path in ("/api/v2/jobs/%s/config" % fw, "/api/v2/jobs/" + fw,
                 "/api/v1/jobs/%s/config" % name, "/api/v1/jobs/" + name):
        assert "s3cr3t-value" not in api.call("GET", path, api.admin_token).text, path
    # A job is named by its owner: another user's name finds nothing.
    assert_v2_error(api.call("GET", "/api/v2/jobs/%s~%s" % (other, name), token), 404,
                    "NoJobError")
    assert_v2_error(api.call("GET", "/api/v2/jobs/%s" % name, token), 404, "NoJobError")
    # Names stay global: the same name again is a conflict.
    assert_v2_error(submit_yaml(api, otoken, name), 409, "ConflictJobError")
    # A v1 job reads through v2 too, its config as YAML.
    v1name = submit_ok(api, token, job_v1(api.unique("v1in2"), "true"))
    r = api.call("GET", "/api/v2/jobs/%s~%s/config" % (user, v1name), token)
    assert r.status_code == 200 and yaml.safe_load(r.text)["jobName"] == v1name, r.text


def test_a_secret_reaches_no_command_line(api):
    """A v2 job's secret is in its command, which runs from a file of the job's
    private folder: no process's command line (anyone's to read) shows it."""
    user, token = api.make_user()
    assert api.call("PUT", "/api/v1/user/%s/virtualClusters" % user, api.admin_token,
                    json={"virtualClusters": "vc1"}).status_code == 201
    secret = "sec-%s" % os.urandom(6).hex()
    name = api.unique("v2sec")
    r = submit_yaml(api, token, name, secret=secret, tail="sleep 30")
    assert r.status_code == 202, r.text
    fw = "%s~%s" % (user, name)
    v2_state(api, token, fw, {"RUNNING"})
    try:
        deadline = time.time() + 30
        while not os.path.exists(os.path.join(job_dir(api, name), "worker-0.out")) \
                or "token=" not in task_output(api, name, "worker", 0):
            assert time.time() < deadline, "the task never ran"
            time.sleep(0.2)
        assert task_output(api, name, "worker", 0).endswith("token=%s\n" % secret)
        leaks = [p for p, t in proc_texts("cmdline") if secret.encode() in t]
        assert not leaks, leaks
    finally:
        api.call("PUT", "/api/v2/jobs/%s/executionType" % fw, token, json={"value": "STOP"})


def test_execution_type_through_v2(api):
    user, token = api.make_user()
    assert api.call("PUT", "/api/v1/user/%s/virtualClusters" % user, api.admin_token,
                    json={"virtualClusters": "vc1"}).status_code == 201
    other, otoken = api.make_user()
    name = api.unique("v2exec")
    assert submit_yaml(api, token, name, tail="sleep 300").status_code == 202
    fw = "%s~%s" % (user, name)
    v2_state(api, token, fw, {"RUNNING"})
    assert_v2_error(api.call("PUT", "/api/v2/jobs/%s/executionType" % fw, otoken,
                             json={"value": "STOP"}), 403, "ForbiddenUserError")
    assert_v2_error(api.call("PUT", "/api/v2/jobs/%s/executionType" % fw, token,
                             json={"value": "PAUSE"}), 400, "InvalidParametersError")
    r = api.call("PUT", "/api/v2/jobs/%s/executionType" % fw, token, json={"value": "STOP"})
    assert r.status_code == 202, r.text
    assert r.json() == {"status": 202, "message": "Execute job %s successfully." % fw}
    assert v2_state(api, token, fw, {"STOPPED"})["jobStatus"]["state"] == "STOPPED"


def test_the_job_list_filters_orders_and_counts(api):
    user, token = api.make_user()
    tag = api.unique("lst")
    names = [submit_ok(api, token, job_v1("%s-%d" % (tag, i), "true")) for i in range(3)]
    for n in names:
        wait_state(api, n, {"SUCCEEDED", "FAILED"})
    r = api.call("GET", "/api/v2/jobs", token, params={"username": user, "keyword": tag})
    assert r.status_code == 200, r.text
    assert [j["name"] for j in r.json()] == names[::-1]       # newest first
    item = r.json()[0]
    for k in ("debugId", "name", "username", "state", "subState", "executionType", "tags",
              "retries", "retryDetails", "submissionTime", "createdTime", "launchedTime",
              "completedTime", "appExitCode", "virtualCluster", "totalGpuNumber",
              "totalTaskNumber", "totalTaskRoleNumber", "jobPriority"):
        assert k in item, (k, item)
    assert item["totalTaskNumber"] == 1 and item["totalTaskRoleNumber"] == 1
    r = api.call("GET", "/api/v2/jobs", token,
                 params={"keyword": tag, "order": "jobName,ASC", "limit": 2, "offset": 1,
                         "withTotalCount": "true", "state": "SUCCEEDED,FAILED"})
    assert r.status_code == 200, r.text
    assert r.json()["totalCount"] == 3
    assert [j["name"] for j in r.json()["data"]] == names[1:]
    # Keyset pages (after=, then each answer's next) show what offset pages do.
    r0 = api.call("GET", "/api/v2/jobs", token,
                  params={"keyword": tag, "limit": 1, "after": ""}).json()["next"]
    walked, after, pages = [], "", 0
    while after is not None:
        r = api.call("GET", "/api/v2/jobs", token,
                     params={"keyword": tag, "order": "jobName,DESC", "limit": 2, "after": after})
        assert r.status_code == 200, r.text
        walked += [j["name"] for j in r.json()["data"]]
        after, pages = r.json()["next"], pages + 1
    assert walked == sorted(names, reverse=True) and pages == 2
    for bad in ({"after": "not-a-cursor"}, {"after": "", "offset": 1},
                {"after": r0, "order": "jobName,ASC"}):
        assert_v2_error(api.call("GET", "/api/v2/jobs", token, params=dict(bad, limit=2)), 400,
                        "InvalidParametersError")
    # A keyword's wildcards are plain characters.
    r = api.call("GET", "/api/v2/jobs", token, params={"keyword": tag.replace("_", "%")})
    assert r.json() == []
    for bad in ({"limit": 50001}, {"order": "jobName"}, {"order": "password,ASC"},
                {"state": "RUNNING,NAPPING"}, {"username": "a'b"}, {"keyword": "k" * 300},
                {"vc": ",".join("v%d" % i for i in range(40))}):
        assert_v2_error(api.call("GET", "/api/v2/jobs", token, params=bad), 400,
                        "InvalidParametersError")


def test_protocol_documents_that_are_refused(api):
    _, token = api.make_user()

    def post(text, ctype="text/yaml"):
        return api.call("POST", "/api/v2/jobs", token, data=text.encode(),
                        headers={"Content-Type": ctype})
    base = PROTOCOL.format(name=api.unique("bad"), secret="x", tail="true")
    cases = [
        (base.replace("plugin: ssh", "plugin: tensorboard"), "runtime plugin 'tensorboard'"),
        (base.replace("instances: 2", "instances: two"), "taskRoles.worker.instances"),
        (base.replace("type: job", "type: job\ntype: job"), "given twice"),
        (base.replace("uri: debian:12", "uri: [a"), "YAML"),
        ("- a list\n", "must be a mapping"),
        ("a: " + "[" * 40 + "]" * 40 + "\n", "nesting deeper than 32"),
    ]
    bomb = "a: &a [" + ",".join(['"lol"'] * 10) + "]\n"
    for c, p in zip("bcdefghi", "abcdefgh"):
        bomb += "%s: &%s [%s]\n" % (c, c, ",".join(["*" + p] * 10))
    cases.append((bomb, "more than 100000 nodes"))
    for text, says in cases:
        t0 = time.time()
        assert_v2_error(post(text), 400, "InvalidParametersError", says)
        assert time.time() - t0 < 2
    # JSON of the same shape is the same protocol.
    doc = yaml.safe_load(PROTOCOL.format(name=api.unique("json"), secret="x", tail="true"))
    doc["taskRoles"]["worker"]["instances"] = 0
    assert_v2_error(api.call("POST", "/api/v2/jobs", token, json=doc), 400,
                    "InvalidParametersError", "taskRoles.worker.instances")


def test_tags(api):
    user, token = api.make_user()
    other, otoken = api.make_user()
    tag = api.unique("tag")
    a = submit_ok(api, token, job_v1(api.unique("tga"), "true"))
    b = submit_ok(api, token, job_v1(api.unique("tgb"), "true"))
    fa, fb = "%s~%s" % (user, a), "%s~%s" % (user, b)
    r = api.call("PUT", "/api/v2/jobs/%s/tag" % fa, token, json={"value": tag})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": 200, "message": "Add tag %s for job %s successfully." % (tag, fa)}
    for t in (tag, "second"):
        assert api.call("PUT", "/api/v2/jobs/%s/tag" % fb, token, json={"value": t}).status_code \
            == 200
    assert_v2_error(api.call("PUT", "/api/v2/jobs/%s/tag" % fa, otoken, json={"value": "x"}),
                    403, "ForbiddenUserError")
    assert_v2_error(api.call("PUT", "/api/v2/jobs/%s/tag" % fa, token, json={"value": "a,b"}),
                    400, "InvalidParametersError")
    assert api.call("PUT", "/api/v2/jobs/%s/tag" % fa, api.admin_token,
                    json={"value": "by-admin"}).status_code == 200
    # In the job and the list, and filterable.
    assert api.call("GET", "/api/v2/jobs/" + fb, token).json()["tags"] == ["second", tag]
    r = api.call("GET", "/api/v2/jobs", token, params={"tagsContain": tag})
    assert sorted(j["name"] for j in r.json()) == sorted([a, b])
    assert {j["name"]: j["tags"] for j in r.json()}[a] == ["by-admin", tag]
    r = api.call("GET", "/api/v2/jobs", token,
                 params={"tagsContain": tag, "tagsNotContain": "second"})
    assert [j["name"] for j in r.json()] == [a]
    # Removed again (the SDK sends the tag in a DELETE's body).
    r = api.call("DELETE", "/api/v2/jobs/%s/tag" % fb, token, json={"value": tag})
    assert r.status_code == 200, r.text
    assert api.call("GET", "/api/v2/jobs/" + fb, token).json()["tags"] == ["second"]
    rows = api.call("GET", "/api/v1/audit", api.admin_token,
                    params={"action": "job.tag.add", "limit": 50}).json()
    assert any(x["target"] == fa and x["detail"] == tag for x in rows), rows


def test_attempt_history(api):
    """A job that fails twice, then succeeds (retryCount 2), shows 3 attempts."""
    user, token = api.make_user()
    cmd = 'n=$(cat ../count 2>/dev/null || echo 0); echo $((n + 1)) > ../count; exit $((n < 2 ? 3 : 0))'
    name = submit_ok(api, token, job_v1(api.unique("hist"), cmd, retryCount=2))
    assert wait_state(api, name, {"SUCCEEDED", "FAILED"}, timeout=120)["state"] == "SUCCEEDED"
    fw = "%s~%s" % (user, name)
    r = api.call("GET", "/api/v2/jobs/%s/job-attempts" % fw, token)
    assert r.status_code == 200, r.text
    att = r.json()
    assert [(a["attemptIndex"], a["state"], a["isLatest"]) for a in att] == \
        [(2, "SUCCEEDED", True), (0, "FAILED", False), (1, "FAILED", False)], att
    assert [a["exitCode"] for a in att] == [0, 3, 3]
    assert all(a["jobName"] == name and a["frameworkName"] == fw for a in att)
    assert att[1]["attemptStartedTime"] <= att[1]["attemptCompletedTime"] \
        <= att[2]["attemptStartedTime"]
    assert list(att[0]["taskRoles"]) == ["main"]
    # Each failed attempt names its failing task and OpenPAI's exit spec.
    for a in att[1:]:
        assert a["exitType"] == "USER_FAILURE" and a["appExitSpec"]["code"] == 3, a
        assert a["appExitSpec"]["reaction"] == "RETRY_TO_MAX", a
        assert (a["appExitTriggerTaskRoleName"], a["appExitTriggerTaskIndex"]) == ("main", 0), a
    assert att[0]["exitPhrase"] == "Succeeded" and att[0]["appExitTriggerTaskRoleName"] is None
    st = api.call("GET", "/api/v2/jobs/" + fw, token).json()["jobStatus"]
    assert st["retryDetails"] == {"user": 2, "platform": 0, "resource": 0}, st
    assert st["appExitSpec"]["code"] == 0, st
    r = api.call("GET", "/api/v2/jobs/%s/job-attempts/1" % fw, token)
    assert r.status_code == 200 and r.json()["attemptIndex"] == 1, r.text
    assert_v2_error(api.call("GET", "/api/v2/jobs/%s/job-attempts/7" % fw, token), 404,
                    "NoJobError")
    assert_v2_error(api.call("GET", "/api/v2/jobs/%s/job-attempts/x" % fw, token), 400,
                    "InvalidParametersError")
    r = api.call("GET", "/api/v2/jobs/%s/job-attempts/healthz" % fw, token)
    assert r.status_code == 200 and r.text == "ok"
    # The job as it was in an attempt, and a task of it with its task attempts.
    d = api.call("GET", "/api/v2/jobs/%s/attempts/1" % fw, token).json()
    st = d["jobStatus"]
    assert (st["attemptId"], st["attemptState"], st["appExitCode"]) == (1, "FAILED", 3), st
    assert d["taskRoles"]["main"]["taskStatuses"][0]["containerExitCode"] == 3, d
    assert api.call("GET", "/api/v2/jobs/%s/attempts/2" % fw, token).json()[
        "jobStatus"]["state"] == "SUCCEEDED"
    assert_v2_error(api.call("GET", "/api/v2/jobs/%s/attempts/9" % fw, token), 404,
                    "NoJobError", "jobAttemptIndex 9")
    assert_v2_error(api.call("GET", "/api/v2/jobs/%s/attempts/x" % fw, token), 400,
                    "InvalidParametersError")
    task = "/api/v2/jobs/%s/attempts/0/taskRoles/main/taskIndex/%d/attempts"
    t = api.call("GET", task % (fw, 0), token).json()
    assert (t["jobAttemptId"], t["taskRoleName"], t["taskIndex"], t["taskState"]) == \
        (0, "main", 0, "FAILED"), t
    assert len(t["attempts"]) == 1 and t["attempts"][0]["containerExitCode"] == 3, t
    assert t["attempts"][0]["containerExitSpec"]["code"] == 3, t
    assert_v2_error(api.call("GET", task % (fw, 5), token), 404, "NoJobError", "taskIndex 5")
    assert_v2_error(api.call("GET", (task % (fw, 0)).replace("/main/", "/nope/"), token), 404,
                    "NoJobError")


def test_each_task_reports_its_state_node_and_exit(api):
    """The tasks' own reports: while a job runs, a task that started reads
    RUNNING with its node; at the end each has its exit code, times and exit
    spec, the task that failed first is the job's trigger, and a STOP reads
    STOPPED.  Reports need the attempt's secret, and say what is wrong."""
    user, token = api.make_user()
    name = api.unique("tasks")
    cfg = job_v1(name, "true")
    cfg["taskRoles"] = [
        {"name": "ok", "taskNumber": 1, "cpuNumber": 1, "memoryMB": 128, "command": "true"},
        {"name": "bad", "taskNumber": 1, "cpuNumber": 1, "memoryMB": 128,
         "command": "sleep 2; exit 5"}]
    submit_ok(api, token, cfg)
    assert wait_state(api, name, {"SUCCEEDED", "FAILED"})["state"] == "FAILED"
    fw = "%s~%s" % (user, name)
    d = api.call("GET", "/api/v2/jobs/" + fw, token).json()
    ok = d["taskRoles"]["ok"]["taskStatuses"][0]
    bad = d["taskRoles"]["bad"]["taskStatuses"][0]
    assert ok["taskState"] == "SUCCEEDED" and ok["containerExitCode"] == 0, ok
    assert ok["containerNodeName"] and ok["containerExitSpec"]["phrase"] == "Succeeded", ok
    assert bad["taskState"] == "FAILED" and bad["containerExitCode"] == 5, bad
    assert bad["containerExitDiagnostics"] == "exited with code 5", bad
    assert bad["containerExitSpec"]["type"] == "USER_FAILURE", bad
    for t in (ok, bad):
        assert t["createdTime"] <= t["launchedTime"] <= t["completedTime"], t
    # (the start is reported once the command runs: a little after it began)
    assert bad["completedTime"] - bad["launchedTime"] >= 900, bad
    st = d["jobStatus"]
    assert (st["appExitTriggerTaskRoleName"], st["appExitTriggerTaskIndex"]) == ("bad", 0), st
    assert st["appExitSpec"]["code"] == 5, st
    # v1's detail shows the same tasks
    v1 = api.call("GET", "/api/v1/jobs/" + name, token).json()
    assert v1["taskRoles"]["bad"]["taskStatuses"][0]["containerExitCode"] == 5, v1

    # Running: the started task reads RUNNING on its node; STOP ends it STOPPED.
    name = api.unique("tasksrun")
    submit_ok(api, token, job_v1(name, "sleep 60"))
    fw = "%s~%s" % (user, name)
    deadline, t = time.time() + 60, {}
    while time.time() < deadline:
        t = api.call("GET", "/api/v2/jobs/" + fw, token).json()[
            "taskRoles"]["main"]["taskStatuses"][0]
        if t["taskState"] == "RUNNING":
            break
        time.sleep(0.3)
    assert t["taskState"] == "RUNNING" and t["launchedTime"] and t["containerNodeName"], t
    assert t["containerExitCode"] is None and t["containerExitSpec"] is None, t
    # reports: a wrong secret, a stale attempt, no such task, a bad event or word
    path = "/api/v1/jobs/%s/tasks/report" % name
    report = {"attempt": 0, "taskRole": "main", "taskIndex": 0, "event": "exited",
              "exitCode": 0}
    assert_error(api.call("POST", path, json=report, headers={"X-PAI-Job-Secret": "0" * 64}),
                 403, "ForbiddenUserError")
    assert_error(api.call("POST", path, json=report), 403, "ForbiddenUserError")
    secret = {"X-PAI-Job-Secret": db_query(api, "SELECT secret FROM pai_job_keys WHERE name = "
                                                "'%s'" % name)}
    for bad_report, why in ((dict(report, attempt=3), "not its current one"),
                            (dict(report, taskIndex=4), "has no task main-4"),
                            (dict(report, event="paused"), "started or exited"),
                            (dict(report, exitCode=256), "exitCode"),
                            (dict(report, why="Bad Word"), "why"),
                            (dict(report, node="a b"), "node"),
                            (dict(report, extra=1), "extra")):
        assert_error(api.call("POST", path, json=bad_report, headers=secret), 400,
                     "InvalidParametersError", why)
    assert api.call("GET", "/api/v2/jobs/" + fw, token).json()[
        "taskRoles"]["main"]["taskStatuses"][0]["taskState"] == "RUNNING"
    assert api.call("PUT", "/api/v1/jobs/%s/executionType" % name, token,
                    json={"value": "STOP"}).status_code == 200
    wait_state(api, name, {"STOPPED"})
    t = api.call("GET", "/api/v2/jobs/" + fw, token).json()["taskRoles"]["main"]["taskStatuses"][0]
    assert t["taskState"] == "STOPPED", t


def test_a_task_the_completion_rule_ended_reads_stopped(api):
    """One task fails, its sibling still runs: the completion rule ends the
    sibling, which reads STOPPED (FrameworkAttemptCompletion), not FAILED."""
    user, token = api.make_user()
    name = api.unique("ended")
    cfg = job_v1(name, '[ "$PAI_TASK_INDEX" = 0 ] && { sleep 1; exit 4; }; sleep 60')
    cfg["taskRoles"][0]["taskNumber"] = 2
    submit_ok(api, token, cfg)
    assert wait_state(api, name, {"SUCCEEDED", "FAILED"})["state"] == "FAILED"
    tasks = api.call("GET", "/api/v2/jobs/%s~%s" % (user, name), token).json()[
        "taskRoles"]["main"]["taskStatuses"]
    assert tasks[0]["taskState"] == "FAILED" and tasks[0]["containerExitCode"] == 4, tasks[0]
    assert tasks[1]["taskState"] == "STOPPED", tasks[1]
    assert tasks[1]["containerExitSpec"]["phrase"] == "FrameworkAttemptCompletion", tasks[1]
    assert "completion rule" in tasks[1]["containerExitDiagnostics"], tasks[1]

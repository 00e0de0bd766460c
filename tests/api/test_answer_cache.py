"""The answer cache (PaiAnswerCacheTTL): job lists and statuses are given again
without the database until a write on this host, so a read made right after
any write, whoever made it, shows it.  (That callers do not share answers:
test_read_access's owner-mode lists; another server's writes within the TTL:
test_scaleout.)"""
import time

from test_jobs import execute, job, submit_ok, wait_idle


def v1_names(api, token, user):
    r = api.call("GET", "/api/v1/jobs", token, params={"username": user})
    assert r.status_code == 200, r.text
    return {j["name"]: j["state"] for j in r.json()}


def v2_tags(api, token, user):
    r = api.call("GET", "/api/v2/jobs", token, params={"username": user})
    assert r.status_code == 200, r.text
    return {j["name"]: j.get("tags") for j in r.json()}


def user_list(api, token, user):
    r = api.call("GET", "/api/v1/user/%s/jobs" % user, token)
    assert r.status_code == 200, r.text
    return [j["name"] for j in r.json()]


def warm(*reads):
    """Each read a few times: the next ones come from the cache."""
    for read in reads:
        for _ in range(3):
            read()


def test_every_write_shows_at_once_in_cached_reads(api):
    user, token = api.make_user()
    name = api.unique("cached")
    fw = "%s~%s" % (user, name)
    lists = (lambda: v1_names(api, token, user), lambda: v2_tags(api, token, user),
             lambda: user_list(api, token, user))
    # A submission: in every list at once.
    warm(*lists)
    submit_ok(api, token, job(name, "sleep 120"))
    assert name in v1_names(api, token, user)
    assert name in v2_tags(api, token, user)
    assert name in user_list(api, token, user)
    # A STOP: the status and the lists say STOPPED at once.
    status = lambda: api.call("GET", "/api/v1/jobs/" + name, token).json()["state"]
    warm(status, *lists)
    assert execute(api, token, name, "STOP").status_code == 200
    assert status() == "STOPPED"
    assert api.call("GET", "/api/v1/user/%s/jobs/%s" % (user, name), token).json()[
        "state"] == "STOPPED"
    assert v1_names(api, token, user)[name] == "STOPPED"
    # The VC's use, read before, is the STOP's at once; a START takes it again.
    vc = lambda: api.call("GET", "/api/v1/virtual-clusters/default", token).json()[  # noqa: E731
        "resourcesUsed"]["vCores"]
    v2vc = lambda: api.call("GET", "/api/v2/virtual-clusters/default", token).json()[  # noqa: E731
        "resourcesUsed"]["cpu"]
    wait_idle(api, timeout=120)       # no other job's end moves the figures meanwhile
    warm(vc, v2vc)
    used = vc()
    assert execute(api, token, name, "START").status_code == 200
    assert vc() == used + 1 and v2vc() == used + 1
    assert execute(api, token, name, "STOP").status_code == 200
    assert vc() == used and v2vc() == used
    # A tag added, then removed.
    warm(*lists)
    assert api.call("PUT", "/api/v2/jobs/%s/tag" % fw, token, json={"value": "t1"}).status_code \
        == 200
    assert v2_tags(api, token, user)[name] == ["t1"]
    assert api.call("DELETE", "/api/v2/jobs/%s/tag" % fw, token,
                    json={"value": "t1"}).status_code == 200
    assert v2_tags(api, token, user)[name] == []
    # A deletion: gone from the lists, its status 404.
    warm(status, *lists)
    assert api.call("DELETE", "/api/v1/jobs/" + name, token).status_code == 202
    assert name not in v1_names(api, token, user)
    assert name not in user_list(api, token, user)
    assert api.call("GET", "/api/v1/jobs/" + name, token).status_code == 404


def test_the_syncs_changes_show_in_cached_lists(api):
    """What the sync writes (Slurm ran the job to its end) moves the cache on
    too: once v2's detail (never cached) says SUCCEEDED, the list read next,
    cached while the job ran, says it."""
    user, token = api.make_user()
    name = submit_ok(api, token, job(api.unique("synced"), "sleep 2"))
    detail = "/api/v2/jobs/%s~%s" % (user, name)
    deadline = time.time() + 60
    while time.time() < deadline:
        listed = v1_names(api, token, user)[name]       # cached between writes
        state = api.call("GET", detail, token).json()["jobStatus"]["state"]
        if state == "SUCCEEDED":
            break
        time.sleep(0.02)
    assert state == "SUCCEEDED", state
    assert v1_names(api, token, user)[name] == "SUCCEEDED", listed

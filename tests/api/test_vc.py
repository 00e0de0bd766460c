"""Virtual clusters on the real Slurm: admission, borrowing, guarantees, figures.

The test cluster has max(nproc, 4) = 4 CPUs on a 2-core machine, the machine's
memory and 4 GPUs; VCs: vc1 25/100, vc2 50/50, default 25/100 (conftest)."""
import time

from conftest import assert_error
from test_jobs import execute, status, submit, submit_ok, wait_state


def vc(api, name):
    r = api.call("GET", "/api/v1/virtual-clusters/" + name)
    assert r.status_code == 200, r.text
    return r.json()


def quiesce(api):
    """Stops whatever an earlier test left running, so shares start at zero."""
    for j in api.call("GET", "/api/v1/jobs").json():
        if j["state"] in ("WAITING", "RUNNING"):
            assert execute(api, api.admin_token, j["name"], "STOP").status_code == 200
    deadline = time.time() + 20
    while time.time() < deadline:
        if all(v["numJobs"] == 0 for v in api.call("GET", "/api/v1/virtual-clusters").json().values()):
            return
        time.sleep(0.2)
    raise AssertionError("jobs still active")


def sleeper(name, vcname, cpus=1, gpus=0, seconds=300):
    return {"jobName": name, "image": "x", "virtualCluster": vcname, "taskRoles": [
        {"name": "r", "cpuNumber": cpus, "gpuNumber": gpus, "memoryMB": 100,
         "command": "sleep %d" % seconds}]}


def wait_for(pred, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(what)


def test_listing_and_not_found(api):
    all_vcs = api.call("GET", "/api/v1/virtual-clusters").json()
    assert set(all_vcs) == {"default", "vc1", "vc2"}
    assert (all_vcs["vc1"]["capacity"], all_vcs["vc1"]["maxCapacity"]) == (25, 100)
    assert (all_vcs["vc2"]["capacity"], all_vcs["vc2"]["maxCapacity"]) == (50, 50)
    assert (all_vcs["default"]["capacity"], all_vcs["default"]["maxCapacity"]) == (25, 100)
    for v in all_vcs.values():
        assert set(v) == {"capacity", "maxCapacity", "usedCapacity", "numActiveJobs", "numJobs",
                          "numPendingJobs", "resourcesUsed"}
        assert set(v["resourcesUsed"]) == {"memory", "vCores", "GPUs"}
    assert_error(api.call("GET", "/api/v1/virtual-clusters/nope"), 404, "VirtualClusterNotFound",
                 "could not find virtual cluster nope")


def test_fill_past_max_then_release(api):
    quiesce(api)
    names = [submit_ok(api, api.admin_token, sleeper(api.unique("v2"), "vc2")) for _ in range(3)]
    wait_state(api, names[0], {"RUNNING"})
    wait_state(api, names[1], {"RUNNING"})
    time.sleep(1.5)
    st = status(api, names[2])
    assert st["state"] == "WAITING" and st["subState"] == "QUEUED", st
    # why it waits: vc2's queue, first in line, with no room left in vc2
    pend = st["pending"]
    assert pend["source"] == "vc" and pend["queuePosition"] == 1, pend
    assert pend["vcHeadroom"]["cpu"] == 0 and pend["estimatedStartTime"] is None, pend
    assert "vc2" in pend["message"] and "needs 1 CPUs" in pend["message"], pend
    v2 = api.call("GET", "/api/v2/jobs/admin~" + names[2], api.admin_token).json()
    assert v2["pending"] == pend, v2["pending"]
    assert status(api, names[0])["pending"] is None
    v = vc(api, "vc2")
    assert v["usedCapacity"] == 50 and v["numActiveJobs"] == 2 and v["numPendingJobs"] == 1, v
    assert v["numJobs"] == 3 and v["resourcesUsed"]["vCores"] == 2
    assert v["resourcesUsed"]["memory"] == 200 and v["resourcesUsed"]["GPUs"] == 0
    # a stop frees the room at once for the next waiting job
    assert execute(api, api.admin_token, names[0], "STOP").status_code == 200
    assert wait_state(api, names[2], {"RUNNING"}, timeout=10)["pending"] is None
    assert api.call("GET", "/api/v2/jobs/admin~" + names[2],
                    api.admin_token).json()["pending"] is None
    # its events: queued by its VC, then admitted
    evs = api.call("GET", "/api/v2/jobs/admin~%s/events" % names[2], api.admin_token).json()
    reasons = [e["reason"] for e in evs["data"]]
    assert reasons.index("Admitted") < reasons.index("Queued") < reasons.index("Submitted"), evs
    v = vc(api, "vc2")
    assert v["numActiveJobs"] == 2 and v["numPendingJobs"] == 0 and v["usedCapacity"] == 50, v
    for n in names[1:]:
        execute(api, api.admin_token, n, "STOP")
    assert vc(api, "vc2")["usedCapacity"] == 0


def test_borrow_idle_room_then_guarantee_honoured(api):
    quiesce(api)
    borrowed = [submit_ok(api, api.admin_token, sleeper(api.unique("v1"), "vc1")) for _ in range(4)]
    for n in borrowed:
        wait_state(api, n, {"RUNNING"})
    v1 = vc(api, "vc1")
    assert v1["usedCapacity"] == 100 and v1["numActiveJobs"] == 4, v1     # 4x its share
    # vc2 is owed its guarantee: its job goes to Slurm and waits for room
    owed = submit_ok(api, api.admin_token, sleeper(api.unique("v2"), "vc2"))
    wait_for(lambda: status(api, owed)["subState"] == "PENDING", "vc2's job did not reach Slurm")
    # why it waits: Slurm's reason, in plain words
    wait_for(lambda: status(api, owed)["pending"]["reason"] == "Resources",
             "Slurm gave no reason")
    pend = status(api, owed)["pending"]
    assert pend["source"] == "slurm" and "busy" in pend["message"], pend
    assert pend["queuePosition"] is None and pend["vcHeadroom"] is None, pend
    est = pend["estimatedStartTime"]
    assert est is None or est > time.time() * 1000 - 60000, pend
    evs = api.call("GET", "/api/v2/jobs/admin~%s/events" % owed, api.admin_token).json()["data"]
    held = [e for e in evs if e["reason"] == "Pending"]
    assert held and "Resources" in held[0]["message"] and held[0]["type"] == "Normal", evs
    assert vc(api, "vc2")["numActiveJobs"] == 1
    # vc1 may not borrow that room while vc2 waits
    extra = submit_ok(api, api.admin_token, sleeper(api.unique("v1"), "vc1"))
    time.sleep(1.5)
    assert status(api, extra)["subState"] == "QUEUED"
    assert vc(api, "vc1")["numPendingJobs"] == 1
    pend = status(api, extra)["pending"]
    assert pend["source"] == "vc" and pend["reason"] == "VirtualClusterFull", pend
    assert pend["vcHeadroom"]["cpu"] == 0, pend
    # one vc1 job ends: the room goes to vc2, not to vc1's next job
    execute(api, api.admin_token, borrowed[0], "STOP")
    assert wait_state(api, owed, {"RUNNING"}, timeout=15)["pending"] is None
    time.sleep(1.5)
    assert status(api, extra)["subState"] == "QUEUED"
    # another ends: nobody else waits now, so vc1 borrows again
    execute(api, api.admin_token, borrowed[1], "STOP")
    wait_state(api, extra, {"RUNNING"}, timeout=15)
    v1, v2 = vc(api, "vc1"), vc(api, "vc2")
    assert v1["numActiveJobs"] == 3 and v1["resourcesUsed"]["vCores"] == 3 and v1["usedCapacity"] == 75
    assert v2["numActiveJobs"] == 1 and v2["usedCapacity"] == 25
    for n in borrowed[2:] + [owed, extra]:
        execute(api, api.admin_token, n, "STOP")


def test_too_big_for_its_vc_and_gpus(api):
    quiesce(api)
    r = submit(api, api.admin_token, sleeper(api.unique("big"), "vc2", cpus=3))
    assert_error(r, 400, "InvalidParametersError", "vc2 may use at most 50%")
    r = submit(api, api.admin_token, sleeper(api.unique("big"), "vc2", gpus=3))
    assert_error(r, 400, "InvalidParametersError", "GPUs")
    name = submit_ok(api, api.admin_token, sleeper(api.unique("gpu"), "vc2", gpus=2))
    wait_state(api, name, {"RUNNING"})
    v = vc(api, "vc2")
    assert v["resourcesUsed"]["GPUs"] == 2 and v["usedCapacity"] == 50, v
    # GPUs count: vc2's next GPU job waits although CPUs are free
    nxt = submit_ok(api, api.admin_token, sleeper(api.unique("gpu"), "vc2", gpus=1))
    time.sleep(1.5)
    assert status(api, nxt)["subState"] == "QUEUED"
    execute(api, api.admin_token, name, "STOP")
    wait_state(api, nxt, {"RUNNING"}, timeout=15)
    execute(api, api.admin_token, nxt, "STOP")


def test_grants(api):
    user, tok = api.make_user()
    assert_error(submit(api, tok, sleeper(api.unique(), "vc1", seconds=1)), 403,
                 "ForbiddenUserError")
    name = submit_ok(api, api.admin_token, sleeper(api.unique("adm"), "vc1", seconds=1))
    assert wait_state(api, name, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"

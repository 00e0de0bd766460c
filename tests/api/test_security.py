"""The findings of the security review (issue 15), one regression test each:
what an attacker with a local account or an API token tried, and what they
now get.  Same-name (per-user accounts) cases are in test_peruser.py."""
import concurrent.futures
import glob
import os
import re
import socket
import subprocess
import time

from conftest import ROOT, assert_error, db_query, job_dir, mariadb_dir
from test_guard import login_from
from test_jobs import execute, job, status, submit, submit_ok, wait_idle, wait_state


def ssh_info(api, name):
    r = api.call("GET", "/api/v1/jobs/%s/ssh" % name)
    assert r.status_code == 200, r.text
    return r.json()


def wait_containers(api, name, n, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = ssh_info(api, name)
        if len(info["containers"]) >= n:
            return info
        time.sleep(0.3)
    return ssh_info(api, name)


def proc_texts(kind):
    """Every process's /proc/PID/<kind> (cmdline or environ), as bytes."""
    out = []
    for path in glob.glob("/proc/[0-9]*/" + kind):
        try:
            with open(path, "rb") as f:
                out.append((path, f.read()))
        except OSError:
            pass
    return out


# ---- 3. secrets on the command line -------------------------------------------

def test_no_secret_on_any_command_line(api):
    """jobEnvs values and the attempt's report secret reach no process's
    command line; the secret is in no environment either (the task's command
    used to find it in /proc/$PPID/environ)."""
    _, tok = api.make_user()
    value = "tok-%s" % os.urandom(6).hex()
    name = submit_ok(api, tok, job(api.unique("sec"), "sleep 30", jobEnvs={"TOKEN": value}))
    wait_state(api, name, {"RUNNING"})
    wait_containers(api, name, 1)
    secret = db_query(api, "SELECT secret FROM pai_job_keys WHERE name = '%s'" % name)
    assert len(secret) == 64, secret
    try:
        cmdlines = proc_texts("cmdline")
        leaks = [p for p, t in cmdlines if value.encode() in t or secret.encode() in t]
        assert not leaks, leaks
        environs = [p for p, t in proc_texts("environ") if secret.encode() in t]
        assert not environs, environs
        # the value did reach the task, through its environment
        assert [p for p, t in proc_texts("environ") if ("TOKEN=" + value).encode() in t]
    finally:
        execute(api, tok, name, "STOP")


def test_secret_is_per_attempt_and_a_report_is_once(api):
    """A new attempt gets a new secret; a task reports once: a second report of
    the same task (the task's own command, say) is refused."""
    _, tok = api.make_user()
    name = submit_ok(api, tok, job(api.unique("once"), "sleep 30"))
    wait_state(api, name, {"RUNNING"})
    info = wait_containers(api, name, 1)
    assert len(info["containers"]) == 1, info
    first = db_query(api, "SELECT secret FROM pai_job_keys WHERE name = '%s'" % name)
    forged = {"attempt": 0, "taskRole": "main", "taskIndex": 0, "ip": "203.0.113.66",
              "port": 2222}
    path = "/api/v1/jobs/%s/ssh/report" % name
    assert_error(api.call("POST", path, json=forged, headers={"X-PAI-Job-Secret": first}),
                 403, "ForbiddenUserError", "reported already")
    assert ssh_info(api, name)["containers"][0]["sshIp"] != "203.0.113.66"
    assert execute(api, tok, name, "STOP").status_code == 200
    wait_state(api, name, {"STOPPED"})
    assert execute(api, tok, name, "START").status_code == 200
    wait_state(api, name, {"RUNNING"})
    wait_containers(api, name, 1)
    second = db_query(api, "SELECT secret FROM pai_job_keys WHERE name = '%s'" % name)
    assert second != first
    forged["attempt"] = 1
    assert_error(api.call("POST", path, json=forged, headers={"X-PAI-Job-Secret": first}),
                 403, "ForbiddenUserError", "wrong secret")
    execute(api, tok, name, "STOP")


# ---- 4. SSH port squatting, host keys --------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_squatted_ssh_port_is_not_reported(api):
    """A listener on the task's SSH port before the task starts: the task's
    sshd cannot bind, and the task does not report the port (users are not
    sent to the squatter); the command still runs."""
    _, tok = api.make_user()
    port = free_port()
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("0.0.0.0", port))
    squatter.listen(5)
    try:
        cfg = job(api.unique("squat"), "sleep 6; echo ran")
        cfg["taskRoles"][0]["portList"] = [{"label": "ssh", "beginAt": port, "portNumber": 1}]
        name = submit_ok(api, tok, cfg)
        wait_state(api, name, {"RUNNING"})
        time.sleep(3)
        assert ssh_info(api, name)["containers"] == []
        final = wait_state(api, name, {"SUCCEEDED", "FAILED"})
        assert final["state"] == "SUCCEEDED", final
        err = open(os.path.join(job_dir(api, name), "main-0.err")).read()
        assert "sshd could not listen on port %d" % port in err, err
    finally:
        squatter.close()


def test_ssh_view_publishes_the_host_key(api):
    """GET /ssh carries each task's host key, its fingerprint and a
    known_hosts line, which ssh then verifies strictly."""
    _, tok = api.make_user()
    name = submit_ok(api, tok, job(api.unique("hk"), "sleep 60"))
    wait_state(api, name, {"RUNNING"})
    c = wait_containers(api, name, 1)["containers"][0]
    pub = open(os.path.join(job_dir(api, name), "main-0.ssh", "host_key.pub")).read().split()
    assert c["hostKey"] == " ".join(pub[:2])
    fp = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f",
                         os.path.join(job_dir(api, name), "main-0.ssh", "host_key.pub")],
                        capture_output=True, text=True, check=True).stdout.split()[1]
    assert c["hostKeyFingerprint"] == fp
    assert c["knownHosts"] == "[%s]:%s %s" % (c["sshIp"], c["sshPort"], c["hostKey"])
    key = api.call("GET", "/api/v1/jobs/%s/ssh/key" % name, tok).text
    d = os.path.join(ROOT, "var", "tmp-hk-" + name)
    os.makedirs(d, exist_ok=True)
    try:
        with open(os.path.join(d, "key"), "w") as f:
            f.write(key)
        os.chmod(os.path.join(d, "key"), 0o600)
        with open(os.path.join(d, "known_hosts"), "w") as f:
            f.write(c["knownHosts"] + "\n")
        out = subprocess.run(
            ["ssh", "-i", os.path.join(d, "key"), "-p", c["sshPort"],
             "-o", "StrictHostKeyChecking=yes", "-o",
             "UserKnownHostsFile=" + os.path.join(d, "known_hosts"), "-o", "BatchMode=yes",
             "-o", "ConnectTimeout=10", "paijob@" + c["sshIp"], "echo $PAI_JOB_NAME"],
            capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.strip() == name, out.stderr
    finally:
        subprocess.run(["rm", "-rf", d])
        execute(api, tok, name, "STOP")


# ---- 5. a Slurm job labelled like ours ---------------------------------------------

def sbatch_as(api, account, comment, seconds=20):
    env = dict(os.environ, SLURM_CONF=os.path.join(api.slurmdir, "slurm.conf"))
    out = subprocess.run(["runuser", "-u", account, "--", "sbatch", "--parsable", "-o",
                          "/dev/null", "--chdir=/tmp", "--comment=" + comment, "--partition=pai",
                          "--wrap", "sleep %d" % seconds],
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def scancel(api, jobid):
    subprocess.run(["scancel", jobid], env=dict(os.environ, SLURM_CONF=os.path.join(
        api.slurmdir, "slurm.conf")))


def test_a_lookalike_slurm_job_is_not_adopted(api):
    """A queued job cannot be hijacked by another account's Slurm job that
    carries its label: the sync adopts only jobs of the expected account with
    the attempt's own tag; the victim's own command runs later."""
    wait_idle(api, timeout=120)
    user, tok = api.make_user()
    r = api.call("PUT", "/api/v1/user/%s/virtualClusters" % user, api.admin_token,
                 json={"virtualClusters": "vc2"})
    assert r.status_code == 201, r.text
    # vc2 holds 2 of the cluster's 4 CPUs: a blocker fills it, the victim queues
    blocker = submit_ok(api, tok, dict(job(api.unique("blk"), "sleep 60"), virtualCluster="vc2",
                                       taskRoles=[{"name": "main", "cpuNumber": 2,
                                                   "memoryMB": 128, "command": "sleep 60"}]))
    wait_state(api, blocker, {"RUNNING"})
    victim = submit_ok(api, tok, dict(job(api.unique("vic"), "echo mine"), virtualCluster="vc2"))
    assert status(api, victim)["subState"] == "QUEUED"
    fakes = [sbatch_as(api, "nobody", "pai:%s:0" % victim),
             sbatch_as(api, "nobody", "pai:%s:0:%s" % (victim, "0" * 32))]
    try:
        time.sleep(4)
        st = status(api, victim)
        assert st["state"] == "WAITING" and st["subState"] == "QUEUED", st
        # ... and the look-alikes are not ours to cancel either
        assert all(j in subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True,
                                       text=True, env=dict(os.environ, SLURM_CONF=os.path.join(
                                           api.slurmdir, "slurm.conf"))).stdout.split()
                   for j in fakes)
        assert execute(api, tok, blocker, "STOP").status_code == 200
        final = wait_state(api, victim, {"SUCCEEDED", "FAILED"}, timeout=60)
        assert final["state"] == "SUCCEEDED", final
        assert open(os.path.join(job_dir(api, victim), "main-0.out")).read() == "mine\n"
    finally:
        for j in fakes:
            scancel(api, j)


# ---- 6. memory and CPUs enforced ------------------------------------------------------

def test_memory_over_memory_mb_is_killed(api):
    _, tok = api.make_user()
    name = submit_ok(api, tok, job(api.unique("oom"),
                                   "python3 -c 'a = bytearray(600 * 1024 * 1024); print(len(a))'"))
    final = wait_state(api, name, {"SUCCEEDED", "FAILED"})
    assert final["state"] == "FAILED", final
    assert "main-0 ran out of memory" in final["appExitDiagnostics"], final


def test_a_task_gets_only_its_cpus(api):
    _, tok = api.make_user()
    name = submit_ok(api, tok, job(api.unique("cpu"),
                                   "nproc; grep Cpus_allowed_list /proc/self/status"))
    assert wait_state(api, name, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    out = open(os.path.join(job_dir(api, name), "main-0.out")).read().split("\n")
    assert out[0] == "1", out


# ---- 7. bounded lists, linear cost -----------------------------------------------------

def children_hwm_kb(api):
    """The peak resident memory (VmHWM) of each httpd child, by pid."""
    master = open(os.path.join(api.instdir, "httpd.pid")).read().strip()
    out = {}
    for status_path in glob.glob("/proc/[0-9]*/status"):
        try:
            text = open(status_path).read()
        except OSError:
            continue
        if re.search(r"^PPid:\s+%s$" % master, text, re.M) and "apache2" in text.split("\n")[0]:
            m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
            out[status_path.split("/")[2]] = int(m.group(1)) if m else 0
    return out


def largest_config(api):
    """The largest config this cluster accepts: 4 roles (the 4 CPUs), each with
    every port label allowed, the most jobEnvs, and commands that fill the
    body limit."""
    labels = [{"label": "p%d" % i, "portNumber": 3} for i in range(32)]
    roles = [{"name": "r%d" % r, "taskNumber": 1, "cpuNumber": 1, "memoryMB": 128,
              "portList": labels, "command": "true # " + "x" * 65000} for r in range(4)]
    envs = {"E%d" % i: "v" * 900 for i in range(256)}
    return {"jobName": api.unique("max"), "image": "x", "jobEnvs": envs, "taskRoles": roles}


def test_largest_config_costs_bounded_memory_and_time(api):
    wait_idle(api, timeout=120)
    _, tok = api.make_user()
    before = children_hwm_kb(api)
    cfg = largest_config(api)
    t0 = time.time()
    name = submit_ok(api, tok, cfg)
    t_submit = time.time() - t0
    t0 = time.time()
    for _ in range(20):
        assert api.call("GET", "/api/v1/jobs/" + name).status_code == 200
    t_get = (time.time() - t0) / 20
    after = children_hwm_kb(api)
    grown = max([after[p] - before.get(p, 0) for p in after] or [0])
    print("\nLARGEST CONFIG: %d bytes; submit %.3f s, GET %.4f s; child peak grew %d kB "
          "(largest child peak %d kB)" % (len(str(cfg)), t_submit, t_get, grown,
                                            max(after.values())))
    assert t_submit < 5 and t_get < 0.5
    # ASan keeps freed memory in a quarantine of up to 256 MB
    assert grown < (400 if os.environ.get("SAN_PRELOAD") else 100) * 1024, grown
    final = wait_state(api, name, {"SUCCEEDED", "FAILED"}, timeout=120)
    assert final["state"] == "SUCCEEDED", final


def test_list_bounds(api):
    _, tok = api.make_user()

    def bad(cfg, part):
        assert_error(submit(api, tok, cfg), 400, "InvalidParametersError", part)
    cfg = job(api.unique("b"))
    cfg["taskRoles"][0]["portList"] = [{"label": "l%d" % i} for i in range(33)]
    bad(cfg, "more than 32 labels")
    cfg["taskRoles"][0]["portList"] = [{"label": "a", "portNumber": 100},
                                       {"label": "b", "portNumber": 1}]
    bad(cfg, "more than 100 ports per task")
    bad(job(api.unique("b"), jobEnvs={"E%d" % i: "v" for i in range(257)}),
        "more than 256 entries")
    bad(job(api.unique("b"), jobEnvs={"E": "v" * 40000}), "longer than 32768")
    # more ports than the cluster's task port range (10000 here) holds
    cfg = job(api.unique("b"))
    cfg["taskRoles"][0].update(taskNumber=200, portList=[{"label": "a", "portNumber": 50}])
    bad(cfg, "need 10200 ports")


# ---- 8. per-user limits ---------------------------------------------------------------
# (in test_peruser.py: a server of its own with small limits)

# ---- 9. the login limit under concurrency ---------------------------------------------

def test_concurrent_wrong_passwords_are_all_counted(api):
    """40 wrong passwords at once for one user: only the limit's worth (4 per
    user and address here) are even tried; the rest get 429."""
    user, _ = api.make_user()
    with concurrent.futures.ThreadPoolExecutor(40) as ex:
        codes = list(ex.map(lambda _: login_from(api, "127.0.0.6", user, "wrong-pw")[0],
                            range(40)))
    assert codes.count(401) <= 4, codes
    assert codes.count(429) >= 36, codes


# ---- 10. first come, first served -------------------------------------------------------

def test_a_big_job_keeps_its_place(api):
    """vc2 (2 CPUs): a 2-CPU job queued behind a 1-CPU one starts when that one
    ends, before any of the 1-CPU jobs submitted after it."""
    wait_idle(api, timeout=120)
    user, tok = api.make_user()
    api.call("PUT", "/api/v1/user/%s/virtualClusters" % user, api.admin_token,
             json={"virtualClusters": "vc2"})
    small = lambda n, s: dict(job(api.unique(n), "sleep %d" % s), virtualCluster="vc2")
    first = submit_ok(api, tok, small("s0", 6))
    wait_state(api, first, {"RUNNING"})
    big = submit_ok(api, tok, dict(small("big", 1), taskRoles=[
        {"name": "main", "cpuNumber": 2, "memoryMB": 128, "command": "sleep 1"}]))
    later = []
    for i in range(6):
        later.append(submit_ok(api, tok, small("s%d" % (i + 1), 2)))
        time.sleep(1)
    wait_state(api, big, {"SUCCEEDED"}, timeout=60)
    for n in later:
        wait_state(api, n, {"SUCCEEDED"}, timeout=90)
    launched = lambda n: status(api, n)["jobStatus"]["appLaunchedTime"]
    assert all(launched(big) <= launched(n) for n in later), \
        (launched(big), [launched(n) for n in later])


# ---- 11. anonymous refusals do not grow the audit log -------------------------------------

def test_anonymous_refusals_fold_in_the_audit_log(api):
    def rows():
        r = api.call("GET", "/api/v1/audit?limit=1000&action=job.submit", api.admin_token)
        assert r.status_code == 200, r.text
        return [a for a in r.json() if a["username"] == "" and a["status"] == 401]
    before = rows()
    for _ in range(200):
        assert api.call("POST", "/api/v1/jobs", json=job("anon")).status_code == 401
    after = rows()
    assert len(after) - len(before) <= 2, (len(before), len(after))
    assert sum(a["repeats"] for a in after) - sum(a["repeats"] for a in before) == 200


# ---- 12. links from the configuration, not from Host ------------------------------------

def test_links_ignore_the_host_header(api):
    _, tok = api.make_user()
    name = submit_ok(api, tok, job(api.unique("host")))
    r = api.call("GET", "/api/v1/jobs/%s/ssh" % name, headers={"Host": "evil.example"})
    link = r.json()["keyPair"]["privateKeyDirectDownloadLink"]
    assert link.startswith(api.base + "/api/v1/jobs/"), link
    assert "evil" not in link


# ---- 13. httpd's own errors in JSON ---------------------------------------------------

def raw(api, request):
    host, port = api.base.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.decode("latin-1"), body


def test_httpd_errors_are_json(api):
    import json
    big = b"Bearer " + b"x" * 16384
    code, head, body = raw(api, b"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: " +
                           big + b"\r\nConnection: close\r\n\r\n")
    assert code == 400 and "application/json" in head, (head, body[:200])
    assert set(json.loads(body)) == {"error", "message"}
    assert_error(api.call("GET", "/api/v1/jobs/a%00b"), 404, "NotFoundError")
    # past LimitRequestLine: httpd's 414, in JSON
    assert_error(api.call("GET", "/api/v1/jobs/" + "n" * 8192), 414, "InvalidParametersError")
    # a name that is no file name reaches the module (no file-system walk)
    assert_error(api.call("GET", "/api/v1/jobs/" + "n" * 4000), 404, "JobNotFound")


# ---- 14. one rule for state, and a folder removed takes its state with it ------------------

def test_state_of_a_removed_instance_is_collected(api):
    inst = os.path.join(ROOT, "var", "tmp-statedir-" + os.urandom(3).hex())
    os.makedirs(inst)
    state = subprocess.run(["scripts/statedir.sh", inst], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert state.startswith("/var/lib/pairest-state/") and os.path.isdir(state)
    open(os.path.join(state, "marker"), "w").close()
    # the same folder gives the same state; removed and made again, fresh state
    assert subprocess.run(["scripts/statedir.sh", inst], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip() == state
    subprocess.run(["rm", "-rf", inst], check=True)
    os.makedirs(inst)
    again = subprocess.run(["scripts/statedir.sh", inst], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert again != state and not os.path.exists(state)
    subprocess.run(["rm", "-rf", inst], check=True)
    # the test MariaDB lives where the mysql account reaches it, not in the clone
    assert mariadb_dir().startswith("/var/lib/pairest-state/")

"""Tasks in their job's image: a one-node Slurm behind its own httpd with
PaiContainerRuntime runc, and two real registries on loopback (Debian's
docker-registry: one open, one with htpasswd auth) serving the project's test
image (scripts/image.sh: Debian minbase with a marker file the host does not
have).  Each test plays what a user of a GPU cluster expects of containers:
the image's files, the account's uid, limits, STOP, GPUs, private registries,
errors that name the image, one pull per node, SSH into the container."""
import base64
import json
import os
import pwd
import re
import secrets
import signal
import shutil
import subprocess
import time

import pytest

from conftest import ADMIN, ROOT as ROOT_DIR, VAR, OwnServer, fresh_instance, sh, state_dir

PORT, SLURM_PORT = 19194, 30127
REGISTRY, REGISTRY_AUTH = "127.0.0.1:19195", "127.0.0.1:19196"
IMAGE = REGISTRY + "/pai/test:1"
MARKER = "mod_pairest test image"


class Server(OwnServer):
    def __init__(self, inst, statedir, password, port=PORT):
        super().__init__(inst, statedir, password, port)

    def state(self, name, states, timeout=90):
        return super().state(name, states, timeout)

    def attempt_dir(self, name, attempt=0):
        return os.path.join(self.statedir, "jobs", "paijob", name, "attempt-%d" % attempt)

    def output(self, name, task="w-0", attempt=0, stream="out"):
        try:
            with open(os.path.join(self.attempt_dir(name, attempt),
                                   "%s.%s" % (task, stream))) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_output(self, name, text, task="w-0", timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.output(name, task):
                return self.output(name, task)
            time.sleep(0.2)
        raise AssertionError("%s never printed %r: %r / %r" % (
            name, text, self.output(name, task), self.output(name, task, stream="err")))

    def submit(self, name, command, image=IMAGE, expect=201, **role):
        extra = {k: role.pop(k) for k in ("authFile", "dataDir", "outputDir", "codeDir")
                 if k in role}
        spec = dict({"name": "w", "taskNumber": 1, "cpuNumber": 1, "memoryMB": 128,
                     "command": command}, **role)
        r = self.call("POST", "/api/v1/jobs", json=dict(
            {"jobName": name, "image": image, "taskRoles": [spec]}, **extra))
        assert r.status_code == expect, r.text
        return r


def registry_log(name):
    with open(os.path.join(VAR, "test-registries", name, "registry.log")) as f:
        return f.read()


def host_processes(needle):
    """(pid, uid, mount namespace) of every process whose command line starts
    with needle (not the wrappers that carry it as an argument)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            if cmd.startswith(needle):
                st = os.stat("/proc/%s" % pid)
                found.append((int(pid), st.st_uid, os.readlink("/proc/%s/ns/mnt" % pid)))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


@pytest.fixture(scope="module")
def registries():
    """The test image, built once (about a minute; kept while its recipe holds),
    and the two registries, each holding it."""
    d = os.path.join(VAR, "test-registries")
    sh("scripts/image.sh", "build", os.path.join(VAR, "image"))
    for name in ("open", "auth"):
        sh("scripts/image.sh", "registry-stop", os.path.join(d, name))
    shutil.rmtree(d, ignore_errors=True)
    user, password = "puller", secrets.token_urlsafe(12)
    creds = os.path.join(d, "push-auth.json")
    os.makedirs(d)
    passfile = os.path.join(d, "registry.password")
    with open(passfile, "w") as f:
        f.write(password)
    os.chmod(passfile, 0o600)
    try:
        sh("scripts/image.sh", "registry-start", os.path.join(d, "open"), REGISTRY)
        sh("scripts/image.sh", "registry-start", os.path.join(d, "auth"), REGISTRY_AUTH,
           user, passfile)
        sh("scripts/image.sh", "push", os.path.join(VAR, "image"), IMAGE)
        with open(creds, "w") as f:
            json.dump({"auths": {REGISTRY_AUTH: {"auth": base64.b64encode(
                ("%s:%s" % (user, password)).encode()).decode()}}}, f)
        os.chmod(creds, 0o600)
        sh("scripts/image.sh", "push", os.path.join(VAR, "image"),
           REGISTRY_AUTH + "/private/test:1", creds)
        yield {"user": user, "password": password}
    finally:
        for name in ("open", "auth"):
            sh("scripts/image.sh", "registry-stop", os.path.join(d, name))


@pytest.fixture(scope="module")
def server(registries):
    inst = os.path.join(VAR, "test-containers")
    if os.path.isdir(inst):
        sh("scripts/slurm.sh", "stop", os.path.join(state_dir(inst), "slurm"))
    password = secrets.token_urlsafe(12)
    fresh_instance(inst, password)
    # A folder made anew has a state folder (and so an image cache) of its own.
    statedir = state_dir(inst)
    s = Server(inst, statedir, password)
    env = dict(os.environ, PAI_SLURM_PORT=str(SLURM_PORT), PAI_SLURM_GPUS="4",
               PAI_SLURM_DIR=s.slurmdir, PAI_JOBS_DIR=os.path.join(statedir, "jobs"),
               PAI_ADMIN_USERNAME=ADMIN, PAI_DB="sqlite3", PAI_CONTAINER_RUNTIME="runc",
               PAI_LISTEN="127.0.0.1:%d" % PORT,
               PAI_IMAGE_ALLOW="127.0.0.1:* localhost:*")
    try:
        sh("scripts/slurm.sh", "start", s.slurmdir, env=env)
        sh("scripts/httpd.sh", "start", inst, env=env)
        r = s.call("POST", "/api/v1/token", json={"username": ADMIN, "password": password})
        s.token = r.json()["token"]
        s.registries = registries
        yield s
    finally:
        sh("scripts/httpd.sh", "stop", inst)
        sh("scripts/slurm.sh", "stop", s.slurmdir)


def test_task_runs_in_the_image_as_the_account(server):
    s = server
    name = "ct_" + secrets.token_hex(3)
    # Where the job's account reaches it (the clone may sit in /root, 0700).
    data = os.path.join(s.statedir, "data-" + name)
    os.makedirs(data)
    with open(os.path.join(data, "input.txt"), "w") as f:
        f.write("data from the node\n")
    os.chmod(data, 0o755)
    os.chmod(os.path.join(data, "input.txt"), 0o644)
    assert not os.path.exists("/etc/pai-test-image")
    s.submit(name, 'cat /etc/pai-test-image; echo "uid $(id -u)"; cat /proc/self/uid_map; '
                   'echo "shm $(df -m /dev/shm | awk \'NR == 2 {print $2}\')"; '
                   'cat "$PAI_DATA_DIR/input.txt"; echo "env $PAI_JOB_NAME $GREETING"; '
                   'echo "pwd $(pwd)"; echo ready; exec sleep 31.5',
             shmMB=96, dataDir=data)
    st = s.state(name, {"RUNNING", "FAILED"})
    assert st["state"] == "RUNNING", st
    out = s.wait_output(name, "ready")
    assert MARKER in out, out
    assert "uid 0" in out and "data from the node" in out, out
    assert "shm 96" in out, out
    assert "env %s" % name in out and "pwd %s" % s.attempt_dir(name) in out, out
    # The uid 0 inside is the job's account on the node, alone.
    uid = pwd.getpwnam("paijob").pw_uid
    m = re.search(r"^\s*0\s+(\d+)\s+1\s*$", out, re.M)
    assert m and int(m.group(1)) == uid, out
    procs = host_processes("sleep 31.5")
    assert procs, "the task's process is not on the node"
    host_mnt = os.readlink("/proc/self/ns/mnt")
    for pid, puid, mnt in procs:
        assert puid == uid, (pid, puid)
        assert mnt != host_mnt, "the task shares the node's mount namespace"
    s.call("PUT", "/api/v1/jobs/%s/executionType" % name, json={"value": "STOP"})
    s.state(name, {"STOPPED"})


def test_stop_leaves_no_container_process(server):
    s = server
    name = "ctstop_" + secrets.token_hex(3)
    s.submit(name, "echo ready; sleep 1234.5 & sleep 1234.5; wait", taskNumber=2)
    s.state(name, {"RUNNING"})
    s.wait_output(name, "ready")
    s.wait_output(name, "ready", task="w-1")
    deadline = time.time() + 10
    while len(host_processes("sleep 1234.5")) < 4 and time.time() < deadline:
        time.sleep(0.2)
    assert len(host_processes("sleep 1234.5")) == 4
    t0 = time.time()
    assert s.call("PUT", "/api/v1/jobs/%s/executionType" % name,
                  json={"value": "STOP"}).status_code == 200
    s.state(name, {"STOPPED"})
    # The job is STOPPED once Slurm took the cancel; its processes end as
    # Slurm signals the steps (TERM, then KILL after KillWait = 5 s).
    deadline = time.time() + 20
    while host_processes("sleep 1234.5") and time.time() < deadline:
        time.sleep(0.1)
    print("\nCONTAINERS STOP -> no process left in %.2f s" % (time.time() - t0))
    left = host_processes("sleep 1234.5")
    assert not left, left
    # runc kept no container of the job.
    state = subprocess.run(["runuser", "-u", "paijob", "--", "runc", "--root",
                            "/tmp/pai-runc-%d" % pwd.getpwnam("paijob").pw_uid, "list", "-q"],
                           capture_output=True, text=True).stdout
    assert name not in state and "pai-" not in state, state


def test_a_wrapper_killed_outright_leaves_no_container(server):
    """A task wrapper that dies by SIGKILL (or whose TERM trap fails) cannot
    remove its container: Slurm's epilog kills what is left in the job's
    cgroups and deletes runc's record of the container, as the account."""
    s = server
    name = "ctkill_" + secrets.token_hex(3)
    s.submit(name, "echo ready; sleep 1234.6")
    st = s.state(name, {"RUNNING"})
    s.wait_output(name, "ready")
    wrapper = [pid for pid in os.listdir("/proc") if pid.isdigit() and
               b"pai-task.sh" in open_proc(pid, "cmdline") and
               s.attempt_dir(name).encode() in open_proc(pid, "cmdline")]
    assert wrapper, "no wrapper of %s" % name
    for pid in wrapper:
        os.kill(int(pid), signal.SIGKILL)
    s.state(name, {"FAILED", "STOPPED", "SUCCEEDED"})
    uid = pwd.getpwnam("paijob").pw_uid
    deadline = time.time() + 30
    while time.time() < deadline:
        state = subprocess.run(["runuser", "-u", "paijob", "--", "runc", "--root",
                                "/tmp/pai-runc-%d" % uid, "list", "-q"],
                               capture_output=True, text=True).stdout
        if "pai-%s." % st["appId"] not in state and not host_processes("sleep 1234.6"):
            break
        time.sleep(0.3)
    assert "pai-%s." % st["appId"] not in state, state
    assert not host_processes("sleep 1234.6")


def open_proc(pid, what):
    try:
        with open("/proc/%s/%s" % (pid, what), "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_memory_limit_holds_inside(server):
    s = server
    name = "ctoom_" + secrets.token_hex(3)
    s.submit(name, "echo start; tail /dev/zero", memoryMB=128)
    st = s.state(name, {"FAILED", "SUCCEEDED"}, timeout=120)
    assert st["state"] == "FAILED", st
    assert "ran out of memory" in st["appExitDiagnostics"], st


def test_gpus_are_the_steps_alone(server):
    s = server
    name = "ctgpu_" + secrets.token_hex(3)
    s.submit(name, 'echo "devs $(ls /dev | grep -c nvidia) $(ls /dev | grep nvidia | tr "\\n" " ")"; '
                   'echo "cvd $CUDA_VISIBLE_DEVICES"; '
                   'for d in /dev/nvidia*; do (exec 3<"$d") 2>&1 | tail -n 1; done; echo done',
             gpuNumber=1)
    st = s.state(name, {"SUCCEEDED", "FAILED"})
    out = s.output(name)
    assert st["state"] == "SUCCEEDED", (st, out, s.output(name, stream="err"))
    m = re.search(r"devs (\d+) (\S*)", out)
    assert m and m.group(1) == "1", out
    # Opening the fake GPU (major 242, no driver) gives ENXIO, not EPERM: the
    # step's devices cgroup allows the one it got.
    assert "No such device or address" in out, out


def test_private_registry_with_auth_file(server):
    s = server
    creds = s.registries
    # The account's own file, mode 0600: root reads it only as that account.
    home = pwd.getpwnam("paijob").pw_dir
    good = os.path.join(home, "registry-auth-good")
    bad = os.path.join(home, "registry-auth-bad")
    for path, pw in ((good, creds["password"]), (bad, "not-" + creds["password"])):
        with open(path, "w") as f:
            f.write("%s\n%s\n%s\n" % (REGISTRY_AUTH, creds["user"], pw))
        os.chown(path, pwd.getpwnam("paijob").pw_uid, pwd.getpwnam("paijob").pw_gid)
        os.chmod(path, 0o600)
    image = REGISTRY_AUTH + "/private/test:1"
    ok, refused, none = ("ctauth%s_%s" % (k, secrets.token_hex(3)) for k in "ABC")
    s.submit(ok, "cat /etc/pai-test-image", image=image, authFile=good)
    t0 = time.time()
    s.submit(refused, "cat /etc/pai-test-image", image=image, authFile=bad)
    s.submit(none, "cat /etc/pai-test-image", image=image)
    st = s.state(ok, {"SUCCEEDED", "FAILED"})
    assert st["state"] == "SUCCEEDED", st
    assert MARKER in s.output(ok)
    for n in (refused, none):
        st = s.state(n, {"SUCCEEDED", "FAILED"}, timeout=30)
        assert st["state"] == "FAILED", st
        assert image in st["appExitDiagnostics"], st
        assert "refused the credentials" in st["appExitDiagnostics"], st
    print("\nCONTAINERS refused credentials -> FAILED in %.2f s" % (time.time() - t0))
    # The password is nowhere: not in a reply, a log, the job folders, the
    # job's Slurm record.
    pw = creds["password"]
    for n in (ok, refused):
        assert pw not in s.call("GET", "/api/v1/jobs/%s/config" % n).text
        assert pw not in s.call("GET", "/api/v1/jobs/%s" % n).text
    assert pw not in s.call("GET", "/api/v1/audit").text
    squeue = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%k"], capture_output=True,
                            text=True, env=dict(os.environ, SLURM_CONF=os.path.join(
                                s.slurmdir, "slurm.conf"))).stdout
    assert "auth=" + good in squeue and pw not in squeue
    for top in (s.inst, s.statedir):
        for d, _, files in os.walk(top):
            for f in files:
                p = os.path.join(d, f)
                if (os.path.islink(p) or not os.path.isfile(p) or "/images/" in p
                        or os.path.getsize(p) > 50 << 20):
                    continue
                with open(p, "rb") as fh:
                    assert pw.encode() not in fh.read(), p


def test_missing_image_fails_fast_naming_it(server):
    s = server
    name = "ctmiss_" + secrets.token_hex(3)
    image = REGISTRY + "/pai/no-such-image:1"
    t0 = time.time()
    s.submit(name, "true", image=image)
    st = s.state(name, {"SUCCEEDED", "FAILED"}, timeout=30)
    took = time.time() - t0
    print("\nCONTAINERS missing image -> FAILED in %.2f s" % took)
    assert st["state"] == "FAILED" and took < 30, st
    assert image in st["appExitDiagnostics"], st
    assert "no such image or tag" in st["appExitDiagnostics"], st
    # A registry nobody serves: the same, fast, with its own reason.
    name = "ctdown_" + secrets.token_hex(3)
    s.submit(name, "true", image="127.0.0.1:1/pai/test:1")
    st = s.state(name, {"SUCCEEDED", "FAILED"}, timeout=30)
    assert "cannot be reached" in st["appExitDiagnostics"], st


def test_two_tasks_on_a_node_pull_once(server):
    s = server
    # An image no node has yet.
    ref = labelled_image("once" + secrets.token_hex(3))
    repo = ref.split("/", 1)[1].rsplit(":", 1)[0]
    before = registry_log("open").count("GET /v2/%s/blobs/" % repo)
    name = "ctonce_" + secrets.token_hex(3)
    s.submit(name, "cat /etc/pai-test-image", image=ref, taskNumber=2)
    st = s.state(name, {"SUCCEEDED", "FAILED"})
    assert st["state"] == "SUCCEEDED", st
    pulled = registry_log("open").count("GET /v2/%s/blobs/" % repo) - before
    # One pull is the image's blobs once: its config and its one layer.
    assert pulled == 2, pulled
    # A second job on the node asks for the manifest alone.
    name2 = "ctonce2_" + secrets.token_hex(3)
    s.submit(name2, "cat /etc/pai-test-image", image=ref)
    assert s.state(name2, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    assert registry_log("open").count("GET /v2/%s/blobs/" % repo) - before == 2


def test_ssh_lands_in_the_container(server):
    s = server
    name = "ctssh_" + secrets.token_hex(3)
    s.submit(name, "echo ready; sleep 60", portList=[])
    s.state(name, {"RUNNING"})
    s.wait_output(name, "ready")
    deadline = time.time() + 30
    while time.time() < deadline:
        boxes = s.call("GET", "/api/v1/jobs/%s/ssh" % name).json().get("containers", [])
        if boxes and boxes[0].get("sshPort"):
            break
        time.sleep(0.3)
    box = boxes[0]
    d = os.path.join(s.inst, "ssh-" + name)
    os.makedirs(d)
    with open(os.path.join(d, "key"), "w") as f:
        f.write(s.call("GET", "/api/v1/jobs/%s/ssh/key" % name).text)
    os.chmod(os.path.join(d, "key"), 0o600)
    with open(os.path.join(d, "known_hosts"), "w") as f:
        f.write(box["knownHosts"] + "\n")
    out = subprocess.run(["ssh", "-i", os.path.join(d, "key"), "-p", str(box["sshPort"]),
                          "-o", "StrictHostKeyChecking=yes",
                          "-o", "UserKnownHostsFile=" + os.path.join(d, "known_hosts"),
                          "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                          "paijob@" + box["sshIp"],
                          'cat /etc/pai-test-image; echo "job $PAI_JOB_NAME"; pwd; '
                          'ps -e -o comm= | sort -u | tr "\\n" " "'],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert MARKER in out.stdout, out.stdout
    assert "job " + name in out.stdout and s.attempt_dir(name) in out.stdout, out.stdout
    # The container's process tree: its own sleep, none of the node's.
    assert "sleep" in out.stdout and "slurmd" not in out.stdout, out.stdout
    s.call("PUT", "/api/v1/jobs/%s/executionType" % name, json={"value": "STOP"})
    s.state(name, {"STOPPED"})


def test_images_outside_the_allow_rules_are_refused(server):
    s = server
    r = s.submit("ctdeny_" + secrets.token_hex(3), "true", image="ubuntu:22.04", expect=400)
    body = r.json()
    assert "docker.io/library/ubuntu" in body["message"], body
    assert "PaiImageAllow 127.0.0.1:* localhost:*" in body["message"], body
    for bad in ("UPPER/case:1", "127.0.0.1:19195/pai/test:bad tag", "a@sha256:123",
                "127.0.0.1:19195//x:1", "-x:1"):
        r = s.submit("ctbad_" + secrets.token_hex(3), "true", image=bad, expect=400)
        assert "image" in r.json()["message"], r.text
    r = s.submit("ctbadauth_" + secrets.token_hex(3), "true", authFile="relative/path",
                 expect=400)
    assert "authFile" in r.json()["message"], r.text


def test_start_latency_against_tasks_on_the_node(server):
    """What a container costs a task to start, measured against a second
    server on the same Slurm whose tasks run on the node (PaiContainerRuntime
    none): from the task wrapper's first act (its start mark) to the
    command's first line, median of 5 each, taken in turns."""
    s = server
    inst = fresh_instance(os.path.join(VAR, "test-containers-bare"), s.password)
    bare = Server(inst, s.statedir, s.password, PORT + 10)
    env = dict(os.environ, PAI_SLURM_DIR=s.slurmdir, PAI_JOBS_DIR=os.path.join(s.statedir, "jobs"),
               PAI_ADMIN_USERNAME=ADMIN, PAI_DB="sqlite3", PAI_CONTAINER_RUNTIME="none",
               PAI_LISTEN="127.0.0.1:%d" % (PORT + 10))
    try:
        sh("scripts/httpd.sh", "start", inst, env=env)
        bare.token = bare.call("POST", "/api/v1/token",
                               json={"username": ADMIN, "password": s.password}).json()["token"]
        took = {"runc": [], "none": []}
        for i in range(5):
            for kind, srv in (("runc", s), ("none", bare)):
                name = "ctlat%s%d_%s" % (kind, i, secrets.token_hex(2))
                srv.submit(name, "date +%s.%N")
                st = srv.state(name, {"SUCCEEDED", "FAILED"})
                assert st["state"] == "SUCCEEDED", st
                mark = os.stat(os.path.join(srv.attempt_dir(name), ".w-0.started")).st_mtime
                took[kind].append(float(srv.output(name).split()[0]) - mark)
        med = {k: sorted(v)[len(v) // 2] for k, v in took.items()}
        print("\nCONTAINERS start latency per task (wrapper start -> command), median of 5: "
              "runc %.3f s, on the node %.3f s; all: %s" % (
                  med["runc"], med["none"],
                  {k: ["%.3f" % x for x in v] for k, v in took.items()}))
        assert med["runc"] < 3, took
    finally:
        sh("scripts/httpd.sh", "stop", inst)


def labelled_image(tag):
    """The test image with a label of its own: a new config, so a new digest
    (the cache keeps images by digest); pushed to the open registry."""
    layout = os.path.join(VAR, "test-registries", tag)
    shutil.rmtree(layout, ignore_errors=True)
    shutil.copytree(os.path.join(VAR, "image", "layout"), os.path.join(layout, "layout"))
    sh("umoci", "config", "--image", os.path.join(layout, "layout") + ":pai-test",
       "--config.label=pai.test.tag=" + tag)
    ref = "%s/pai/%s:1" % (REGISTRY, tag)
    sh("scripts/image.sh", "push", layout, ref)
    return ref


def test_cache_pulls_once_under_concurrency_and_evicts_what_no_job_holds(server):
    """The node's cache alone (scripts/job/image.sh, as the prolog runs it):
    two pulls of one new image at once make one download and one bundle; past
    its size bound the cache drops the least recently used bundle no job
    holds, never one a job holds."""
    s = server
    cache = os.path.join(s.inst, "cache-drill")
    markers = os.path.join(s.inst, "markers-drill")
    a = labelled_image("evict-a" + secrets.token_hex(2))
    b = labelled_image("evict-b" + secrets.token_hex(2))

    def pull(job, ref, max_mb=100000):
        return subprocess.Popen(["bash", "scripts/job/image.sh", "pull", cache, str(max_mb),
                                 "127.0.0.1:*", "", markers, str(job), "n1", ref, "", "paijob"],
                                cwd=ROOT_DIR, stderr=subprocess.PIPE, text=True)

    def marker(job):
        with open(os.path.join(markers, "%d.n1" % job)) as f:
            return f.read().split("\n")[0]

    repo_a = a.split("/", 1)[1].rsplit(":", 1)[0]
    before = registry_log("open").count("GET /v2/%s/blobs/" % repo_a)
    p1, p2 = pull(1, a), pull(2, a)
    assert p1.wait() == 0 and p2.wait() == 0, (p1.stderr.read(), p2.stderr.read())
    assert marker(1) == marker(2) and marker(1).startswith("ok "), (marker(1), marker(2))
    assert registry_log("open").count("GET /v2/%s/blobs/" % repo_a) - before == 2
    bundles = os.listdir(os.path.join(cache, "bundles"))
    assert len(bundles) == 1, bundles
    bundle_a = marker(1)[3:]
    # Job 2 still holds A: pulling B past a 1 MB bound keeps both.
    assert pull(3, b, max_mb=1).wait() == 0
    assert os.path.isdir(bundle_a) and len(os.listdir(os.path.join(cache, "bundles"))) == 2
    # Both jobs that held A end (the epilog's release): the next pull drops A.
    for job in (1, 2):
        subprocess.run(["bash", "scripts/job/image.sh", "release", markers, str(job), "n1"],
                       cwd=ROOT_DIR, check=True)
    assert pull(4, b, max_mb=1).wait() == 0
    assert not os.path.exists(bundle_a)
    assert os.path.isdir(marker(4)[3:] + "/rootfs"), "the bundle a job holds stays"
    shutil.rmtree(cache)

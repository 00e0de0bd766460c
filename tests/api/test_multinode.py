"""A 3-node Slurm on this machine (PAI_SLURM_NODES=3: one network, UTS and
mount namespace per node on a private bridge) behind its own httpd: jobs land
on different nodes, report their sshd from inside a node to httpd's bridge
address, are reached there by SSH with a verified host key, and the cgroup
limits hold on every node.  Stopping removes every namespace, link and
process.  (Jobs that span nodes are issue 13's; each job here fits a node.)"""
import os
import secrets
import shutil
import subprocess
import time

import pytest
import requests

from conftest import ADMIN, VAR, sh, state_dir

PORT, SLURM_PORT = 19193, 29817


class Cluster:
    def __init__(self, inst, statedir, password):
        self.inst, self.statedir, self.password = inst, statedir, password
        self.slurmdir = os.path.join(statedir, "slurm")
        self.base = "http://127.0.0.1:%d" % PORT
        self.token = None

    def call(self, method, path, **kw):
        headers = kw.pop("headers", {})
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        return requests.request(method, self.base + path, headers=headers, timeout=30, **kw)

    def state(self, name, states, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.call("GET", "/api/v1/jobs/" + name).json()
            if st["state"] in states:
                return st
            time.sleep(0.3)
        raise AssertionError("%s never reached %s: %s" % (name, states, st))

    def output(self, name, task="w-0"):
        with open(os.path.join(self.statedir, "jobs", "paijob", name, "attempt-0",
                               task + ".out")) as f:
            return f.read()


def network_left(port):
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                           text=True).stdout
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    tag = "pai%d" % port
    return [l for l in links.splitlines() if tag in l] + \
        [n for n in netns.splitlines() if n.startswith(tag)]


@pytest.fixture(scope="module")
def cluster():
    inst = os.path.join(VAR, "test-multinode")
    if os.path.isdir(inst):
        sh("scripts/httpd.sh", "stop", inst)
        sh("scripts/slurm.sh", "stop", os.path.join(state_dir(inst), "slurm"))
    shutil.rmtree(inst, ignore_errors=True)
    os.makedirs(inst)
    statedir = state_dir(inst)
    password = secrets.token_urlsafe(12)
    with open(os.path.join(inst, "admin.password"), "w") as f:
        f.write(password + "\n")
    os.chmod(os.path.join(inst, "admin.password"), 0o600)
    c = Cluster(inst, statedir, password)
    env = dict(os.environ, PAI_SLURM_NODES="3", PAI_SLURM_CPUS="4", PAI_SLURM_GPUS="2",
               PAI_SLURM_MEMORY_MB="4096", PAI_SLURM_NODE_TIMEOUT="10",
               PAI_SLURM_PORT=str(SLURM_PORT),
               PAI_SLURM_DIR=c.slurmdir, PAI_JOBS_DIR=os.path.join(statedir, "jobs"),
               PAI_ADMIN_USERNAME=ADMIN, PAI_DB="sqlite3")
    try:
        t0 = time.time()
        sh("scripts/slurm.sh", "start", c.slurmdir, env=env)
        c.start_secs = time.time() - t0
        c.env = env
        ctl = open(os.path.join(c.slurmdir, "ctl_address")).read().strip()
        assert ctl.startswith("10.213."), ctl
        env.update(PAI_LISTEN="127.0.0.1:%d" % PORT, PAI_LISTEN_EXTRA="%s:%d" % (ctl, PORT),
                   PAI_REPORT_URL="http://%s:%d" % (ctl, PORT))
        sh("scripts/httpd.sh", "start", inst, env=env)
        r = c.call("POST", "/api/v1/token", json={"username": ADMIN, "password": password})
        c.token = r.json()["token"]
        yield c
    finally:
        sh("scripts/httpd.sh", "stop", inst)
        sh("scripts/slurm.sh", "stop", c.slurmdir)


def submit(c, name, command, retry=0, **role):
    spec = dict({"name": "w", "taskNumber": 1, "cpuNumber": 1, "memoryMB": 128,
                 "command": command}, **role)
    r = c.call("POST", "/api/v1/jobs", json={"jobName": name, "image": "x", "retryCount": retry,
                                             "taskRoles": [spec]})
    assert r.status_code == 201, r.text
    return name


def test_jobs_land_on_their_nodes_and_report_from_there(cluster):
    c = cluster
    print("\nMULTINODE 3 nodes started in %.2f s" % c.start_secs)
    names = [submit(c, "mn%d_%s" % (i, secrets.token_hex(2)),
                    "hostname; echo $PAI_CONTAINER_HOST_IP; echo $CUDA_VISIBLE_DEVICES; sleep 60",
                    cpuNumber=4, gpuNumber=1) for i in range(3)]
    hosts = {}
    for n in names:
        st = c.state(n, {"RUNNING"})
        ip = st["taskRoles"]["w"]["taskStatuses"][0]["containerIp"]
        deadline = time.time() + 20
        while time.time() < deadline and c.output(n).count("\n") < 3:
            time.sleep(0.2)
        host, task_ip, cuda = c.output(n).split("\n")[:3]
        assert task_ip == ip and ip.startswith("10.213."), (task_ip, ip)
        assert cuda == "0", cuda
        hosts[host] = ip
    # a 4-CPU job per 4-CPU node: all three nodes, each at its own address
    assert sorted(hosts) == ["pai-n1", "pai-n2", "pai-n3"], hosts
    assert len(set(hosts.values())) == 3
    # the sshd of the job on pai-n2 reported its node's address from inside the
    # node; SSH with the published host key lands on pai-n2
    n2 = [n for n in names if c.output(n).startswith("pai-n2\n")][0]
    deadline = time.time() + 20
    while time.time() < deadline:
        ssh = c.call("GET", "/api/v1/jobs/%s/ssh" % n2).json()
        if ssh["containers"]:
            break
        time.sleep(0.3)
    box = ssh["containers"][0]
    assert box["sshIp"] == hosts["pai-n2"], box
    d = os.path.join(c.inst, "ssh-check")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "key"), "w") as f:
        f.write(c.call("GET", "/api/v1/jobs/%s/ssh/key" % n2).text)
    os.chmod(os.path.join(d, "key"), 0o600)
    with open(os.path.join(d, "known_hosts"), "w") as f:
        f.write(box["knownHosts"] + "\n")
    out = subprocess.run(["ssh", "-i", os.path.join(d, "key"), "-p", box["sshPort"],
                          "-o", "StrictHostKeyChecking=yes",
                          "-o", "UserKnownHostsFile=" + os.path.join(d, "known_hosts"),
                          "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                          "paijob@" + box["sshIp"], "hostname"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "pai-n2", out.stderr
    for n in names:
        assert c.call("PUT", "/api/v1/jobs/%s/executionType" % n,
                      json={"value": "STOP"}).status_code == 200
    for n in names:
        c.state(n, {"STOPPED"})


def test_limits_hold_on_every_node(cluster):
    """cgroups (proctrack/cgroup, task/cgroup) in the nodes' namespaces: a task
    sees only its CPUs, and one past its memoryMB is killed with that reason."""
    c = cluster
    cpu = submit(c, "mncpu_%s" % secrets.token_hex(2), "nproc", cpuNumber=2)
    oom = submit(c, "mnoom_%s" % secrets.token_hex(2),
                 "python3 -c 'a = bytearray(500 * 1024 * 1024)'", memoryMB=100)
    assert c.state(cpu, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    assert c.output(cpu).strip() == "2"
    st = c.state(oom, {"SUCCEEDED", "FAILED"})
    assert st["state"] == "FAILED" and "w-0 ran out of memory" in st["appExitDiagnostics"], st


def test_a_node_dies(cluster):
    """Every process of a node killed under two jobs: both end FAILED naming
    the node (Slurm's NODE_FAIL, no requeue); the one with retryCount 1 runs
    again as a new attempt on a node that lives."""
    c = cluster
    tag = secrets.token_hex(2)
    def node_of(n):
        deadline = time.time() + 20
        while time.time() < deadline and not c.output(n).strip():
            time.sleep(0.2)
        return c.output(n).split("\n")[0]
    # two nodes busy, so that both jobs land on the third
    blockers = [submit(c, "nfblk%d_%s" % (i, tag), "hostname; sleep 120", cpuNumber=4)
                for i in (1, 2)]
    for b in blockers:
        c.state(b, {"RUNNING"})
    busy = {node_of(b) for b in blockers}
    (victim,) = {"pai-n1", "pai-n2", "pai-n3"} - busy
    again = submit(c, "nfretry_" + tag, 'hostname; [ "$PAI_JOB_ATTEMPT" -gt 0 ] || sleep 120',
                   retry=1, cpuNumber=2)
    once = submit(c, "nfonce_" + tag, "hostname; sleep 120", cpuNumber=2)
    for n in (again, once):
        c.state(n, {"RUNNING"})
        assert node_of(n) == victim, (n, c.output(n), victim)
    t0 = time.time()
    ns = "pai%d-n%s" % (SLURM_PORT, victim[-1])
    for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                              text=True).stdout.split():
        try:
            os.kill(int(pid), 9)
        except ProcessLookupError:
            pass
    st = c.state(once, {"FAILED", "SUCCEEDED"}, timeout=60)
    detected = time.time() - t0
    assert st["state"] == "FAILED" and "node %s failed" % victim in st["appExitDiagnostics"], st
    for b in blockers:
        assert c.call("PUT", "/api/v1/jobs/%s/executionType" % b,
                      json={"value": "STOP"}).status_code == 200
    st = c.state(again, {"SUCCEEDED"}, timeout=90)
    assert st["retries"] == 1, st
    first = os.path.join(c.statedir, "jobs", "paijob", again, "attempt-1", "w-0.out")
    assert open(first).read().split("\n")[0] in busy
    print("\nMULTINODE node death: job FAILED %.1f s after the kill" % detected)
    # the node comes back
    sh("scripts/slurm.sh", "start", c.slurmdir, env=c.env)
    back = submit(c, "nfback_" + tag, "hostname", cpuNumber=4)
    assert c.state(back, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"


def test_stop_removes_namespaces_links_and_processes(cluster):
    c = cluster
    assert network_left(SLURM_PORT), "the cluster has no network to remove"
    sh("scripts/httpd.sh", "stop", c.inst)
    sh("scripts/slurm.sh", "stop", c.slurmdir)
    assert network_left(SLURM_PORT) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert not [l for l in ps.splitlines() if c.slurmdir in l or c.statedir + "/jobs" in l], ps

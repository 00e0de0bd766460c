"""A 3-node Slurm on this machine (PAI_SLURM_NODES=3: one network, UTS and
mount namespace per node on a private bridge) behind its own httpd: jobs land
on different nodes, report their sshd from inside a node to httpd's bridge
address, are reached there by SSH with a verified host key, and the cgroup
limits hold on every node.  A job too big for one node spans several: its
tasks find and reach each other across nodes through the PAI_* variables,
SSH lands on each task's own node, the completion rules hold across nodes,
and a node's death ends (or retries) it.  Stopping removes every namespace,
link and process."""
import json
import os
import secrets
import shutil
import subprocess
import time

import pytest

from conftest import ADMIN, ROOT, VAR, OwnServer, base_url, fresh_instance, sh, state_dir

# (29827 % 250: the subnet 10.213.77, apart from make run's 10.213.67)
PORT, SLURM_PORT = 19193, 29827
# The containers' server on the same nodes, and its registry (bridge address).
CTR_PORT, REGISTRY_PORT = 19197, 19198


class Cluster(OwnServer):
    def __init__(self, inst, statedir, password, port=PORT):
        super().__init__(inst, statedir, password, port)

    def output(self, name, task="w-0", attempt=0):
        try:
            with open(os.path.join(self.statedir, "jobs", "paijob", name,
                                   "attempt-%d" % attempt, task + ".out")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def ssh_hostname(self, job, box, command="hostname"):
        """`hostname` (or command) over SSH into the task of `box` (an entry of
        GET .../ssh), with the job's key and the host key the API published."""
        d = os.path.join(self.inst, "ssh-" + job)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "key"), "w") as f:
            f.write(self.call("GET", "/api/v1/jobs/%s/ssh/key" % job).text)
        os.chmod(os.path.join(d, "key"), 0o600)
        with open(os.path.join(d, "known_hosts"), "w") as f:
            f.write(box["knownHosts"] + "\n")
        out = subprocess.run(["ssh", "-i", os.path.join(d, "key"), "-p", box["sshPort"],
                              "-o", "StrictHostKeyChecking=yes",
                              "-o", "UserKnownHostsFile=" + os.path.join(d, "known_hosts"),
                              "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                              "paijob@" + box["sshIp"], command],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def stop(self, *names):
        for n in names:
            assert self.call("PUT", "/api/v1/jobs/%s/executionType" % n,
                             json={"value": "STOP"}).status_code == 200
        for n in names:
            self.state(n, {"STOPPED"})


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
    env = dict(os.environ, PAI_SLURM_NODES="3", PAI_SLURM_CPUS="4", PAI_SLURM_GPUS="4",
               PAI_SLURM_MEMORY_MB="4096", PAI_SLURM_NODE_TIMEOUT="10",
               PAI_SLURM_PORT=str(SLURM_PORT),
               PAI_SLURM_DIR=c.slurmdir, PAI_JOBS_DIR=os.path.join(statedir, "jobs"),
               PAI_ADMIN_USERNAME=ADMIN, PAI_DB="sqlite3", PAI_CONTAINER_RUNTIME="none")
    try:
        t0 = time.time()
        sh("scripts/slurm.sh", "start", c.slurmdir, env=env)
        c.start_secs = time.time() - t0
        c.env = env
        ctl = open(os.path.join(c.slurmdir, "ctl_address")).read().strip()
        assert ctl.startswith("10.213."), ctl
        env.update(PAI_LISTEN="127.0.0.1:%d" % PORT, PAI_LISTEN_EXTRA="%s:%d" % (ctl, PORT),
                   PAI_REPORT_URL=base_url(PORT, ctl))
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


# Every task: its host name and address, its PAI_* variables, then a TCP
# round to every other task at the ip:port the host lists advertise (each
# task serves its host name on its "tcp" port meanwhile).
PEER_PY = """
import os, socket, threading, time
port = int(os.environ["PAI_CONTAINER_HOST_tcp_PORT_LIST"])
me = "%s:%d" % (os.environ["PAI_CONTAINER_HOST_IP"], port)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen(16)
def serve():
    while True:
        c, _ = srv.accept()
        c.sendall(socket.gethostname().encode())
        c.close()
threading.Thread(target=serve, daemon=True).start()
for k in sorted(os.environ):
    if k.startswith("PAI_"):
        print("ENV %s=%s" % (k, os.environ[k]))
peers = []
for r in os.environ["PAI_TASK_ROLE_LIST"].split(","):
    peers += os.environ["PAI_TASK_ROLE_%s_HOST_LIST" % r].split(",")
t0 = time.time()
for p in peers:
    if p == me:
        continue
    host, pp = p.rsplit(":", 1)
    while True:
        try:
            s = socket.create_connection((host, int(pp)), timeout=2)
            got = s.recv(100).decode()
            s.close()
            break
        except OSError:
            if time.time() - t0 > 40:
                got = "FAILED"
                break
            time.sleep(0.3)
    print("PEER %s %s" % (p, got), flush=True)
time.sleep(max(0, 15 - (time.time() - t0)))
"""


def distributed(name, worker_gpus=2):
    """OpenPAI's parameter-server shape: a CPU-only ps and 3 GPU workers."""
    role = {"memoryMB": 256, "portList": [{"label": "tcp", "portNumber": 1}],
            "command": 'hostname; echo "$PAI_CONTAINER_HOST_IP"; python3 -c "$PEER_PY"'}
    return {"jobName": name, "image": "x", "jobEnvs": {"PEER_PY": PEER_PY},
            "taskRoles": [dict(role, name="ps", taskNumber=1, cpuNumber=1),
                          dict(role, name="worker", taskNumber=3, cpuNumber=1,
                               gpuNumber=worker_gpus)]}


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
    assert c.ssh_hostname(n2, box) == "pai-n2"
    c.stop(*names)


def test_a_job_no_node_can_hold_is_refused(cluster):
    c = cluster
    # 6 GPUs in all fit the cluster (and its VC), but no 4-GPU node holds the task
    job = distributed("mnbig_" + secrets.token_hex(2), 6)
    job["taskRoles"][1]["taskNumber"] = 1
    r = c.call("POST", "/api/v1/jobs", json=job)
    assert r.status_code == 400, r.text
    msg = r.json()["message"]
    assert "task role worker" in msg and "largest node has 4 CPUs, 4096 MB and 4 GPUs" in msg, msg
    # 12 GPUs fit the cluster, but one 3-GPU task a node needs 4 nodes
    r = c.call("POST", "/api/v1/jobs", json={
        "jobName": "mnmany_" + secrets.token_hex(2), "image": "x",
        "taskRoles": [{"name": "w", "taskNumber": 4, "gpuNumber": 3, "command": "true"}]})
    assert r.status_code == 400 and "need 4 nodes" in r.json()["message"], r.text


def test_a_job_spans_nodes(cluster):
    """ps + 3 workers x 2 GPUs on 4-GPU nodes: waits while the nodes are busy,
    then runs on 2 nodes at once; every task sees the host lists, reaches every
    other across nodes, shows its own node's address; SSH lands on each."""
    c = cluster
    tag = secrets.token_hex(2)
    # two nodes with a GPU taken each (3000 MB apiece keeps them apart): the
    # job's VC has room, but only one node has the 4 GPUs two workers need
    blockers = [submit(c, "mnblk%d_%s" % (i, tag), "sleep 300", gpuNumber=1, memoryMB=3000)
                for i in range(2)]
    for b in blockers:
        c.state(b, {"RUNNING"})
    name = "mnspan_" + tag
    r = c.call("POST", "/api/v1/jobs", json=distributed(name))
    assert r.status_code == 201, r.text
    deadline = time.time() + 20
    while time.time() < deadline:
        st = c.call("GET", "/api/v1/jobs/" + name).json()
        if st["state"] != "WAITING" or "Resources" in st["appExitDiagnostics"]:
            break
        time.sleep(0.3)
    assert st["state"] == "WAITING" and "Resources" in st["appExitDiagnostics"], st
    time.sleep(2)
    assert c.call("GET", "/api/v1/jobs/" + name).json()["state"] == "WAITING"
    c.stop(*blockers)
    t0 = time.time()
    st = c.state(name, {"RUNNING", "FAILED", "SUCCEEDED"})
    tasks = [("ps", 0)] + [("worker", i) for i in range(3)]
    deadline = time.time() + 60
    while time.time() < deadline and not all(
            c.output(name, "%s-%d" % t).count("PEER ") == 3 for t in tasks):
        time.sleep(0.3)
    running = time.time() - t0
    st = c.call("GET", "/api/v1/jobs/" + name).json()
    ip_of, node_of = {}, {}
    for role, i in tasks:
        out = c.output(name, "%s-%d" % (role, i))
        host, ip = out.split("\n")[:2]
        env = dict(l[4:].split("=", 1) for l in out.splitlines() if l.startswith("ENV "))
        status = st["taskRoles"][role]["taskStatuses"][i]
        # the status shows the task's own node's address and ports
        assert status["containerIp"] == ip and ip.startswith("10.213."), (status, ip)
        assert env["PAI_HOST_IP_%s_%d" % (role, i)] == ip, env
        assert env["PAI_CONTAINER_HOST_PORT_LIST"] == "tcp:" + status["containerPorts"]["tcp"]
        assert env["PAI_PORT_LIST_%s_%d_tcp" % (role, i)] == status["containerPorts"]["tcp"]
        assert env["PAI_TASK_ROLE_COUNT"] == "2" and env["PAI_TASK_ROLE_LIST"] == "ps,worker"
        assert env["PAI_TASK_ROLE_TASK_COUNT_worker"] == "3"
        assert len(env["PAI_TASK_ROLE_worker_HOST_LIST"].split(",")) == 3
        # every other task answered from the node it was said to be on
        peers = dict(l.split()[1:3] for l in out.splitlines() if l.startswith("PEER "))
        assert len(peers) == 3 and "FAILED" not in peers.values(), out
        ip_of[host], node_of[(role, i)] = ip, host
    for role, i in tasks:
        out = c.output(name, "%s-%d" % (role, i))
        for peer, host in (l.split()[1:3] for l in out.splitlines() if l.startswith("PEER ")):
            assert ip_of[host] == peer.split(":")[0], (peer, host, ip_of)
    workers = {node_of[("worker", i)] for i in range(3)}
    assert len(workers) >= 2, node_of
    print("\nMULTINODE spanning job: all 4 tasks on %d nodes running and connected %.1f s "
          "after the nodes freed" % (len(set(node_of.values())), running))
    # SSH into tasks on two different nodes with the job's key
    ssh = c.call("GET", "/api/v1/jobs/%s/ssh" % name).json()
    boxes = {b["sshIp"]: b for b in ssh["containers"]}
    assert len(boxes) >= 2, ssh
    for ip, box in list(boxes.items())[:2]:
        assert ip_of[c.ssh_hostname(name, box)] == ip, ip_of
    assert c.state(name, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"


def test_the_distributed_example_runs_across_nodes(cluster):
    """examples/distributedJob.json as a newcomer submits it: its workers reach
    the ps across nodes and the job succeeds; the status shows two nodes."""
    c = cluster
    with open(os.path.join(ROOT, "examples", "distributedJob.json")) as f:
        job = json.load(f)
    job["jobName"] = name = "mnexample_" + secrets.token_hex(2)
    r = c.call("POST", "/api/v1/jobs", json=job)
    assert r.status_code == 201, r.text
    st = c.state(name, {"SUCCEEDED", "FAILED"}, timeout=90)
    assert st["state"] == "SUCCEEDED", st
    ips = {t["containerIp"] for role in st["taskRoles"].values() for t in role["taskStatuses"]}
    assert len(ips) == 2, st["taskRoles"]
    for i in range(3):
        out = c.output(name, "worker-%d" % i)
        assert "ps answered from pai-n" in out, out
        assert "GPUs 0,1" in out or "GPUs 2,3" in out, out


@pytest.fixture(scope="module")
def containers(cluster):
    """A second server on the same 3 nodes, whose tasks run in their image
    (PaiContainerRuntime runc), and a registry on this machine's bridge
    address.  Jobs name it as 127.0.0.1:PORT, as on one machine: the nodes'
    image cache pulls 127.0.0.1's images from the bridge address (slurm.sh's
    default mirror for several nodes)."""
    c = cluster
    ctl = open(os.path.join(c.slurmdir, "ctl_address")).read().strip()
    regdir = os.path.join(c.inst, "registry")
    inst = fresh_instance(os.path.join(VAR, "test-multinode-ctr"), c.password)
    srv = Cluster(inst, c.statedir, c.password, CTR_PORT)
    env = dict(c.env, PAI_CONTAINER_RUNTIME="runc", PAI_LISTEN="127.0.0.1:%d" % CTR_PORT,
               PAI_LISTEN_EXTRA="%s:%d" % (ctl, CTR_PORT),
               PAI_REPORT_URL=base_url(CTR_PORT, ctl))
    try:
        sh("scripts/image.sh", "build", os.path.join(VAR, "image"))
        sh("scripts/image.sh", "registry-start", regdir, "%s:%d" % (ctl, REGISTRY_PORT))
        sh("scripts/image.sh", "push", os.path.join(VAR, "image"),
           "%s:%d/pai/test:1" % (ctl, REGISTRY_PORT))
        sh("scripts/httpd.sh", "start", inst, env=env)
        r = srv.call("POST", "/api/v1/token", json={"username": ADMIN, "password": c.password})
        srv.token = r.json()["token"]
        yield srv
    finally:
        sh("scripts/httpd.sh", "stop", inst)
        sh("scripts/image.sh", "registry-stop", regdir)


def test_the_distributed_example_runs_in_containers_on_3_nodes(containers):
    """The same example, each worker on a node of its own (3 GPUs of 4): every
    task runs in the image (its marker file), the workers reach the ps across
    the nodes' network, SSH lands in a container on another node."""
    c = containers
    with open(os.path.join(ROOT, "examples", "distributedJob.json")) as f:
        job = json.load(f)
    assert job["image"] == "127.0.0.1:9180/pai/test:1"
    job["image"] = "127.0.0.1:%d/pai/test:1" % REGISTRY_PORT
    job["jobName"] = name = "mnctr_" + secrets.token_hex(2)
    for role in job["taskRoles"]:
        role["command"] = "cat /etc/pai-test-image; " + role["command"]
        if role["name"] == "worker":
            role["gpuNumber"] = 3
    r = c.call("POST", "/api/v1/jobs", json=job)
    assert r.status_code == 201, r.text
    st = c.state(name, {"SUCCEEDED", "FAILED"}, timeout=120)
    assert st["state"] == "SUCCEEDED", (st, c.output(name, "worker-0"), c.output(name, "ps-0"))
    ips = {t["containerIp"] for role in st["taskRoles"].values() for t in role["taskStatuses"]}
    assert len(ips) == 3, st["taskRoles"]
    assert "mod_pairest test image" in c.output(name, "ps-0")
    for i in range(3):
        out = c.output(name, "worker-%d" % i)
        assert "mod_pairest test image" in out, out
        assert "ps answered from pai-n" in out, out


def test_ssh_lands_in_a_container_on_its_node(containers):
    c = containers
    name = "mnctrssh_" + secrets.token_hex(2)
    r = c.call("POST", "/api/v1/jobs", json={
        "jobName": name, "image": "127.0.0.1:%d/pai/test:1" % REGISTRY_PORT,
        "taskRoles": [{"name": "w", "taskNumber": 2, "gpuNumber": 3, "memoryMB": 128,
                       "command": "echo ready; sleep 120"}]})
    assert r.status_code == 201, r.text
    c.state(name, {"RUNNING"})
    deadline = time.time() + 60
    while time.time() < deadline:
        boxes = c.call("GET", "/api/v1/jobs/%s/ssh" % name).json().get("containers", [])
        if len(boxes) == 2 and all(b.get("sshPort") for b in boxes):
            break
        time.sleep(0.3)
    assert len({b["sshIp"] for b in boxes}) == 2, boxes
    for box in boxes:
        # The node's name (the container shares its UTS), seen from inside
        # the image (the marker file, which no node has).
        out = c.ssh_hostname(name, box, "cat /etc/pai-test-image; hostname")
        assert out.startswith("mod_pairest test image\npai-n"), out
    c.stop(name)


def test_completion_rule_holds_across_nodes(cluster):
    """One worker per node; the one on the last fails: the job fails at once
    (minFailedTaskCount 1), naming it, and the workers on the other nodes end."""
    c = cluster
    name = "mnrule_" + secrets.token_hex(2)
    r = c.call("POST", "/api/v1/jobs", json={
        "jobName": name, "image": "x",
        "taskRoles": [{"name": "w", "taskNumber": 3, "gpuNumber": 4, "minFailedTaskCount": 1,
                       # w-2 fails once its siblings have had time to print their node
                       "command": 'hostname; [ "$PAI_TASK_INDEX" = 2 ] && { sleep 3; exit 3; }; sleep 299'}]})
    assert r.status_code == 201, r.text
    t0 = time.time()
    while time.time() - t0 < 60 and not all(c.output(name, "w-%d" % i) for i in range(3)):
        time.sleep(0.1)
    print("\nMULTINODE submit to all 3 tasks running on 3 nodes: %.1f s" % (time.time() - t0))
    st = c.state(name, {"FAILED", "SUCCEEDED"}, timeout=90)
    assert st["state"] == "FAILED" and "task w-2 failed first (exit3)" in \
        st["appExitDiagnostics"], st
    assert time.time() - t0 < 60
    nodes = {c.output(name, "w-%d" % i).split("\n")[0] for i in range(3)}
    assert nodes == {"pai-n1", "pai-n2", "pai-n3"}, nodes
    deadline = time.time() + 15
    while time.time() < deadline and "sleep 299" in subprocess.run(
            ["ps", "-eo", "args"], capture_output=True, text=True).stdout:
        time.sleep(0.3)
    assert "sleep 299" not in subprocess.run(["ps", "-eo", "args"], capture_output=True,
                                             text=True).stdout


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
    """Every process of a node killed under two 2-node jobs: Slurm ends both
    NODE_FAIL, a platform failure, so both run again as a new attempt on the
    nodes that live, retryCount 0 or not (not counted against it, as OpenPAI
    did); the first attempt's history names the node and the exit spec."""
    c = cluster
    tag = secrets.token_hex(2)

    def nodes_of(n, tasks, attempt=0):
        deadline = time.time() + 20
        while time.time() < deadline and not all(
                c.output(n, "w-%d" % i, attempt).strip() for i in range(tasks)):
            time.sleep(0.2)
        return [c.output(n, "w-%d" % i, attempt).split("\n")[0] for i in range(2)]

    def two_node_job(name, retry, **task):
        r = c.call("POST", "/api/v1/jobs", json={
            "jobName": name, "image": "x", "retryCount": retry,
            "taskRoles": [dict({"name": "w", "taskNumber": 2, "cpuNumber": 1, "command":
                                'hostname; [ "$PAI_JOB_ATTEMPT" -gt 0 ] || sleep 120'}, **task)]})
        assert r.status_code == 201, r.text
        return name
    # 4 GPUs a task, 2500 MB a task: each job needs 2 of the 3 nodes, so they share one
    again = two_node_job("nfretry_" + tag, 1, gpuNumber=4)
    once = two_node_job("nfonce_" + tag, 0, memoryMB=2500)
    for n in (again, once):
        c.state(n, {"RUNNING"})
    on_again, on_once = nodes_of(again, 2), nodes_of(once, 2)
    assert len(set(on_again)) == 2 and len(set(on_once)) == 2, (on_again, on_once)
    victim = sorted(set(on_again) & set(on_once))[0]
    t0 = time.time()
    ns = "pai%d-n%s" % (SLURM_PORT, victim[-1])
    for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                              text=True).stdout.split():
        try:
            os.kill(int(pid), 9)
        except ProcessLookupError:
            pass
    deadline = time.time() + 60
    while time.time() < deadline and c.call("GET", "/api/v1/jobs/" + once).json()["retries"] < 1:
        time.sleep(0.2)
    detected = time.time() - t0
    for n in (once, again):
        st = c.state(n, {"SUCCEEDED", "FAILED"}, timeout=90)
        assert st["state"] == "SUCCEEDED" and st["retries"] == 1, st
        assert victim not in nodes_of(n, 2, attempt=1)
        fw = "%s~%s" % (ADMIN, n)
        detail = c.call("GET", "/api/v2/jobs/" + fw).json()
        assert detail["jobStatus"]["retryDetails"] == {"user": 0, "platform": 1, "resource": 0}
        first = c.call("GET", "/api/v2/jobs/%s/job-attempts/0" % fw).json()
        assert first["state"] == "FAILED" and first["exitPhrase"] == "NodeFailed", first
        assert first["appExitSpec"]["type"] == "PLATFORM_FAILURE", first
        assert "node" in first["appExitDiagnostics"] and victim in first["appExitDiagnostics"], \
            first
    print("\nMULTINODE node death: 2-node job retried %.1f s after the kill" % detected)
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

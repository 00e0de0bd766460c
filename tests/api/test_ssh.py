"""SSH into running tasks: per-job key, an sshd per task, GET /ssh, the key
download, reports authenticated by the job's secret, and cleanup on STOP."""
import os
import socket
import subprocess
import tempfile
import time

from conftest import assert_error, db_query
from test_jobs import execute, submit_ok, wait_state


def ssh_info(api, name):
    r = api.call("GET", "/api/v1/jobs/%s/ssh" % name)
    assert r.status_code == 200, r.text
    return r.json()


def port_open(ip, port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((ip, int(port))) == 0


def test_ssh_into_each_task(api):
    owner, tok = api.make_user()
    other, other_tok = api.make_user()
    name = submit_ok(api, tok, {"jobName": api.unique("ssh"), "image": "x", "taskRoles": [
        {"name": "worker", "taskNumber": 2, "command": "sleep 300"}]})
    wait_state(api, name, {"RUNNING"})
    deadline = time.time() + 20
    while time.time() < deadline and len(ssh_info(api, name)["containers"]) < 2:
        time.sleep(0.3)
    info = ssh_info(api, name)
    assert len(info["containers"]) == 2, info
    assert info["username"] == "paijob"
    kp = info["keyPair"]
    assert set(kp) == {"folderPath", "publicKeyFileName", "privateKeyFileName",
                       "privateKeyDirectDownloadLink"}
    link = kp["privateKeyDirectDownloadLink"]
    assert link.endswith("/api/v1/jobs/%s/ssh/key" % name)
    path = link[link.index("/api/v1"):]
    # only the owner (or an admin) may read the key
    assert_error(api.call("GET", path, other_tok), 403, "ForbiddenUserError")
    assert_error(api.call("GET", path), 401, "UnauthorizedUserError")
    r = api.call("GET", path, tok)
    assert r.status_code == 200 and r.text.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert api.call("GET", path, api.admin_token).text == r.text
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(r.text)
        keyfile = f.name
    os.chmod(keyfile, 0o600)
    try:
        for c in info["containers"]:
            index = c["id"].rsplit("-", 1)[1]
            out = subprocess.run(
                ["ssh", "-i", keyfile, "-p", c["sshPort"], "-o", "StrictHostKeyChecking=no",
                 "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                 "-o", "ConnectTimeout=10", "%s@%s" % (info["username"], c["sshIp"]),
                 "echo $PAI_JOB_NAME $PAI_TASK_INDEX ${PAI_SSH_SECRET:-nosecret}"],
                capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == "%s %s nosecret" % (name, index)
        # another key is refused
        other_key = keyfile + ".other"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other_key], check=True)
        c = info["containers"][0]
        out = subprocess.run(
            ["ssh", "-i", other_key, "-p", c["sshPort"], "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
             "-o", "IdentitiesOnly=yes", "paijob@" + c["sshIp"], "true"],
            capture_output=True, text=True, timeout=30)
        assert out.returncode != 0
    finally:
        for f in (keyfile, keyfile + ".other", keyfile + ".other.pub"):
            if os.path.exists(f):
                os.unlink(f)
    # a forged report: wrong secret, or none
    report = {"attempt": 0, "taskRole": "worker", "taskIndex": 0, "ip": "10.6.6.6", "port": 2222}
    path = "/api/v1/jobs/%s/ssh/report" % name
    assert_error(api.call("POST", path, json=report, headers={"X-PAI-Job-Secret": "0" * 64}),
                 403, "ForbiddenUserError")
    assert_error(api.call("POST", path, json=report), 403, "ForbiddenUserError")
    assert "10.6.6.6" not in [c["sshIp"] for c in ssh_info(api, name)["containers"]]
    # With the job's secret: a report of another attempt (a task of an earlier
    # attempt reporting late) or of no such task is refused, and says which.
    secret = {"X-PAI-Job-Secret": db_query(api, "SELECT secret FROM pai_job_keys WHERE name = "
                                                "'%s'" % name)}
    assert_error(api.call("POST", path, json=dict(report, attempt=7), headers=secret),
                 400, "InvalidParametersError", "attempt 7 of job %s is not running" % name)
    assert_error(api.call("POST", path, json=dict(report, taskIndex=99), headers=secret),
                 400, "InvalidParametersError", "has no task worker-99")
    # STOP: the sshd processes end and their ports close
    ports = [(c["sshIp"], c["sshPort"]) for c in info["containers"]]
    assert all(port_open(ip, port) for ip, port in ports)
    assert execute(api, tok, name, "STOP").status_code == 200
    deadline = time.time() + 20
    while time.time() < deadline and any(port_open(ip, port) for ip, port in ports):
        time.sleep(0.3)
    assert not any(port_open(ip, port) for ip, port in ports)
    # every process of the job ends (srun winds down once its step ended)
    deadline = time.time() + 15
    while True:
        left = subprocess.run(["pgrep", "-af", "%s/attempt-0/worker-" % name],
                              capture_output=True, text=True).stdout
        if not left.strip() or time.time() > deadline:
            break
        time.sleep(0.2)
    assert left.strip() == "", left
    assert ssh_info(api, name)["containers"] == []


def test_ssh_info_edges(api):
    assert_error(api.call("GET", "/api/v1/jobs/nosuchjob/ssh"), 404, "JobNotFound")
    name = submit_ok(api, api.admin_token, {"jobName": api.unique("nossh"), "image": "x",
                                            "taskRoles": [{"name": "r", "command": "true"}]})
    wait_state(api, name, {"SUCCEEDED"})
    assert ssh_info(api, name)["containers"] == []       # no running task

"""`make run`'s own script: services-configuration.yaml, environment overrides,
and the seed's curl token call against what it started."""
import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import base_url

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INST = os.path.join(ROOT, "var", "test-run")
# make run's registry, apart from a `make run` of the same machine (9180).
REGISTRY = "127.0.0.1:19296"


def run(env_extra, yaml_text):
    yaml_path = os.path.join(ROOT, "var", "test-run.yaml")
    with open(yaml_path, "w") as f:
        f.write(yaml_text)
    env = dict(os.environ, PAI_INSTANCE=INST, PAI_SERVICES_CONF=yaml_path, PAI_SLURM_PORT="28817",
               PAI_REGISTRY=REGISTRY)
    env.pop("PORT", None)
    env.update(env_extra)
    return subprocess.run(["scripts/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True)


def stop():
    subprocess.run(["scripts/stop.sh"], cwd=ROOT, env=dict(os.environ, PAI_INSTANCE=INST),
                   check=True, capture_output=True)


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def clean():
    stop()
    shutil.rmtree(INST, ignore_errors=True)
    yield
    stop()


def seed_login(port, user, password):
    # curl -H "Content-Type: application/x-www-form-urlencoded" -X POST .../token -d ... -d ...
    out = subprocess.run(["curl", "-s", "-H", "Content-Type: application/x-www-form-urlencoded",
                          "-X", "POST", base_url(port) + "/api/v1/token",
                          "-d", "username=" + user, "-d", "password=" + password],
                         capture_output=True, text=True, check=True).stdout
    return requests.models.complexjson.loads(out)


def test_yaml_port_and_admin(clean):
    r = run({}, "rest-server:\n  server-port: 9288\n"
                "  default-pai-admin-username: boss\n"
                "  default-pai-admin-password: 'yaml-pass-1'\n"
                "  jwt-secret: 0123456789abcdef0123456789abcdef-yaml\n")
    assert r.returncode == 0, r.stderr
    assert base_url(9288) + "/api/v1" in r.stdout
    body = seed_login(9288, "boss", "yaml-pass-1")
    assert body["user"] == "boss" and body["token"]
    with open(os.path.join(INST, "jwt.secret")) as f:
        assert f.read().strip() == "0123456789abcdef0123456789abcdef-yaml"
    assert oct(os.stat(os.path.join(INST, "admin.password")).st_mode & 0o777) == "0o600"
    # again while it runs: harmless
    assert run({}, "rest-server:\n  server-port: 9288\n").returncode == 0
    stop()
    assert not port_open(9288)
    # the environment wins over the file
    r = run({"PORT": "19289"}, "rest-server:\n  server-port: 9288\n")
    assert r.returncode == 0, r.stderr
    assert port_open(19289) and not port_open(9288)
    token = seed_login(19289, "boss", "yaml-pass-1")["token"]
    # what it started runs a job (run.sh's umask 077 must not close the
    # Slurm folders the job account passes through)
    with open(os.path.join(ROOT, "examples", "exampleJob.json")) as f:
        job = requests.models.complexjson.load(f)
    # It names make run's registry; this run's is on another port.
    assert job["image"] == "127.0.0.1:9180/pai/test:1"
    job["image"] = REGISTRY + "/pai/test:1"
    base = base_url(19289) + "/api/v1/jobs"
    r = requests.post(base, json=job, headers={"Authorization": "Bearer " + token}, timeout=30)
    assert r.status_code == 201, r.text
    deadline = time.time() + 60
    while time.time() < deadline:
        st = requests.get(base + "/exampleJob", timeout=30).json()
        if st["state"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.3)
    assert st["state"] == "SUCCEEDED", st
    # Its tasks ran in the image: the marker file the node does not have.
    statedir = subprocess.run(["scripts/statedir.sh", INST], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    with open(os.path.join(statedir, "jobs", "paijob", "exampleJob", "attempt-0",
                           "worker-0.out")) as f:
        out = f.read()
    assert "image: mod_pairest test image" in out, out


def test_generated_admin_password_shown_once(clean):
    r = run({"PORT": "19290"}, "")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(INST, "admin.password")) as f:
        password = f.read().strip()
    assert password in r.stdout
    assert seed_login(19290, "admin", password)["user"] == "admin"
    again = run({"PORT": "19290"}, "")
    assert again.returncode == 0 and password not in again.stdout


@pytest.mark.parametrize("text,where", [
    ("rest-server:\n  server-port: [1\n", "test-run.yaml:"),
    ("rest-server:\n  server-port: 99999\n", "server-port"),
    ("rest-server: 5\n", "rest-server must be a mapping"),
    ("- a\n- b\n", "top level"),
])
def test_malformed_yaml_refused(clean, text, where):
    r = run({"PORT": "19291"}, text)
    assert r.returncode != 0
    assert where in r.stderr, r.stderr
    assert not port_open(19291)


@pytest.mark.parametrize("vcs,why", [
    ("vc1 80 100; vc2 30 30", "capacities sum to 110%"),
    ("vc1 50 40", "maxCapacity 40 is below capacity 50"),
    ("vc-1 10 10", "must match"),
])
def test_bad_virtual_clusters_stop_startup(clean, vcs, why):
    r = run({"PORT": "19292", "PAI_VIRTUAL_CLUSTERS": vcs}, "")
    assert r.returncode != 0
    assert why in r.stderr + r.stdout, r.stderr
    assert not port_open(19292)

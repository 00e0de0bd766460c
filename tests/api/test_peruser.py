"""The per-user mode (PaiSlurmUserMapping same-name) against a local attacker:
which accounts jobs may run as, job folders nobody else can take over, and
per-user job limits.  Server D shares A's MariaDB and Slurm (as in
test_scaleout.py)."""
import grp
import os
import pwd
import shutil
import subprocess

import pytest

from conftest import ROOT, assert_error, job_dir, sh
from test_jobs import execute, job, submit, submit_ok, wait_idle, wait_state
from test_scaleout import start_server, stop_server, unix_user

pytestmark = pytest.mark.mysql_only
PORT_D = 19190


@pytest.fixture(scope="module")
def d(api):
    srv = start_server(api, "d", PORT_D, PAI_USER_MAPPING="same-name",
                       PAI_USER_MAX_WAITING="2", PAI_USER_MAX_ACTIVE="3")
    yield srv
    stop_server(srv)


def make(srv, name, password="secret123"):
    return srv.call("PUT", "/api/v1/user", srv.admin_token,
                    json={"username": name, "password": password, "modify": False})


def person(srv, prefix):
    """A PAI user with a Unix account of its own (uid >= 1000), and a token."""
    name = "pai_%s_%s" % (prefix, os.urandom(3).hex())
    unix_user(name)
    r = make(srv, name)
    assert r.status_code == 201, r.text
    return name, srv.login(name, "secret123")


def test_system_and_service_accounts_are_refused(d):
    """Only real user accounts: not root or uid 0 by a numeric name, not the
    daemons of the stack (httpd's, munge, Slurm, the database), not the job
    service account, not a system account, not a name with no account."""
    cases = {"root": "root", "0": "numeric", "1000": "numeric", "pairest": "service account",
             "paijob": "service account", "munge": "service", "mysql": "service",
             "daemon": "service", "sshd": "service", "nobody": "service",
             "lp": "system account", "no_such_account_x": "no Unix account"}
    for name, why in cases.items():
        try:
            pwd.getpwnam(name)
        except KeyError:
            if why != "no Unix account":
                continue        # an account this machine does not have
        assert_error(make(d, name), 403, "ForbiddenUserError", why)


def test_account_gone_after_creation_is_refused_at_submission(d):
    name, tok = person(d, "gone")
    subprocess.run(["userdel", "-r", name], check=True, capture_output=True)
    assert_error(submit(d, tok, job(d.unique("gone"))), 403, "ForbiddenUserError",
                 "no Unix account named %s" % name)


def test_job_folder_cannot_be_taken_over(d, api):
    """Another local account can neither make a user's job folder first nor
    plant files in it; a folder of the user's name that someone else made (the
    old world-writable layout) is moved aside, and the job runs in a fresh,
    private one."""
    wait_idle(api, timeout=120)
    victim, vtok = person(d, "vic")
    attacker, _ = person(d, "att")
    jobs = os.path.join(api.statedir, "jobs")
    st = os.stat(jobs)
    assert st.st_uid == 0 and st.st_mode & 0o022 == 0, oct(st.st_mode)
    r = subprocess.run(["runuser", "-u", attacker, "--", "mkdir", "-p",
                        os.path.join(jobs, victim, "planted")], capture_output=True, text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    # what the old layout allowed: a folder of the victim's name, the attacker's
    name = d.unique("vic")
    planted = os.path.join(jobs, victim, name, "attempt-0", "main-0.ssh")
    os.makedirs(planted)
    with open(os.path.join(planted, "authorized_keys"), "w") as f:
        f.write("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyAttackerKeyAttackerKey00 x\n")
    subprocess.run(["chown", "-R", attacker, os.path.join(jobs, victim)], check=True)
    subprocess.run(["chmod", "-R", "777", os.path.join(jobs, victim)], check=True)
    submit_ok(d, vtok, job(name, "id -un; sleep 4"))
    final = wait_state(d, name, {"SUCCEEDED", "FAILED"}, timeout=90)
    assert final["state"] == "SUCCEEDED", final
    folder = os.path.join(jobs, victim)
    st = os.stat(folder)
    # the account's, and the server's group reads it (for the logs), setgid
    assert pwd.getpwuid(st.st_uid).pw_name == victim and st.st_mode & 0o7777 == 0o2750
    assert grp.getgrgid(st.st_gid).gr_name == "pairest"
    # ... and serves the victim its task's log (another account's folder)
    r = d.call("GET", "/api/v2/jobs/%s~%s/attempts/0/taskRoles/main/taskIndex/0/attempts/0/logs"
               "/stdout" % (victim, name), vtok)
    assert r.status_code == 200 and r.text.split("\n")[0] == victim, r.text
    with open(os.path.join(job_dir(api, name, account=victim), "main-0.out")) as f:
        assert f.read().split("\n")[0] == victim
    keys = os.path.join(job_dir(api, name, account=victim), "main-0.ssh", "authorized_keys")
    assert "Attacker" not in open(keys).read()
    assert [n for n in os.listdir(jobs) if n.startswith(".aside-%s-" % victim)]
    r = subprocess.run(["runuser", "-u", attacker, "--", "ls", folder], capture_output=True)
    assert r.returncode != 0


def test_per_user_job_limits(d, api):
    """At most 2 waiting and 3 waiting or running jobs per user here (429);
    another user is not held back by them."""
    wait_idle(api, timeout=120)
    name, tok = person(d, "lim")
    other, otok = person(d, "lim2")
    big = {"name": "main", "cpuNumber": 4, "memoryMB": 128, "command": "sleep 60"}
    running = submit_ok(d, tok, dict(job(d.unique("lim")), taskRoles=[big]))
    wait_state(d, running, {"RUNNING"})
    waiting = [submit_ok(d, tok, dict(job(d.unique("lim")), taskRoles=[big])) for _ in range(2)]
    try:
        r = submit(d, tok, job(d.unique("lim")))
        assert_error(r, 429, "TooManyRequestsError", "PaiUserMaxWaitingJobs")
        ok = submit(d, otok, job(d.unique("lim2"), "true"))
        assert ok.status_code == 201, ok.text
    finally:
        for n in waiting + [running]:
            execute(d, tok, n, "STOP")
    for n in waiting + [running]:
        wait_state(d, n, {"STOPPED"})


def test_root_equivalent_service_account_stops_startup(api):
    """PaiSlurmUser naming uid 0 (here by number) stops httpd at start."""
    srv_dir = os.path.join(os.path.dirname(api.instdir), "test-mysql-e")
    env = dict(api.env, PAI_LISTEN="127.0.0.1:19191", PAI_JOB_USER="0")
    subprocess.run(["rm", "-rf", srv_dir])
    os.makedirs(srv_dir)
    for f in ("admin.password", "jwt.secret"):
        subprocess.run(["cp", "-p", os.path.join(api.instdir, f), srv_dir], check=True)
    r = subprocess.run(["scripts/httpd.sh", "start", srv_dir], env=env, capture_output=True,
                       text=True, cwd=ROOT)
    try:
        assert r.returncode != 0
        log = open(os.path.join(srv_dir, "logs", "error.log")).read()
        assert "PAI0011: PaiSlurmUser 0 cannot run jobs" in log, log[-2000:]
    finally:
        sh("scripts/httpd.sh", "stop", srv_dir)


def test_slurm_conf_the_workers_cannot_read_stops_startup(api):
    """PaiSlurmConf naming a slurm.conf only root may read stops httpd at
    start with the reason (libslurm would end a worker on it later)."""
    srv_dir = os.path.join(os.path.dirname(api.instdir), "test-mysql-f")
    subprocess.run(["rm", "-rf", srv_dir])
    os.makedirs(srv_dir)
    for f in ("admin.password", "jwt.secret"):
        subprocess.run(["cp", "-p", os.path.join(api.instdir, f), srv_dir], check=True)
    conf = os.path.join(srv_dir, "slurm.conf")
    shutil.copy(os.path.join(api.slurmdir, "slurm.conf"), conf)
    os.chmod(conf, 0o600)
    include = os.path.join(srv_dir, "site.conf")
    with open(include, "w") as f:
        f.write('PaiSlurmConf "%s"\n' % conf)
    env = dict(api.env, PAI_LISTEN="127.0.0.1:19191", PAI_HTTPD_INCLUDE=include)
    r = subprocess.run(["scripts/httpd.sh", "start", srv_dir], env=env, capture_output=True,
                       text=True, cwd=ROOT)
    try:
        assert r.returncode != 0
        log = open(os.path.join(srv_dir, "logs", "error.log")).read()
        assert "PAI0018: PaiSlurmConf %s is not a file every account may read" % conf in log, \
            log[-2000:]
    finally:
        sh("scripts/httpd.sh", "stop", srv_dir)

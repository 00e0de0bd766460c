"""Several servers on one MariaDB and one Slurm: B (and C) beside the mysql
instance A of conftest, each its own httpd, config and processes.

A job submitted through one is seen, stopped and started through the other at
once; tokens work on both; one sync and admission loop runs across them (a
lease in the database) and moves when its holder dies; and with
PaiSlurmUserMapping same-name, one user's tasks cannot read another's files."""
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import (BAD_LOG, VAR, Api, assert_error, base_url, crash_report, db_query,
                      job_dir, mariadb_client, sh, state_dir)
from test_faults import Burst, check_nothing_lost, children
from test_jobs import job, status, submit_ok, wait_idle, wait_state
from test_stream import Watcher

pytestmark = pytest.mark.mysql_only
PORT_B, PORT_C = 19188, 19189


def start_server(api, name, port, **extra):
    """Another server on A's database, Slurm and secrets."""
    inst = os.path.join(VAR, "test-mysql-" + name)
    sh("scripts/httpd.sh", "stop", inst)
    shutil.rmtree(inst, ignore_errors=True)
    os.makedirs(inst)
    for f in ("admin.password", "jwt.secret"):
        shutil.copy2(os.path.join(api.instdir, f), os.path.join(inst, f))
    env = dict(api.env, PAI_LISTEN="127.0.0.1:%d" % port, **extra)
    sh("scripts/httpd.sh", "start", inst, env=env)
    srv = Api(api.backend, base_url(port), api.admin_password, inst, api.statedir)
    srv.env = env
    return srv


def stop_server(srv):
    sh("scripts/httpd.sh", "stop", srv.instdir)
    with open(os.path.join(srv.instdir, "logs", "error.log")) as f:
        bad = [line for line in f if BAD_LOG.search(line)]
    assert not bad, "".join(bad) + crash_report(state_dir(srv.instdir))


@pytest.fixture(scope="module")
def b(api):
    # B reads Slurm's list through slurmrestd, A through libslurm: the lease
    # moves between them below, so each list feeds the sync in this module.
    srv = start_server(api, "b", PORT_B, PAI_SYNC_LIST="slurmrestd")
    yield srv
    stop_server(srv)


def job_row_locked(name):
    """Whether a transaction holds the job's row: a NOWAIT read of it for
    update fails at once then (1205), and takes and frees it at once if not."""
    r = subprocess.run(mariadb_client("-e", "SELECT 1 FROM pai_jobs WHERE name = '%s'"
                                      " FOR UPDATE NOWAIT" % name),
                       capture_output=True, text=True)
    assert r.returncode == 0 or "1205" in r.stderr, r.stderr
    return r.returncode != 0


def master_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def lease_holder(api, timeout=15):
    """(pid, expires_ms) of the process holding the sync lease (the first sync
    of a fresh database makes the row)."""
    deadline = time.time() + timeout
    while True:
        try:
            row = db_query(api, "SELECT holder, expires FROM pai_lease WHERE name = 'sync'").split()
        except subprocess.CalledProcessError:
            row = []              # no table yet: nothing has touched the database
        if len(row) == 2 or time.time() > deadline:
            break
        time.sleep(0.2)
    holder, expires = row
    return int(holder.split("/")[1]), int(expires)


def pid_of(srv):
    with open(os.path.join(srv.instdir, "httpd.pid")) as f:
        return int(f.read())


def test_one_server_submits_the_other_reads_stops_starts(api, b):
    user, tok_a = api.make_user()
    tok_b = b.login(user, "secret123")           # the same secret: both accept both
    name = submit_ok(api, tok_a, job(api.unique("xsrv"), "sleep 300"))
    r = b.call("GET", "/api/v1/jobs/" + name, tok_b)
    assert r.status_code == 200 and r.json()["name"] == name, r.text
    assert r.json()["username"] == user
    wait_state(b, name, {"RUNNING"})
    r = b.call("PUT", "/api/v1/jobs/%s/executionType" % name, tok_a, json={"value": "STOP"})
    assert r.status_code == 200, r.text
    assert wait_state(api, name, {"STOPPED"})["state"] == "STOPPED"
    r = api.call("PUT", "/api/v1/jobs/%s/executionType" % name, tok_b, json={"value": "START"})
    assert r.status_code == 200, r.text
    st = wait_state(b, name, {"RUNNING"})
    assert st["retries"] == 1
    r = b.call("PUT", "/api/v1/jobs/%s/executionType" % name, tok_b, json={"value": "STOP"})
    assert r.status_code == 200
    # a user change through B ends A's trust in the old token within its cache TTL
    r = b.call("PUT", "/api/v1/user", api.admin_token,
               json={"username": user, "password": "another123", "modify": True})
    assert r.status_code == 201, r.text
    time.sleep(1.2)                               # PaiAuthCacheTTL 1000
    assert_error(api.call("GET", "/api/v1/audit", tok_a), 401, "UnauthorizedUserError")


def test_a_stop_that_loses_a_deadlock_is_run_again(api):
    """InnoDB breaks a deadlock by rolling one transaction back. Here the
    server's STOP is made that one on purpose: a client transaction heavier
    than it (thousands of rows changed) holds the VC's sums, which the STOP's
    trigger waits for, then waits for the STOP's job row. The STOP is run
    again and answers 200; without the retry it was a 503 (a rehearsal's
    failure, two servers' writes meeting in pai_active_totals)."""
    user, tok = api.make_user()
    name = submit_ok(api, tok, job(api.unique("dlk"), "sleep 300"))
    wait_state(api, name, {"RUNNING"})
    db_query(api, "DROP TABLE IF EXISTS test_weight; CREATE TABLE test_weight (id INT PRIMARY KEY,"
                  " v INT) ENGINE=InnoDB; INSERT INTO test_weight SELECT seq, 0 FROM seq_1_to_5000")
    client = subprocess.Popen(
        mariadb_client("-B", "-n", "--force"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def say(sql, marker):
        client.stdin.write(sql + "; SELECT '%s';\n" % marker)
        client.stdin.flush()
        while client.stdout.readline().strip() != marker:
            pass

    answers = []
    try:
        say("BEGIN; UPDATE test_weight SET v = v + 1;"
            " SELECT COUNT(*) FROM pai_active_totals FOR UPDATE", "locked")
        stop = threading.Thread(target=lambda: answers.append(api.call(
            "PUT", "/api/v1/jobs/%s/executionType" % name, tok, json={"value": "STOP"})))
        stop.start()
        # The STOP holds its job's row and waits. Another transaction may wait
        # for the sums as well (the sync writing an earlier test's job): the
        # STOP is told from it by the row it holds, not by a count of waiters.
        deadline = time.time() + 20
        while True:
            waiting = int(db_query(api, "SELECT COUNT(*) FROM information_schema.innodb_trx"
                                        " WHERE trx_state = 'LOCK WAIT'"))
            if waiting >= 1 and job_row_locked(name):
                break
            assert time.time() < deadline, ("the STOP never waited for the held sums",
                                            waiting, [a.text for a in answers])
            time.sleep(0.05)
        # The cycle: InnoDB rolls the lighter transaction (the STOP's) back.
        say("UPDATE pai_jobs SET version = version WHERE name = '%s'" % name, "updated")
        say("ROLLBACK", "done")
        stop.join(30)
    finally:
        client.stdin.close()
        err = client.stderr.read()
        client.wait()
        db_query(api, "DROP TABLE IF EXISTS test_weight")
    assert "1213" not in err, "the client, not the server, lost the deadlock: " + err
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    assert status(api, name)["state"] == "STOPPED"


def test_a_write_through_one_server_shows_in_the_others_cached_lists(api, b):
    """B answers its lists from its answer cache between its own writes; a
    job submitted and stopped through A shows there within PaiAnswerCacheTTL."""
    user, tok_a = api.make_user()
    tok_b = b.login(user, "secret123")
    listed = lambda: {j["name"]: j["state"] for j in  # noqa: E731
                      b.call("GET", "/api/v1/jobs", tok_b, params={"username": user}).json()}
    for want in ("WAITING RUNNING", "STOPPED"):
        for _ in range(3):
            listed()                              # B's answer, now cached
        if want == "STOPPED":
            r = api.call("PUT", "/api/v1/jobs/%s/executionType" % name, tok_a,
                         json={"value": "STOP"})
            assert r.status_code == 200, r.text
        else:
            name = submit_ok(api, tok_a, job(api.unique("cachedb"), "sleep 300"))
        t0 = time.time()
        while listed().get(name) not in want.split():
            assert time.time() - t0 < 1.5, listed()   # PaiAnswerCacheTTL 1000
            time.sleep(0.05)


def test_a_token_revoked_through_one_server_ends_on_the_other(api, b):
    user, tok = api.make_user()
    app = api.call("POST", "/api/v2/tokens/application", tok).json()
    # warm B's cache with it, then revoke it through A
    assert b.call("GET", "/api/v1/jobs", app["token"]).status_code == 200
    r = api.call("DELETE", "/api/v2/tokens/" + app["id"], tok)
    assert r.status_code == 200, r.text
    time.sleep(1.2)                               # PaiAuthCacheTTL 1000
    assert_error(b.call("GET", "/api/v1/jobs", app["token"]), 401, "UnauthorizedUserError")
    assert b.call("GET", "/api/v2/tokens/check", tok).status_code == 200


def test_a_change_made_through_one_server_reaches_watchers_on_the_other(api, b):
    user, tok = api.make_user()
    name = api.unique("across")
    on_b = Watcher(b, tok, "?user=%s" % user)
    try:
        submit_ok(api, tok, job(name, "sleep 300"))
        wait_state(api, name, {"RUNNING"})
        r = api.call("PUT", "/api/v1/jobs/%s/executionType" % name, tok, json={"value": "STOP"})
        assert r.status_code == 200, r.text
        evs = on_b.until(lambda e: e[2].get("state") == "STOPPED")
        states = [e[2]["state"] for e in evs]
        assert states[0] == "WAITING" and "RUNNING" in states, states
        ids = [e[1] for e in evs]
        assert ids == sorted(set(ids)), ids
    finally:
        on_b.close()


def test_exactly_one_lease_holder(api, b):
    pid, expires = lease_holder(api)
    assert master_of(pid) in (pid_of(api), pid_of(b))
    assert expires > time.time() * 1000
    assert db_query(api, "SELECT COUNT(*) FROM pai_lease") == "1"
    # it stays with its holder while the holder lives
    time.sleep(3)
    assert lease_holder(api)[0] == pid


def test_kill_the_lease_holder_during_a_burst(api, b):
    """SIGKILL to the holder's whole httpd while both take submissions that
    queue (the cluster is full): the other takes the lease over within
    seconds, admits the queue, and every 201 runs exactly once in Slurm."""
    wait_idle(api, timeout=120)
    # Fill the cluster so that the burst queues behind it.
    owner, tok = api.make_user()
    filler = [submit_ok(api, tok, job(api.unique("fill"), "sleep 20", taskRoles=[
        {"name": "main", "taskNumber": 1, "cpuNumber": 2, "memoryMB": 128,
         "command": "sleep 20"}])) for _ in range(2)]
    pid, _ = lease_holder(api)
    holder = api if master_of(pid) == pid_of(api) else b
    other = b if holder is api else api
    bursts = [Burst(srv, api.unique("lease"), threads=1, pause=0.5, command="sleep 1")
              for srv in (api, b)]
    try:
        for burst in bursts:
            burst.wait_submitted(4)
        master = pid_of(holder)
        for p in [master] + children(master):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        t_kill = time.time()
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                new_pid, _ = lease_holder(api)
                if master_of(new_pid) == pid_of(other):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        takeover = time.time() - t_kill
        assert takeover < 15, "no server took the lease over"
        burst_other = bursts[1] if other is b else bursts[0]
        burst_other.wait_submitted(len(burst_other.results) + 4)
    finally:
        results = []
        for burst in bursts:
            results += burst.finish()
        # the killed server comes back for the tests that follow
        sh("scripts/httpd.sh", "start", holder.instdir, env=holder.env)
    queued_then_run = check_nothing_lost(other, bursts[0], [r for r in results
                                                             if r[0].startswith(bursts[0].prefix)])
    check_nothing_lost(other, bursts[1], [r for r in results if r[0].startswith(bursts[1].prefix)])
    for name in filler:
        wait_state(other, name, {"SUCCEEDED"}, timeout=120)
    print("\nSCALEOUT lease holder killed: taken over in %.1f s; %d submissions, %d accepted, "
          "0 lost" % (takeover, len(results), len([r for r in results if r[1] == 201])))
    assert queued_then_run


def unix_user(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)


def test_per_user_accounts_isolate_jobs(api):
    """Server C maps each PAI user to the same-named Unix account: a task of
    user A can read neither a file written by a task of user B nor signal it."""
    c = start_server(api, "c", PORT_C, PAI_USER_MAPPING="same-name")
    try:
        names = {}
        for who in ("isoa", "isob"):
            name = "pai_%s_%s" % (who, os.urandom(3).hex())
            unix_user(name)
            r = c.call("PUT", "/api/v1/user", c.admin_token,
                       json={"username": name, "password": "secret123", "modify": False})
            assert r.status_code == 201, r.text
            names[who] = (name, c.login(name, "secret123"))
        wait_idle(api, timeout=120)
        b_user, b_tok = names["isob"]
        a_user, a_tok = names["isoa"]
        # B's task writes a secret (with the default umask of the job) and waits.
        jb = submit_ok(c, b_tok, job(c.unique("isob"),
                                     "echo s3cret > secret.txt; echo $$ > pid.txt; "
                                     "pwd > where.txt; sleep 60"))
        wait_state(c, jb, {"RUNNING"})
        logdir = job_dir(api, jb, 0, b_user)
        for _ in range(100):
            if os.path.exists(os.path.join(logdir, "pid.txt")):
                break
            time.sleep(0.1)
        # the task ran as B's own account
        assert pwd.getpwuid(os.stat(os.path.join(logdir, "secret.txt")).st_uid).pw_name == b_user
        victim_pid = open(os.path.join(logdir, "pid.txt")).read().strip()
        # A's task tries to read it and to signal B's task; it reports what happened.
        probe = ("id -un > who.txt; "
                 "if cat %s/secret.txt > stolen.txt 2>/dev/null; then echo READ; else echo DENIED; fi"
                 " > read.txt; "
                 "if kill -0 %s 2>/dev/null; then echo SIGNALLED; else echo DENIED; fi > kill.txt"
                 % (logdir, victim_pid))
        ja = submit_ok(c, a_tok, job(c.unique("isoa"), probe))
        sta = wait_state(c, ja, {"SUCCEEDED", "FAILED"})
        assert sta["state"] == "SUCCEEDED", sta
        adir = job_dir(api, ja, 0, a_user)
        assert open(os.path.join(adir, "who.txt")).read().strip() == a_user
        assert open(os.path.join(adir, "read.txt")).read().strip() == "DENIED"
        assert open(os.path.join(adir, "kill.txt")).read().strip() == "DENIED"
        # B's job was not disturbed; its owner stops it
        assert wait_state(c, jb, {"RUNNING"})["state"] == "RUNNING"
        r = c.call("PUT", "/api/v1/jobs/%s/executionType" % jb, b_tok, json={"value": "STOP"})
        assert r.status_code == 200, r.text
        assert wait_state(c, jb, {"STOPPED"})["state"] == "STOPPED"
        # the SSH view names the job's own account
        r = c.call("GET", "/api/v1/jobs/%s/ssh" % ja)
        assert r.json()["username"] == a_user
        # a PAI user called root is not even made (test_peruser.py has the rest)
        assert_error(c.call("PUT", "/api/v1/user", c.admin_token,
                            json={"username": "root", "password": "secret123", "modify": False}),
                     403, "ForbiddenUserError")
    finally:
        stop_server(c)

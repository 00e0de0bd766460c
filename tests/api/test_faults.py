"""Faults with nothing lost: an httpd child killed with SIGKILL, slurmctld down for
30 s, MariaDB restarted, each in the middle of a burst of submissions and reads.

Afterwards every submission that got 201 ran exactly once in Slurm and
succeeded, no Slurm job is left without its record, nothing stays WAITING, and
every caller had an answer (a 503 naming the outage while it lasted) within
the launcher timeout."""
import concurrent.futures
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import ROOT, MARIADB_PORT, job_dir, mariadb_dir, sh
from test_jobs import job, task_output, wait_idle

LAUNCHER_TIMEOUT = 10          # PaiLauncherTimeout in conf/httpd.conf.in
ANSWER_WITHIN = LAUNCHER_TIMEOUT + 5
FINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
OUTAGE_ERRORS = {"LauncherUnavailableError", "LauncherTimeoutError", "DatabaseUnavailableError"}


class Burst:
    """Submissions (and reads) from a few threads until told to stop."""

    # About 2 submissions a second: enough to be caught by every fault, few
    # enough for the 4-CPU test cluster to run them all in a minute afterwards.
    def __init__(self, api, prefix, threads=2, pause=1.0, command="sleep 1"):
        self.api, self.prefix, self.pause, self.command = api, prefix, pause, command
        self.results = []          # (name, status, error name or None, seconds)
        self.reads = []            # (status, seconds)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(threads + 1)
        self.user, self.token = api.make_user()
        self.futures = [self.pool.submit(self.submitter, i) for i in range(threads)]
        self.futures.append(self.pool.submit(self.reader))

    def submitter(self, i):
        s = requests.Session()
        n = 0
        while not self.stop.is_set():
            name = "%s_%d_%d" % (self.prefix, i, n)
            n += 1
            t0 = time.time()
            try:
                r = s.post(self.api.url("/api/v1/jobs"), json=job(name, self.command), timeout=60,
                           headers={"Authorization": "Bearer " + self.token})
                status = r.status_code
                err = r.json().get("error") if status >= 400 else None
                if status >= 400:
                    assert set(r.json()) == {"error", "message"}, r.text
                    assert r.json()["message"], r.text
            except requests.ConnectionError:
                status, err = None, "connection"     # the process serving it died
                s = requests.Session()
            with self.lock:
                self.results.append((name, status, err, time.time() - t0))
            time.sleep(self.pause)

    def reader(self):
        s = requests.Session()
        while not self.stop.is_set():
            t0 = time.time()
            try:
                status = s.get(self.api.url("/api/v1/jobs"), params={"username": self.user},
                               timeout=60).status_code
            except requests.ConnectionError:
                status = None
                s = requests.Session()
            with self.lock:
                self.reads.append((status, time.time() - t0))
            time.sleep(0.1)

    def wait_submitted(self, n, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.results) >= n:
                    return
            time.sleep(0.05)
        raise AssertionError("the burst stalled: %s" % (self.results[-3:],))

    def finish(self):
        self.stop.set()
        for f in self.futures:
            f.result()
        self.pool.shutdown()
        return self.results


def slurm_jobs(api):
    """(id, comment, state) of every job slurmctld still knows (MinJobAge is a day)."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%k|%T"], capture_output=True,
                         text=True, check=True,
                         env=dict(os.environ, SLURM_CONF=os.path.join(api.slurmdir, "slurm.conf")))
    return [tuple(line.split("|")) for line in out.stdout.splitlines() if line.strip()]


def wait_final(api, names, timeout=240):
    """Every named job that exists reaches a final state; returns name -> status."""
    deadline = time.time() + timeout
    pending, final = set(names), {}
    while pending and time.time() < deadline:
        for name in sorted(pending):
            r = api.call("GET", "/api/v1/jobs/" + name)
            if r.status_code == 404:
                final[name] = None
                pending.discard(name)
            elif r.status_code == 200 and r.json()["state"] in FINAL:
                final[name] = r.json()
                pending.discard(name)
        if pending:
            time.sleep(0.5)
    stuck = {n: api.call("GET", "/api/v1/jobs/" + n).text for n in list(pending)[:3]}
    assert not pending, "%d jobs never finished, e.g. %s" % (len(pending), stuck)
    return final


def check_nothing_lost(api, burst, results):
    accepted = [n for n, status, _, _ in results if status == 201]
    assert accepted, results[:5]
    for name, status, err, secs in results:
        # an answer in bounded time, and only these answers
        assert secs < ANSWER_WITHIN, (name, status, err, secs)
        assert status in (201, 503, 504, None), (name, status, err)
        if status in (503, 504):
            assert err in OUTAGE_ERRORS, (name, status, err)
    assert all(secs < ANSWER_WITHIN for _, secs in burst.reads), max(burst.reads,
                                                                     key=lambda x: x[1])
    final = wait_final(api, [n for n, _, _, _ in results])
    for name in accepted:
        st = final[name]
        assert st is not None, "%s got 201 and is gone" % name
        assert st["state"] == "SUCCEEDED", st
    # Slurm: each accepted job ran exactly once; a job without its record does
    # not run on (the sync cancels it) -- give the sync a few cycles for that.
    deadline = time.time() + 30
    while True:
        sj = [(i, c, s) for i, c, s in slurm_jobs(api) if c.startswith("pai:" + burst.prefix)]
        orphans = [(i, c, s) for i, c, s in sj if final.get(c.split(":")[1]) is None
                   and s in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")]
        if not orphans or time.time() > deadline:
            break
        time.sleep(1)
    assert not orphans, orphans
    for name in accepted:
        # pai:<job>:<attempt>:<tag>
        runs = [s for i, c, s in sj if c.startswith("pai:%s:0:" % name)]
        assert runs == ["COMPLETED"], (name, runs)
        assert not [c for i, c, s in sj if c.startswith("pai:%s:" % name)
                    and not c.startswith("pai:%s:0:" % name)]
    return accepted


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError):
                pass
    return out


def test_kill_httpd_child_during_burst(api):
    wait_idle(api, timeout=120)
    # Busy, so that a killed child is likely to be in the middle of a request.
    burst = Burst(api, api.unique("k9"), threads=4, pause=0.1, command="true")
    with open(os.path.join(api.instdir, "httpd.pid")) as f:
        master = int(f.read())
    killed = []
    try:
        burst.wait_submitted(8)
        for victim in children(master)[:2]:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            burst.wait_submitted(len(burst.results) + 6)
    finally:
        results = burst.finish()
    assert killed
    accepted = check_nothing_lost(api, burst, results)
    print("\nFAULT %s kill -9 of %d httpd children: %d submissions, %d accepted, %d cut off, 0 lost"
          % (api.backend, len(killed), len(results), len(accepted),
             len([r for r in results if r[1] is None])))
    # the dead children were replaced and the sync runs on
    assert api.call("GET", "/api/v1/jobs").status_code == 200


def test_slurmctld_down_30s_during_burst(api):
    wait_idle(api, timeout=120)
    # Short jobs, so the cluster has room when slurmctld goes: submissions then
    # meet the outage instead of queueing behind jobs it cannot finish.
    burst = Burst(api, api.unique("ctld"), pause=3.0, command="true")
    try:
        burst.wait_submitted(5)
        with open(os.path.join(api.slurmdir, "slurmctld.pid")) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGTERM)
        t_down = time.time()
        try:
            time.sleep(30)
        finally:
            sh("scripts/slurm.sh", "start", api.slurmdir, env=api.env)
        burst.wait_submitted(len(burst.results) + 5, timeout=120)
    finally:
        results = burst.finish()
    refused = [r for r in results if r[1] == 503]
    assert refused, "no submission met the outage (%d, all 201)" % len(results)
    assert all(r[2] in OUTAGE_ERRORS for r in refused), refused
    accepted = check_nothing_lost(api, burst, results)
    print("\nFAULT %s slurmctld down %.0f s: %d submissions, %d accepted, %d refused (503), 0 lost"
          % (api.backend, 30, len(results), len(accepted), len(refused)))
    assert time.time() - t_down < 600


def test_slurmctld_down_as_tasks_start(api):
    """slurmctld goes away after it started a job, before the job's tasks had
    their steps (srun needs slurmctld for each): the steps are tried again once
    it is back, and the job succeeds instead of failing for the outage."""
    import glob
    wait_idle(api, timeout=120)
    hold = os.path.join(api.slurmdir, "hold")
    for f in glob.glob(os.path.join(api.slurmdir, "held.*")):
        os.unlink(f)
    _, token = api.make_user()
    name = api.unique("held")
    open(hold, "w").close()        # the prolog of scripts/slurm.sh (PAI_SLURM_TEST_HOLD)
    try:
        r = api.call("POST", "/api/v1/jobs", token, json=job(name, "echo done"))
        assert r.status_code == 201, r.text
        deadline = time.time() + 60
        while not glob.glob(os.path.join(api.slurmdir, "held.*")):
            assert time.time() < deadline, "the job never reached its prolog"
            time.sleep(0.1)
        time.sleep(3)              # slurmctld is done with the job's start
        with open(os.path.join(api.slurmdir, "slurmctld.pid")) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 30
        while os.path.exists("/proc/%d" % pid):
            assert time.time() < deadline, "slurmctld did not stop"
            time.sleep(0.1)
    finally:
        os.unlink(hold)
    time.sleep(12)                 # the batch script runs and finds no controller
    sh("scripts/slurm.sh", "start", api.slurmdir, env=api.env)
    final = wait_final(api, [name], timeout=120)
    with open(os.path.join(job_dir(api, name), "batch.log")) as f:
        batch = f.read()
    assert "the step of task main-0 did not start" in batch, batch
    assert final[name]["state"] == "SUCCEEDED", (final[name], batch)
    assert task_output(api, name, "main", 0) == "done\n"
    runs = [s for i, c, s in slurm_jobs(api) if c.startswith("pai:%s:" % name)]
    assert runs == ["COMPLETED"], runs


@pytest.mark.mysql_only          # SQLite has no server to restart
def test_mariadb_restart_during_burst(api):
    wait_idle(api, timeout=120)
    burst = Burst(api, api.unique("dbre"))
    d = mariadb_dir()
    try:
        burst.wait_submitted(5)
        sh("scripts/mariadb.sh", "stop", d)
        time.sleep(3)
        sh("scripts/mariadb.sh", "start", d, str(MARIADB_PORT))
        burst.wait_submitted(len(burst.results) + 8, timeout=120)
    finally:
        results = burst.finish()
    accepted = check_nothing_lost(api, burst, results)
    refused = [r for r in results if r[1] == 503]
    print("\nFAULT %s MariaDB restart: %d submissions, %d accepted, %d refused (503), 0 lost"
          % (api.backend, len(results), len(accepted), len(refused)))
    # after the restart, the service is whole again: a submission goes through
    r = api.call("GET", "/api/v1/jobs", params={"username": burst.user})
    assert r.status_code == 200


def error_log_since(api, offset):
    with open(os.path.join(api.instdir, "logs", "error.log")) as f:
        f.seek(offset)
        return f.read()


def test_graceful_restart_while_the_sync_waits_on_slurm(api):
    """Children replaced while the background sync is inside a launcher call:
    the exiting child must not free what the sync still uses (a child once
    crashed this way after a graceful restart)."""
    from conftest import BAD_LOG
    from test_guard import replace_children
    wait_idle(api, timeout=120)
    log = os.path.join(api.instdir, "logs", "error.log")
    offset = os.path.getsize(log)
    with open(os.path.join(api.slurmdir, "slurmrestd.pid")) as f:
        restd = int(f.read())
    os.kill(restd, signal.SIGSTOP)
    try:
        time.sleep(2.5)          # PaiSyncInterval is 1 s: a cycle now waits on slurmrestd
        replace_children(api)    # reads need no launcher, so this returns at once
        time.sleep(2)
    finally:
        os.kill(restd, signal.SIGCONT)
    # The stopped sync's answer comes back; the old child then ends.
    time.sleep(4)
    bad = [line for line in error_log_since(api, offset).splitlines() if BAD_LOG.search(line)]
    assert not bad, "\n".join(bad)
    # and the sync runs on in the new children: a job goes through
    name = api.unique("gr")
    _, token = api.make_user()
    r = api.call("POST", "/api/v1/jobs", token, json=job(name, "true"))
    assert r.status_code == 201, r.text
    deadline = time.time() + 60
    while api.call("GET", "/api/v1/jobs/" + name).json()["state"] != "SUCCEEDED":
        assert time.time() < deadline, api.call("GET", "/api/v1/jobs/" + name).text
        time.sleep(0.5)


def log_time(line):
    """Seconds since the epoch of an error-log line's '[Sun Nov 29 06:50:33.197633 2026]'."""
    import datetime
    stamp = line[1:line.index("]")]
    return datetime.datetime.strptime(stamp, "%a %b %d %H:%M:%S.%f %Y").timestamp()


def test_graceful_restart_hands_the_sync_over_at_once(api):
    """The ending holder gives its lease up (PAI0206), so a new child runs the
    loop within about a sync interval, not after the 5 s lease runs out."""
    from test_guard import replace_children
    log = os.path.join(api.instdir, "logs", "error.log")
    deadline = time.time() + 30
    while "PAI0204" not in error_log_since(api, 0):     # someone holds the lease
        assert time.time() < deadline
        time.sleep(0.2)
    offset = os.path.getsize(log)
    replace_children(api)
    deadline = time.time() + 30
    while True:
        lines = error_log_since(api, offset).splitlines()
        released = [l for l in lines if "PAI0206" in l]
        taken = [l for l in lines if "PAI0204" in l]
        if released and taken:
            break
        assert time.time() < deadline, "\n".join(lines)
        time.sleep(0.2)
    gap = log_time(taken[0]) - log_time(released[0])
    print("\nsync lease handed over %.2f s after the holder ended" % gap)
    assert 0 <= gap < 3, (released[0], taken[0])

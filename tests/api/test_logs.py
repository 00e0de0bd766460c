"""A task's logs over HTTP (/api/v2's log list, this server's content URIs):
whole, by Range, by tail and followed; for the owner and admins only; and a
job that plants a link or a FIFO in place of its log gets an error, not
another file and not a hang."""
import os
import threading
import time

import requests

from conftest import assert_error, job_dir
from test_jobs import job, submit_ok, wait_state

MB = 1024 * 1024


def assert_v2_error(r, status, code, message_part=None):
    return assert_error(r, status, code, message_part, key="code")


def logs_path(user, name, attempt=0, role="main", index=0):
    return ("/api/v2/jobs/%s~%s/attempts/%d/taskRoles/%s/taskIndex/%d/attempts/0/logs"
            % (user, name, attempt, role, index))


def wait_stdout(api, user, name, token, text, tries=100):
    """The task's stdout once it holds text (its tee writes it a moment after
    the command)."""
    for _ in range(tries):
        r = api.call("GET", logs_path(user, name) + "/stdout", token)
        if r.status_code == 200 and text in r.text:
            return r
        time.sleep(0.2)
    raise AssertionError("stdout of %s never showed %r: %s" % (name, text, r.text))


def test_a_task_log_whole_by_range_by_tail(api):
    user, token = api.make_user()
    other, other_token = api.make_user()
    name = api.unique("logs")
    submit_ok(api, token, job(name, "head -c %d /dev/zero | tr '\\0' x; echo; echo to-stderr >&2"
                              % MB))
    st = wait_state(api, name, {"SUCCEEDED", "FAILED"})
    assert st["state"] == "SUCCEEDED", st
    path = logs_path(user, name)
    # v1's containerLog is the task's log list on this server
    assert st["taskRoles"]["main"]["taskStatuses"][0]["containerLog"] == api.url(path)
    r = api.call("GET", path, token)
    assert r.status_code == 200, r.text
    locs = r.json()["locations"]
    assert [loc["name"] for loc in locs] == ["stdout", "stderr", "all"]
    for loc in locs:
        assert loc["uri"] == api.url(path + "/" + loc["name"]), loc
    uri = {loc["name"]: loc["uri"] for loc in locs}
    auth = {"Authorization": "Bearer " + token}

    r = api.session.get(uri["stdout"], headers=auth, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert len(r.content) == MB + 1 and r.content == b"x" * MB + b"\n"
    assert api.session.get(uri["stderr"], headers=auth, timeout=30).text == "to-stderr\n"
    both = api.session.get(uri["all"], headers=auth, timeout=30).content
    assert len(both) == MB + 1 + len("to-stderr\n") and b"to-stderr\n" in both
    # Range is answered by httpd: 206 with the part
    r = api.session.get(uri["stdout"], headers=dict(auth, Range="bytes=100-199"), timeout=30)
    assert r.status_code == 206 and r.content == b"x" * 100, r.headers
    assert r.headers["Content-Range"] == "bytes 100-199/%d" % (MB + 1)
    r = api.session.get(uri["stdout"], headers=dict(auth, Range="bytes=-5"), timeout=30)
    assert r.status_code == 206 and r.content == b"xxxx\n"
    # tail-mode: the last 16 KiB; tail: so many bytes from the end
    for q in ("tail-mode=true", "tailMode=true"):
        r = api.session.get(uri["stdout"] + "?" + q, headers=auth, timeout=30)
        assert r.status_code == 200 and len(r.content) == 16384 and r.content.endswith(b"x\n")
    r = api.session.get(uri["stdout"] + "?tail=3", headers=auth, timeout=30)
    assert r.content == b"xx\n"
    assert api.session.get(uri["stderr"] + "?tail=100000", headers=auth,
                        timeout=30).text == "to-stderr\n"
    assert_v2_error(api.session.get(uri["stdout"] + "?tail=-1", headers=auth, timeout=30), 400,
                    "InvalidParametersError")
    # an admin reads it; another user, no one anonymous
    assert api.call("GET", path + "/stderr", api.admin_token).text == "to-stderr\n"
    assert_v2_error(api.call("GET", path + "/stdout", other_token), 403, "ForbiddenUserError")
    assert_v2_error(api.call("GET", path, other_token), 403, "ForbiddenUserError")
    assert api.call("GET", path + "/stdout").status_code == 401
    # no such log, task, task attempt or job attempt
    assert_v2_error(api.call("GET", path + "/secret", token), 404, "NoTaskLogError")
    assert_v2_error(api.call("GET", logs_path(user, name, index=1) + "/stdout", token), 404,
                    "NoTaskLogError")
    assert_v2_error(api.call("GET", logs_path(user, name, role="nope"), token), 404,
                    "NoTaskLogError")
    assert_v2_error(api.call("GET", path.replace("/attempts/0/logs", "/attempts/1/logs"), token),
                    404, "NoTaskLogError")
    assert_v2_error(api.call("GET", logs_path(user, name, attempt=3), token), 404, "NoJobError")
    assert_v2_error(api.call("GET", logs_path(other, name), other_token), 404, "NoJobError")


def test_a_followed_log_streams_until_the_task_ends(api):
    user, token = api.make_user()
    name = api.unique("follow")
    submit_ok(api, token, job(name, "for i in 1 2 3 4 5 6; do echo line$i; sleep 1; done"))
    wait_state(api, name, {"RUNNING"})
    start = time.time()
    r = api.session.get(api.url(logs_path(user, name) + "/stdout?follow=true"),
                     headers={"Authorization": "Bearer " + token}, stream=True, timeout=60)
    assert r.status_code == 200 and r.headers.get("Transfer-Encoding") == "chunked", r.headers
    seen, first_at = b"", None
    for chunk in r.iter_content(chunk_size=None):
        if chunk and first_at is None:
            first_at = time.time() - start
        seen += chunk
    ended_at = time.time() - start
    assert seen == b"".join(b"line%d\n" % i for i in range(1, 7)), seen
    # output came while the task ran, and the read ended with the task
    assert first_at is not None and first_at < ended_at - 2, (first_at, ended_at)
    assert ended_at < 30, ended_at
    assert wait_state(api, name, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    # after the end, follow answers what there is and ends at once
    t0 = time.time()
    r = api.call("GET", logs_path(user, name) + "/stdout?follow=true&tail=6", token)
    assert r.status_code == 200 and r.text == "line6\n" and time.time() - t0 < 10


def test_a_followed_log_not_made_yet_is_waited_for_while_the_task_runs(api):
    """Slurm says RUNNING a moment before the task makes its logs: a follow
    then waits for the file instead of answering 404, and stops waiting (404)
    once the task has ended without making it."""
    user, token = api.make_user()
    name = api.unique("await")
    # The task takes its "all" log away (and says so), and after a while
    # makes it anew, readable by the server's group as its logs are.
    submit_ok(api, token, job(name, "rm -f main-0.all; echo removed; sleep 4; "
                              "(umask 027; echo late > main-0.all); sleep 3"))
    wait_stdout(api, user, name, token, "removed")
    path = logs_path(user, name) + "/all"
    assert_v2_error(api.call("GET", path, token), 404, "NoTaskLogError", "does not exist")
    t0 = time.time()
    r = api.session.get(api.url(path + "?follow=true"), headers={"Authorization": "Bearer " + token},
                        stream=True, timeout=60)
    assert r.status_code == 200 and r.headers.get("Transfer-Encoding") == "chunked", r.text
    assert r.content == b"late\n" and time.time() - t0 < 30
    assert wait_state(api, name, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"

    # Never made: the follow ends with the task, 404.
    name = api.unique("never")
    submit_ok(api, token, job(name, "rm -f main-0.all; echo removed; sleep 4"))
    wait_stdout(api, user, name, token, "removed")
    t0 = time.time()
    r = api.call("GET", logs_path(user, name) + "/all?follow=true", token)
    assert_v2_error(r, 404, "NoTaskLogError", "does not exist")
    assert time.time() - t0 < 25, time.time() - t0


def test_log_followers_keep_no_database_connection(api):
    """A follower may stay PaiLogFollowSeconds: it holds none of its process's
    DBDMax (8) database connections while it follows, so 64 of them leave
    every other call answered at once, and each gets the task's words."""
    user, token = api.make_user()
    name = api.unique("many")
    # It runs until stopped below: the sleep outlasts any wait here.
    submit_ok(api, token, job(name, "echo start; sleep 90; echo end"))
    wait_stdout(api, user, name, token, "start")
    # The task's own start comes before the sync's next look at Slurm (on a
    # loaded 2-CPU CI machine the job still read WAITING here): the calls
    # below check RUNNING, so the sync must have seen it first.
    wait_state(api, name, {"RUNNING"})
    auth = {"Authorization": "Bearer " + token}
    url = api.url(logs_path(user, name) + "/stdout?follow=true")
    followers, lock = [], threading.Lock()

    def follow():
        # a connection of its own each, as 64 users' clients would have
        r = requests.get(url, headers=auth, stream=True, timeout=60)
        first = next(r.iter_content(chunk_size=None), b"")
        with lock:
            followers.append((r, first))

    threads = [threading.Thread(target=follow, daemon=True) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    try:
        assert len(followers) == 64, "%d of 64 followers answered" % len(followers)
        assert all(r.status_code == 200 and first.startswith(b"start") for r, first in followers)
        for _ in range(8):
            t0 = time.time()
            r = requests.get(api.url("/api/v1/jobs/" + name), headers=auth, timeout=30)
            assert r.status_code == 200 and r.json()["jobStatus"]["state"] == "RUNNING", r.text
            assert time.time() - t0 < 3, time.time() - t0
    finally:
        for r, _ in followers:
            r.close()
        api.call("PUT", "/api/v1/jobs/%s/executionType" % name, token, json={"value": "STOP"})
    wait_state(api, name, {"STOPPED"})


def test_a_planted_link_or_fifo_is_not_served(api):
    user, token = api.make_user()
    name = api.unique("plant")
    # The task (cwd: its attempt folder) swaps its logs for a link to a file
    # it cannot read and for a FIFO that no one writes.
    submit_ok(api, token, job(name, "echo planted; rm -f main-0.err main-0.all; "
                              "ln -s /etc/shadow main-0.err; mkfifo main-0.all; "
                              "ln -s /etc main-0.out.d; echo done > ready; sleep 120"))
    wait_state(api, name, {"RUNNING"})
    path = logs_path(user, name)
    # Planted once the task wrote "ready" (a 404 for "all" alone came before
    # the task made its logs, and stderr was then still a plain file).
    ready = os.path.join(job_dir(api, name), "ready")
    for _ in range(150):
        if os.path.exists(ready):
            break
        time.sleep(0.2)
    assert os.path.exists(ready)
    for which in ("stderr", "all"):
        t0 = time.time()
        r = api.call("GET", path + "/" + which, token)
        assert_v2_error(r, 404, "NoTaskLogError", "main-0")
        assert "root:" not in r.text and time.time() - t0 < 5
    # stdout is still served
    assert wait_stdout(api, user, name, token, "planted").text.startswith("planted")
    r = api.call("PUT", "/api/v1/jobs/%s/executionType" % name, token, json={"value": "STOP"})
    assert r.status_code == 200, r.text
    wait_state(api, name, {"STOPPED"})


def test_logs_past_their_retention_are_removed_from_the_nodes(api):
    """An attempt's folder goes PaiLogRetention (30) days after its end mark,
    removed by Slurm's epilog as its account; one still running (no mark) or
    ended lately stays, and so does everything outside the attempts."""
    import pwd
    import subprocess

    user, token = api.make_user()
    first = submit_ok(api, token, job(api.unique("keep"), "echo kept"))
    assert wait_state(api, first, {"SUCCEEDED", "FAILED"})["state"] == "SUCCEEDED"
    # the batch script marked its attempt's end
    mark = os.path.join(job_dir(api, first), ".pai-ended")
    for _ in range(50):
        if os.path.exists(mark):
            break
        time.sleep(0.2)
    assert os.path.isfile(mark)

    acct = pwd.getpwnam("paijob")
    root = os.path.join(api.statedir, "jobs", "paijob")
    old, lately, unmarked = (os.path.join(root, api.unique(p)) for p in ("old", "lately", "run"))
    gone = os.path.join(root, api.unique("dead") + "@deleted-1")

    def plant(job_folder, age_days, marked=True):
        attempt = os.path.join(job_folder, "attempt-0")
        os.makedirs(attempt)
        for f in ("main-0.out", ".pai-ended") if marked else ("main-0.out",):
            with open(os.path.join(attempt, f), "w") as fh:
                fh.write("x\n")
        subprocess.run(["chown", "-R", "%d:%d" % (acct.pw_uid, acct.pw_gid), job_folder],
                       check=True)
        when = "%d days ago" % age_days
        for f in ("main-0.out", ".pai-ended") if marked else ("main-0.out",):
            subprocess.run(["touch", "-d", when, os.path.join(attempt, f)], check=True)
        return attempt

    old_attempt = plant(old, 40)
    lately_attempt = plant(lately, 2)
    unmarked_attempt = plant(unmarked, 400, marked=False)
    plant(gone, 45)
    with open(os.path.join(old, ".pai-created"), "w") as fh:
        fh.write("1\n")
    # the once-an-hour mark of the first job's epilog is taken away
    os.unlink(os.path.join(api.statedir, "jobs", ".pai-pruned"))
    second = submit_ok(api, token, job(api.unique("prune"), "true"))
    wait_state(api, second, {"SUCCEEDED", "FAILED"})
    for _ in range(150):
        if not os.path.exists(old_attempt) and not os.path.exists(gone):
            break
        time.sleep(0.2)
    assert not os.path.exists(old_attempt) and not os.path.exists(gone)
    assert os.path.isfile(os.path.join(old, ".pai-created"))
    for kept in (lately_attempt, unmarked_attempt, job_dir(api, first), job_dir(api, second)):
        assert os.path.isfile(os.path.join(kept, "main-0.out")), kept

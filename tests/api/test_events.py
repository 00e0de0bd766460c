"""A job's events (v1.8's GET /api/v2/jobs/{user}~{job}/events): what
happened to each attempt and task, the newest first, by type, deduplicated."""
import re
import time

from conftest import assert_error, db_query
from test_jobs import job, status, submit_ok, wait_state

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def events(api, token, user, name, query=""):
    r = api.call("GET", "/api/v2/jobs/%s~%s/events%s" % (user, name, query), token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["totalCount"] == len(body["data"]), body
    return body["data"]


def wait_events(api, token, user, name, want, timeout=30):
    """The events once every (attempt, reason) of want is there."""
    deadline = time.time() + timeout
    while True:
        evs = events(api, token, user, name)
        have = {(e["attemptId"], e["reason"]) for e in evs}
        if want <= have or time.time() > deadline:
            assert want <= have, (want - have, evs)
            return evs
        time.sleep(0.5)


def test_a_retried_failure_tells_its_story(api):
    user, token = api.make_user()
    name = api.unique("events")
    submit_ok(api, token, job(name, "sleep 1; exit 3", retryCount=1))
    # Watched closely: a failed attempt that is retried never shows as the
    # job's end (a client waiting for FAILED would stop at the first).
    deadline, st = time.time() + 90, None
    while time.time() < deadline:
        st = status(api, name)
        if st["state"] == "FAILED":
            break
        time.sleep(0.05)
    assert st["state"] == "FAILED" and st["retries"] == 1, st
    want = {(0, "Submitted"), (0, "Admitted"), (0, "Started"), (0, "TaskFailed"),
            (0, "Failed"), (1, "RetryScheduled"), (1, "Admitted"), (1, "Started"),
            (1, "TaskFailed"), (1, "Failed")}
    evs = wait_events(api, token, user, name, want)
    for e in evs:
        assert ISO.match(e["firstTimestamp"]) and ISO.match(e["lastTimestamp"]), e
        assert e["frameworkName"] == "%s~%s" % (user, name) and e["count"] >= 1, e
        assert e["type"] in ("Normal", "Warning") and e["sourceHost"] is None, e
    # the newest first
    stamps = [e["lastTimestamp"] for e in evs]
    assert stamps == sorted(stamps, reverse=True), stamps
    failed = [e for e in evs if e["reason"] == "TaskFailed" and e["attemptId"] == 0][0]
    assert (failed["taskroleName"], failed["taskIndex"], failed["taskName"]) == \
        ("main", 0, "main-0"), failed
    assert failed["type"] == "Warning" and "exited with code 3" in failed["message"], failed
    assert failed["sourceComponent"] == "task"
    started = [e for e in evs if e["reason"] == "Started"][0]
    assert started["taskroleName"] is None and started["taskIndex"] is None, started
    assert "retryCount 1" in [e for e in evs if e["reason"] == "RetryScheduled"][0]["message"]
    # by type
    warnings = events(api, token, user, name, "?type=Warning")
    assert warnings and {e["type"] for e in warnings} == {"Warning"}
    assert {e["reason"] for e in warnings} >= {"TaskFailed", "Failed", "RetryScheduled"}
    normal = events(api, token, user, name, "?type=Normal")
    assert len(normal) + len(warnings) == len(evs)
    assert_error(api.call("GET", "/api/v2/jobs/%s~%s/events?type=Bad" % (user, name), token),
                 400, "InvalidParametersError", key="code")
    assert_error(api.call("GET", "/api/v2/jobs/%s~nope/events" % user, token), 404,
                 "NoJobError", key="code")


def test_stop_and_a_repeated_report(api):
    user, token = api.make_user()
    name = api.unique("evstop")
    submit_ok(api, token, job(name, "sleep 300"))
    wait_state(api, name, {"RUNNING"})
    # the same thing again counts one more (a task reporting its end twice)
    path = "/api/v1/jobs/%s/tasks/report" % name
    secret = {"X-PAI-Job-Secret": db_query(api, "SELECT secret FROM pai_job_keys WHERE name = "
                                                "'%s'" % name)}
    report = {"attempt": 0, "taskRole": "main", "taskIndex": 0, "event": "exited",
              "exitCode": 0}
    for _ in range(2):
        r = api.call("POST", path, json=report, headers=secret)
        assert r.status_code == 200, r.text
    done = [e for e in events(api, token, user, name) if e["reason"] == "TaskSucceeded"]
    assert len(done) == 1 and done[0]["count"] == 2, done
    assert done[0]["firstTimestamp"] <= done[0]["lastTimestamp"]
    r = api.call("PUT", "/api/v1/jobs/%s/executionType" % name, token, json={"value": "STOP"})
    assert r.status_code == 200, r.text
    evs = wait_events(api, token, user, name, {(0, "StopRequested"), (0, "Stopped")})
    asked = [e for e in evs if e["reason"] == "StopRequested"][0]
    assert user in asked["message"] and asked["sourceComponent"] == "mod_pairest", asked

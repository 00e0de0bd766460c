"""The change stream (GET /api/v2/events/stream): every job state change the
caller may see, as Server-Sent Events with increasing ids; Last-Event-ID
resumes without loss; filters by user, VC and job."""
import json
import queue
import threading
import time

import requests

from conftest import assert_error, db_query
from test_jobs import job, submit_ok, wait_state


class Watcher:
    """An EventSource of our own: reads the stream on a thread into a queue."""

    def __init__(self, api, token, query="", last_id=None):
        headers = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        self.r = requests.get(api.url("/api/v2/events/stream" + query), headers=headers,
                              stream=True, timeout=(10, 60))
        assert self.r.status_code == 200, self.r.text
        assert self.r.headers["Content-Type"].startswith("text/event-stream")
        self.events = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        kind, data, eid = "message", [], None
        try:
            for line in self.r.iter_lines(chunk_size=1, decode_unicode=True):
                if line == "":
                    if data:
                        self.events.put((kind, eid, json.loads("\n".join(data))))
                    kind, data, eid = "message", [], None
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line.startswith("id: "):
                    eid = int(line[4:])
        except Exception:  # the test closed it
            pass

    def until(self, pred, timeout=60):
        """Events read until (and with) the first that pred likes."""
        got, deadline = [], time.time() + timeout
        while time.time() < deadline:
            try:
                ev = self.events.get(timeout=0.5)
            except queue.Empty:
                continue
            got.append(ev)
            if pred(ev):
                return got
        raise AssertionError("no such event in %.0f s; read: %s" % (timeout, got))

    def close(self):
        self.r.close()


def jobs_events(evs, name):
    return [e for e in evs if e[0] == "job" and e[2]["jobName"] == name]


def test_a_job_seen_through_with_filters(api):
    user, token = api.make_user()
    other, other_token = api.make_user()
    name = api.unique("stream")
    everything = Watcher(api, token)
    mine = Watcher(api, token, "?user=%s" % user)
    this = Watcher(api, token, "?job=%s~%s" % (user, name))
    theirs = Watcher(api, other_token, "?user=%s" % other)
    try:
        submit_ok(api, token, job(name, "sleep 1"))
        done = lambda e: e[0] == "job" and e[2]["jobName"] == name and \
            e[2]["state"] == "SUCCEEDED"
        for w in (everything, mine, this):
            evs = jobs_events(w.until(done), name)
            states = [e[2]["state"] for e in evs]
            assert states[0] == "WAITING" and "RUNNING" in states and states[-1] == "SUCCEEDED", \
                states
            ids = [e[1] for e in evs]
            assert ids == sorted(set(ids)) and all(e[2]["id"] == e[1] for e in evs), ids
            last = evs[-1][2]
            assert last["frameworkName"] == "%s~%s" % (user, name) and last["username"] == user
            assert last["virtualCluster"] == "default" and last["exitCode"] == 0, last
            assert not last["deleted"] and last["time"].endswith("Z"), last
        # The same changes, whoever watches them.
        assert theirs.events.empty()
        r = api.call("DELETE", "/api/v1/jobs/%s" % name, token)
        assert r.status_code in (200, 202), r.text
        gone = this.until(lambda e: e[2].get("deleted"))[-1][2]
        assert gone["jobName"] == name and gone["state"] == "SUCCEEDED", gone
        assert theirs.events.empty(), theirs.events.get()
    finally:
        for w in (everything, mine, this, theirs):
            w.close()


def test_a_watcher_back_with_its_last_id_misses_nothing(api):
    user, token = api.make_user()
    names = [api.unique("burst") for _ in range(8)]
    steady = Watcher(api, token, "?user=%s" % user)
    leaver = Watcher(api, token, "?user=%s" % user)
    try:
        for n in names[:4]:
            submit_ok(api, token, job(n, "true"))
        # It leaves in the middle of the burst, after its first event.
        first = leaver.until(lambda e: e[0] == "job")
        leaver.close()
        for n in names[4:]:
            submit_ok(api, token, job(n, "true"))
        for n in names:
            wait_state(api, n, {"SUCCEEDED"})
        last = names[-1]
        ref = steady.until(lambda e: e[2].get("jobName") == last and
                           e[2]["state"] == "SUCCEEDED")
        back = Watcher(api, token, "?user=%s" % user, last_id=first[-1][1])
        try:
            again = back.until(lambda e: e[1] == ref[-1][1])
        finally:
            back.close()
        assert [e[1] for e in first + again] == [e[1] for e in ref if e[1] >= first[0][1]]
        assert [e[2] for e in first + again] == [e[2] for e in ref if e[1] >= first[0][1]]
    finally:
        steady.close()


def test_changes_let_go_are_said_and_bad_ids_refused(api):
    user, token = api.make_user()
    name = api.unique("reset")
    w = Watcher(api, token, "?job=%s" % name)
    submit_ok(api, token, job(name, "true"))
    evs = w.until(lambda e: e[2].get("state") == "SUCCEEDED")
    w.close()
    first = evs[0][1]
    assert len(evs) >= 2, evs
    # As if PaiStreamRetention had let the first go.
    db_query(api, "DELETE FROM pai_changes WHERE id <= %d" % first)
    back = Watcher(api, token, "?job=%s" % name, last_id=first - 1)
    try:
        got = back.until(lambda e: e[1] == evs[-1][1], timeout=10)
        kind, _, data = got[0]
        assert kind == "reset" and "no longer kept" in data["reason"], data
        # then what is kept
        assert [e[1] for e in got[1:]] == [e[1] for e in evs[1:]], (got, evs)
    finally:
        back.close()
    for bad in ("abc", "-1", "1" * 30):
        r = api.call("GET", "/api/v2/events/stream", token, headers={"Last-Event-ID": bad})
        assert_error(r, 400, "InvalidParametersError", "event id", key="code")
    r = api.call("GET", "/api/v2/events/stream", token, headers={"Last-Event-ID": "9" * 17})
    assert_error(r, 400, "InvalidParametersError", "after the last event", key="code")
    assert_error(api.call("GET", "/api/v2/events/stream?user=a/b", token), 400,
                 "InvalidParametersError", key="code")
    assert_error(api.call("GET", "/api/v2/events/stream?job=u~..", token), 400,
                 "InvalidParametersError", key="code")
    assert api.call("GET", "/api/v2/events/stream").status_code == 401

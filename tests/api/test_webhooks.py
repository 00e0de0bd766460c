"""Webhooks (/api/v2/webhooks): a job's state changes POSTed to a receiver,
signed with the hook's secret, retried with backoff while the receiver
fails, one delivery id across attempts, outcomes recorded; never to a
loopback or private address unless an admin allows it (the tests' site
configuration allows 127.0.0.1/32 only); a user's hooks hear of their own
jobs, an admin's of every job."""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import assert_error
from test_jobs import job, submit_ok, wait_state

SECRET = "s3cret-for-the-receiver-0123"


class Receiver:
    """A local receiver that fails each delivery's first `fail` attempts
    (500), or answers every POST with `redirect` (a 302 elsewhere)."""

    def __init__(self, fail=0, redirect=False):
        self.fail, self.redirect = fail, redirect
        self.hits, self.lock = [], threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with outer.lock:
                    delivery = self.headers.get("X-PAI-Delivery")
                    tries = sum(1 for h in outer.hits if h["delivery"] == delivery)
                    ok = not outer.redirect and tries >= outer.fail
                    outer.hits.append({"time": time.time(), "path": self.path, "body": body,
                                       "delivery": delivery, "ok": ok,
                                       "headers": dict(self.headers)})
                if outer.redirect and self.path != "/elsewhere":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                else:
                    self.send_response(200 if ok else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def until(self, pred, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if pred(list(self.hits)):
                    return list(self.hits)
            time.sleep(0.2)
        raise AssertionError("the receiver never saw it; it saw: %s" % self.hits)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def register(api, token, url, events, secret=SECRET, status=201):
    r = api.call("POST", "/api/v2/webhooks", token,
                 json={"url": url, "events": events, "secret": secret})
    assert r.status_code == status, r.text
    return r.json()


def delivered(hits, job, state):
    return [h for h in hits if h["ok"] and json.loads(h["body"])["data"]["jobName"] == job and
            json.loads(h["body"])["event"] == state]


def check_signature(hit, secret=SECRET):
    sig = dict(part.split("=", 1) for part in hit["headers"]["X-PAI-Signature"].split(","))
    want = hmac.new(secret.encode(), ("%s.%s" % (sig["t"], hit["body"])).encode(),
                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig["v1"], want), hit
    assert abs(int(sig["t"]) - hit["time"]) < 30, hit


def test_deliveries_are_signed_retried_and_deduplicable(api):
    user, token = api.make_user()
    other, other_token = api.make_user()
    flaky, moved, seeing_all = Receiver(fail=2), Receiver(redirect=True), Receiver()
    try:
        hook = register(api, token, flaky.url, ["RUNNING", "SUCCEEDED"])
        assert set(hook) == {"id", "username", "url", "events", "createdTime"}, hook
        assert hook["events"] == ["RUNNING", "SUCCEEDED"] and hook["username"] == user
        redirected = register(api, token, moved.url, ["RUNNING"])
        admin_hook = register(api, api.admin_token, seeing_all.url, ["SUCCEEDED", "DELETED"])
        name = api.unique("hooked")
        theirs = api.unique("theirs")
        submit_ok(api, token, job(name, "sleep 1"))
        submit_ok(api, other_token, job(theirs, "true"))
        wait_state(api, name, ["SUCCEEDED"])
        wait_state(api, theirs, ["SUCCEEDED"])

        # Each delivery failed twice, then went through: three attempts,
        # one id, the same body, 1 s and then 2 s apart (the backoff).
        hits = flaky.until(lambda h: delivered(h, name, "RUNNING") and
                           delivered(h, name, "SUCCEEDED"))
        for state in ("RUNNING", "SUCCEEDED"):
            ok = delivered(hits, name, state)[0]
            tries = [h for h in hits if h["delivery"] == ok["delivery"]]
            assert [h["ok"] for h in tries] == [False, False, True], tries
            assert len({h["body"] for h in tries}) == 1
            assert [h["headers"]["X-PAI-Attempt"] for h in tries] == ["1", "2", "3"]
            assert tries[1]["time"] - tries[0]["time"] >= 0.9, tries
            assert tries[2]["time"] - tries[1]["time"] >= 1.9, tries
            body = json.loads(ok["body"])
            assert body["id"] == ok["delivery"] and body["event"] == state
            assert ok["headers"]["X-PAI-Event"] == state
            assert body["data"]["frameworkName"] == "%s~%s" % (user, name)
            assert body["data"]["state"] == state and body["data"]["username"] == user
            for h in tries:
                check_signature(h)
        # A user's hook hears of that user's jobs only.
        assert all(json.loads(h["body"])["data"]["username"] == user for h in hits), hits

        # The outcome of each, as recorded.
        r = api.call("GET", "/api/v2/webhooks/%s/deliveries" % hook["id"], token)
        assert r.status_code == 200, r.text
        rows = {d["event"]: d for d in r.json()["deliveries"]}
        assert set(rows) == {"RUNNING", "SUCCEEDED"}, rows
        for d in rows.values():
            assert d["status"] == "delivered" and d["attempts"] == 3, d
            assert d["lastStatus"] == 200 and d["lastError"] is None, d
            assert d["id"].startswith(hook["id"] + "-") and d["nextAttemptTime"] is None

        # A redirect is an answer that is not 2xx: not followed, tried again.
        moved.until(lambda h: len(h) >= 2)
        assert all(h["path"] == "/hook" for h in moved.hits), moved.hits
        r = api.call("GET", "/api/v2/webhooks/%s/deliveries" % redirected["id"], token)
        d = r.json()["deliveries"][0]
        assert d["status"] == "pending" and d["lastStatus"] == 302, d
        assert "302" in d["lastError"] and d["nextAttemptTime"] > d["lastAttemptTime"], d

        # An admin's hook hears of every user's jobs, deletions included.
        r = api.call("DELETE", "/api/v1/jobs/" + name, token)
        assert r.status_code == 202, r.text
        seeing_all.until(lambda h: delivered(h, name, "SUCCEEDED") and
                         delivered(h, theirs, "SUCCEEDED") and delivered(h, name, "DELETED"))
        assert not delivered(seeing_all.hits, name, "RUNNING")
    finally:
        for rec in (flaky, moved, seeing_all):
            rec.close()


def test_private_targets_and_bad_registrations_are_refused(api):
    user, token = api.make_user()
    other, other_token = api.make_user()
    for url in ("http://10.0.0.1/h", "http://192.168.1.10:8080/h", "http://169.254.169.254/",
                "http://[::1]:9/h", "http://127.0.0.2:9/h", "http://0.0.0.0:9/h",
                "http://[::ffff:10.1.2.3]/h", "https://172.16.5.5/h"):
        r = api.call("POST", "/api/v2/webhooks", token,
                     json={"url": url, "events": ["*"], "secret": SECRET})
        assert_error(r, 403, "ForbiddenUserError", "PaiWebhookAllow", key="code")
    bad = [
        ({"url": "ftp://8.8.8.8/", "events": ["*"], "secret": SECRET}, "url"),
        ({"url": "file:///etc/passwd", "events": ["*"], "secret": SECRET}, "url"),
        ({"url": "http://u:p@127.0.0.1:9/", "events": ["*"], "secret": SECRET}, "url"),
        ({"url": "not a url", "events": ["*"], "secret": SECRET}, "url"),
        ({"url": "http://127.0.0.1:9/" + "x" * 2100, "events": ["*"], "secret": SECRET}, "url"),
        ({"url": "http://127.0.0.1:9/", "events": [], "secret": SECRET}, "events"),
        ({"url": "http://127.0.0.1:9/", "events": ["running"], "secret": SECRET}, "events"),
        ({"url": "http://127.0.0.1:9/", "events": "RUNNING", "secret": SECRET}, "events"),
        ({"url": "http://127.0.0.1:9/", "events": ["*"] * 17, "secret": SECRET}, "events"),
        ({"url": "http://127.0.0.1:9/", "events": ["*"], "secret": "short"}, "secret"),
        ({"url": "http://127.0.0.1:9/", "events": ["*"], "secret": "has a space in it!!"},
         "secret"),
        ({"url": "http://127.0.0.1:9/", "events": ["*"]}, "secret"),
        ({"url": "http://127.0.0.1:9/", "events": ["*"], "secret": SECRET, "x": 1}, "x"),
        ({"url": "http://no-such-host.invalid/", "events": ["*"], "secret": SECRET},
         "resolve"),
    ]
    for body, word in bad:
        r = api.call("POST", "/api/v2/webhooks", token, json=body)
        assert_error(r, 400, "InvalidParametersError", word, key="code")
    r = api.call("POST", "/api/v2/webhooks",
                 json={"url": "http://127.0.0.1:9/", "events": ["*"], "secret": SECRET})
    assert r.status_code == 401, r.text

    # Another user's hook is not there for them; the secret is shown to nobody.
    hook = register(api, token, "http://127.0.0.1:9/mine", ["FAILED"])
    for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/deliveries")):
        r = api.call(method, "/api/v2/webhooks/%s%s" % (hook["id"], path), other_token)
        assert_error(r, 404, "NotFoundError", key="code")
    assert api.call("GET", "/api/v2/webhooks", other_token).json() == {"webhooks": []}
    r = api.call("GET", "/api/v2/webhooks", token)
    assert r.json() == {"webhooks": [hook]}
    assert SECRET not in r.text
    r = api.call("GET", "/api/v2/webhooks/" + hook["id"], api.admin_token)
    assert r.status_code == 200 and r.json() == hook and SECRET not in r.text
    r = api.call("DELETE", "/api/v2/webhooks/" + hook["id"], token)
    assert r.status_code == 200, r.text
    assert_error(api.call("GET", "/api/v2/webhooks/" + hook["id"], token), 404,
                 "NotFoundError", key="code")
    assert api.call("GET", "/api/v2/webhooks", token).json() == {"webhooks": []}

#!/usr/bin/python3
"""Time from POST /api/v1/jobs to RUNNING and to SUCCEEDED, as a client sees it.

Usage: bench/job_latency.py BASE_URL ADMIN_PASSWORD [RUNS] [SLEEP_SECONDS]
Polls GET /api/v1/jobs/:name every 20 ms; prints each run and the medians."""
import statistics
import sys
import time
import uuid

import requests


def main():
    base, password = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    sleep = float(sys.argv[4]) if len(sys.argv) > 4 else 2
    s = requests.Session()
    tok = s.post(base + "/api/v1/token", data={"username": "admin", "password": password}).json()["token"]
    to_running, to_done = [], []
    for i in range(runs):
        name = "latency-" + uuid.uuid4().hex[:8]
        cfg = {"jobName": name, "image": "x",
               "taskRoles": [{"name": "r", "command": "sleep %g" % sleep}]}
        t0 = time.time()
        r = s.post(base + "/api/v1/jobs", json=cfg, headers={"Authorization": "Bearer " + tok})
        assert r.status_code == 201, r.text
        running = None
        while time.time() - t0 < 60:
            st = s.get(base + "/api/v1/jobs/" + name).json()["state"]
            if st == "RUNNING" and running is None:
                running = time.time() - t0
            if st in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            time.sleep(0.02)
        done = time.time() - t0
        assert st == "SUCCEEDED", st
        to_running.append(running if running is not None else float("nan"))
        to_done.append(done)
        print("run %2d: RUNNING after %.2f s, SUCCEEDED after %.2f s" % (i + 1, to_running[-1], done))
    print("median over %d runs of a job sleeping %g s: RUNNING %.2f s, SUCCEEDED %.2f s"
          % (runs, sleep, statistics.median(to_running), statistics.median(to_done)))


if __name__ == "__main__":
    main()

-- wrk script: POST /api/v1/token as the benchmark user (PAI_BENCH_USER/PASSWORD).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}',
                         os.getenv("PAI_BENCH_USER"), os.getenv("PAI_BENCH_PASSWORD"))

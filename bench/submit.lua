-- wrk script: POST /api/v1/jobs with a fresh job name every request; prints
-- "STATUS <code> <count>" lines at the end so the driver can check them.
local threads = {}
local prefix = os.getenv("PAI_BENCH_PREFIX") or "bsub"
local token = os.getenv("PAI_BENCH_TOKEN")

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  statuses = {}
end

function request()
  n = n + 1
  local body = string.format('{"jobName":"%s_%d_%d","image":"debian:12","taskRoles":'
    .. '[{"name":"main","taskNumber":1,"cpuNumber":1,"memoryMB":64,"command":"true"}]}',
    prefix, tid, n)
  return wrk.format("POST", "/api/v1/jobs", {["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer " .. token}, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, count in pairs(t:get("statuses")) do
      total[code] = (total[code] or 0) + count
    end
  end
  for code, count in pairs(total) do
    io.write(string.format("STATUS %d %d\n", code, count))
  end
end

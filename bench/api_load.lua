-- wrk script for bench/api_load.sh: POSTs the claims of CLAIMS_FILE to
-- /api/v1/settlements, each wrk thread taking every Nth line (its own share,
-- so no claim is sent twice), and counts the answers by status and whether
-- they were replays. Settings come from the environment:
--   CLAIMS_FILE  claims.jsonl (every claim's fixmedins_code the key's)
--   API_KEY      a hospital key
--   THREADS      wrk's -t, to split the file
--   EXPLAIN      "true" or "false" (the explanation lines in each answer)
local claims_file = os.getenv("CLAIMS_FILE")
local key = os.getenv("API_KEY")
local threads_n = tonumber(os.getenv("THREADS") or "2")
local explain = os.getenv("EXPLAIN") or "false"
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  lines = {}
  local n = 0
  for line in io.lines(claims_file) do
    if n % threads_n == id then table.insert(lines, line) end
    n = n + 1
  end
  next_line = 1
  statuses = {}
  replays = 0
  exhausted = 0
  path = "/api/v1/settlements?explain=" .. explain
  headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
end

function request()
  if next_line > #lines then
    next_line = 1
    exhausted = exhausted + 1
  end
  local body = lines[next_line]
  next_line = next_line + 1
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and string.find(body, '"replayed":true', 1, true) then replays = replays + 1 end
end

function done(summary, latency, requests)
  local by_status = {}
  local total_replays, total_wraps = 0, 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s) do by_status[k] = (by_status[k] or 0) + v end
    total_replays = total_replays + t:get("replays")
    total_wraps = total_wraps + t:get("exhausted")
  end
  local secs = summary.duration / 1e6
  local ok = (by_status[200] or 0)
  io.write("------------------------------\n")
  for k, v in pairs(by_status) do io.write(string.format("status %d: %d\n", k, v)) end
  io.write(string.format("replayed answers: %d (claim file wrapped %d times)\n", total_replays, total_wraps))
  io.write(string.format("durable settlements: %d in %.2f s = %.0f /s\n", ok - total_replays, secs,
                         (ok - total_replays) / secs))
  io.write(string.format("latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
                         latency:percentile(50) / 1000, latency:percentile(90) / 1000,
                         latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
                         latency.max / 1000))
  io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d; non-2xx %d\n",
                         summary.errors.connect, summary.errors.read, summary.errors.write,
                         summary.errors.timeout, summary.errors.status))
end

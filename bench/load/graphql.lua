-- wrk script of the scenarios: POSTs GraphQL request bodies taken in turn from a file (one
-- JSON body per line), with an optional Authorization header, and checks EVERY response:
-- status 200, the body contains a given substring and no "errors" key.
-- Usage: wrk -s graphql.lua <url> -- <bodies-file> <must-contain> <authorization or ->
-- Prints one line "BENCH_RESULT {json}" like check.lua.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

local bodies = {}
local must
local headers
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(bodies, line) end
  end
  must = args[2]
  headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  if args[3] and args[3] ~= "-" then headers["Authorization"] = args[3] end
  i = tid * 7919
  wrong = 0
  bad_status = 0
  checked = 0
end

function request()
  i = i + 1
  return wrk.format("POST", nil, headers, bodies[(i % #bodies) + 1])
end

function response(status, hdrs, body)
  checked = checked + 1
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif not string.find(body, must, 1, true) or string.find(body, '"errors"', 1, true) then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local w, s, c = 0, 0, 0
  for _, t in ipairs(threads) do
    w = w + (t:get("wrong") or 0)
    s = s + (t:get("bad_status") or 0)
    c = c + (t:get("checked") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"checked":%d,"wrong":%d,"bad_status":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%f}\n',
    summary.requests, summary.duration, summary.bytes, c, w, s,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end

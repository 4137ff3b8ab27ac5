-- wrk script of the bench harness: POSTs the benchmark operation with a unique x-request-id
-- per request (so no gateway can answer identical concurrent requests with one execution),
-- and checks EVERY response: status 200 and a body byte-identical to the target's canonical
-- body (a body the harness verified equal to expected-response.json before the run).
-- Usage: wrk -s check.lua <url> -- <canonical-body-file> <request-body-file> <id-prefix>
-- Prints one line "BENCH_RESULT {json}" from done(): requests, duration, latency percentiles
-- (microseconds), wrong bodies, non-200 statuses and socket errors.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

local expected
local prefix
local counter = 0
local mismatch_path
local headers

function init(args)
  local f = assert(io.open(args[1], "rb"))
  expected = f:read("*a")
  f:close()
  mismatch_path = args[1] .. ".mismatch"
  local b = assert(io.open(args[2], "rb"))
  wrk.method = "POST"
  wrk.body = b:read("*a")
  b:close()
  prefix = (args[3] or "bench") .. "-" .. tostring(tid) .. "-"
  headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  wrong = 0
  bad_status = 0
  checked = 0
end

function request()
  counter = counter + 1
  headers["x-request-id"] = prefix .. counter
  return wrk.format(nil, nil, headers, nil)
end

function response(status, hdrs, body)
  checked = checked + 1
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif body ~= expected then
    if wrong == 0 then
      local f = io.open(mismatch_path, "wb")
      if f then f:write(body); f:close() end
    end
    wrong = wrong + 1
  end
end

-- report(): the shared BENCH_RESULT line (report.lua, next to this script).
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "report.lua")

function done(summary, latency, requests)
  report(threads, summary, latency)
end

-- wrk script of the scenarios: POSTs GraphQL request bodies taken in turn from a file (one
-- JSON body per line), with an optional Authorization header (one, or several taken in turn
-- from a file: one header value per line), and checks EVERY response: status 200, the body
-- contains a given substring and no "errors" key.
-- Usage: wrk -s graphql.lua <url> -- <bodies-file> <must-contain> <authorization | @authorizations-file | ->
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
local auths = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(bodies, line) end
  end
  must = args[2]
  headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  if args[3] and args[3]:sub(1, 1) == "@" then
    for line in io.lines(args[3]:sub(2)) do
      if #line > 0 then table.insert(auths, line) end
    end
  elseif args[3] and args[3] ~= "-" then
    headers["Authorization"] = args[3]
  end
  i = tid * 7919
  wrong = 0
  bad_status = 0
  checked = 0
end

function request()
  i = i + 1
  if #auths > 0 then headers["Authorization"] = auths[(i % #auths) + 1] end
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

-- report(): the shared BENCH_RESULT line (report.lua, next to this script).
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "report.lua")

function done(summary, latency, requests)
  report(threads, summary, latency)
end

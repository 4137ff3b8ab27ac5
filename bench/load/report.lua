-- report(threads, summary, latency), called from each load script's wrk `done` hook: sums the per-thread counters (checked, wrong,
-- bad_status) and prints one machine-readable line `BENCH_RESULT {json}` (latencies in µs)
-- that bench/ parses. Loaded with dofile() from the script's own directory.
function report(threads, summary, latency)
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

-- wrk_http_batch.lua - wrk script for the http input: every request POSTs
-- a JSON array of BATCH records (default 100, env WRK_BATCH) of ~200 bytes.
-- At the end it prints "status <code> <count>" per status and a line
-- "records_2xx=<n>" (2xx responses x BATCH) for scripts/bench and tests.
local batch = tonumber(os.getenv("WRK_BATCH") or "100")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local recs = {}
  for i = 1, batch do
    recs[i] = string.format(
      '{"ts":"2026-11-21T06:51:00.%03dZ","level":"info","service":"checkout",' ..
      '"host":"web-01","msg":"order placed","order_id":%d,"amount":%d.%02d,' ..
      '"user":"u%05d","path":"/api/v1/orders","status":201}',
      i % 1000, 100000 + i, i, i % 100, i)
  end
  wrk.method = "POST"
  wrk.path = "/bench"
  wrk.body = "[" .. table.concat(recs, ",") .. "]"
  wrk.headers["Content-Type"] = "application/json"
  codes = {}
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    for k, v in pairs(c or {}) do total[k] = (total[k] or 0) + v end
  end
  local ok = 0
  for k, v in pairs(total) do
    io.write(string.format("status %d %d\n", k, v))
    if k >= 200 and k < 300 then ok = ok + v end
  end
  io.write(string.format("records_2xx=%d\n", ok * batch))
end

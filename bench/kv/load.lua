-- wrk: METHOD (GET or PUT, env) a random key of a KEYS-key keyspace; a PUT sends a 100-byte
-- value. PATH_FMT turns the key number into a path, e.g. /databases/bench/keys/k%015d; TOKEN, if
-- set, is sent as a bearer token. Prints one line at the end:
-- RESULT <req/s> <p50 µs> <p99 µs> <errors> <requests>
local method = os.getenv("METHOD") or "GET"
local fmt = os.getenv("PATH_FMT")
local keys = tonumber(os.getenv("KEYS") or "1000000")
local token = os.getenv("TOKEN")
local body = nil

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
  if method == "PUT" then
    wrk.headers["Content-Type"] = "text/plain"
    body = string.rep("v", 100)
  end
end

function request()
  return wrk.format(method, string.format(fmt, math.random(0, keys - 1)), nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.0f %.0f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout, summary.requests))
end

-- wrk: PUT a 100-byte value at a random key of the KEYS-key keyspace.
local fmt = os.getenv("PATH_FMT")
local keys = tonumber(os.getenv("KEYS") or "1000000")
local token = os.getenv("TOKEN")
local body = string.rep("v", 100)

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  wrk.headers["Content-Type"] = "text/plain"
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  return wrk.format("PUT", string.format(fmt, math.random(0, keys - 1)), nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %.0f %.0f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), errors, summary.requests))
end

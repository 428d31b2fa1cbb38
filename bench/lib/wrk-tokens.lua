-- wrk script: every request is POST /v1/token with the next user's JWT from the file given after
-- "--" (one JWT per line), so N lines = N distinct users, in a cycle; each thread starts at its own
-- offset. At the end, one JSON line with the counts and the latency percentiles (microseconds).
local tokens = {}
local next_index = 0

function init (args)
  for line in io.lines(args[1]) do
    if line ~= "" then tokens[#tokens + 1] = "Bearer " .. line end
  end
  next_index = math.random(#tokens)
end

function request ()
  next_index = next_index % #tokens + 1
  return wrk.format("POST", "/v1/token", { ["Authorization"] = tokens[next_index] }, nil)
end

function done (summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"non2xx":%d,"timeouts":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end

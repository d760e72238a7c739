-- wrk script of bench/api_bench.py: every request asks for another person, with that person's
-- access token (gateway modes only) and client address (X-Forwarded-For, as behind a load balancer).
--   BENCH_PERSONS  file, one line per person: "person_id token ip"
--   BENCH_MODE     rest | graphql (the gateway), bare | postgraphile (the baselines)
--   BENCH_OUT      where done() writes the summary and the latency histogram (JSON)

local counter = 0

function setup(thread)
  thread:set("thread_no", counter)
  counter = counter + 1
end

local GATEWAY_GQL = 'query($id: ID!){person(id: $id){overview{personId idType idNumber name sex ethnicity '
  .. 'birthDate workStart phone regionCode retired retireDate positionLevel}}}'
local PG_GQL = 'query($id: BigInt!){personOverviewByPersonId(personId: $id){personId idType idNumber name sex '
  .. 'ethnicity birthDate workStart phone regionCode retired retireDate positionLevel}}'

function init(args)
  mode = os.getenv("BENCH_MODE")
  persons, tokens, ips = {}, {}, {}
  for line in io.lines(os.getenv("BENCH_PERSONS")) do
    local p, t, ip = line:match("^(%S+) (%S+) (%S+)$")
    persons[#persons + 1] = p
    tokens[#tokens + 1] = t
    ips[#ips + 1] = ip
  end
  n = #persons
  -- threads start far apart in the rotation; BENCH_START continues a rotation an earlier run began
  idx = ((tonumber(os.getenv("BENCH_START") or "0") or 0) + (thread_no or 0) * 7919) % n
end

function request()
  idx = idx % n + 1
  local p = persons[idx]
  local h = { ["X-Forwarded-For"] = ips[idx] }
  if mode == "rest" then
    h["Authorization"] = "Bearer " .. tokens[idx]
    return wrk.format("GET", "/api/v1/persons/" .. p .. "/overview", h)
  elseif mode == "bare" then
    return wrk.format("GET", "/persons/" .. p .. "/overview", h)
  end
  h["Content-Type"] = "application/json"
  if mode == "graphql" then
    h["Authorization"] = "Bearer " .. tokens[idx]
    return wrk.format("POST", "/graphql", h, '{"query":"' .. GATEWAY_GQL .. '","variables":{"id":"' .. p .. '"}}')
  end
  return wrk.format("POST", "/graphql", h, '{"query":"' .. PG_GQL .. '","variables":{"id":"' .. p .. '"}}')
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d},"histogram_us":[',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99)))
  -- every distinct latency value (µs) with how many requests took it: the raw samples, as a histogram
  for i = 1, #latency do
    local v, c = latency(i)
    out:write(string.format('%s[%d,%d]', i > 1 and "," or "", v, c))
  end
  out:write("]}\n")
  out:close()
end

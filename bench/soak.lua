-- wrk script for bench/soak.sh: rotate through the request bodies listed in
-- $SOAK_BODIES/index.tsv and count the answers by status code.
local folder = os.getenv("SOAK_BODIES")
local requests = {}
local threads = {}

local function read_file(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

for line in io.lines(folder .. "/index.tsv") do
  local name, method, path, content_type = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
  local headers = {}
  local body = read_file(folder .. "/" .. name .. ".body")
  local chunked = content_type:match(";chunked$")
  content_type = content_type:gsub(";chunked$", "")
  if content_type ~= "" then headers["Content-Type"] = content_type end
  if method == "GET" then body = nil end
  if chunked then
    -- wrk.format would add a Content-Length: the body is already chunk-coded
    headers["Transfer-Encoding"] = "chunked"
    requests[#requests + 1] = wrk.format(method, path, headers) .. body
  else
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
end

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  counts = {}
  position = id  -- threads start at different bodies
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests_done)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("counts")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local statuses, answered, server_errors = {}, 0, 0
  for status, count in pairs(totals) do
    statuses[#statuses + 1] = status
    answered = answered + count
    if status >= 500 then server_errors = server_errors + count end
  end
  table.sort(statuses)
  io.write(string.format("requests: %d sent, %d answered\n", summary.requests, answered))
  io.write("answers by status:\n")
  for _, status in ipairs(statuses) do
    io.write(string.format("  %d: %d\n", status, totals[status]))
  end
  local errors = summary.errors
  io.write(string.format("socket errors: connect %d, read %d, write %d, timeout %d\n",
    errors.connect, errors.read, errors.write, errors.timeout))
  io.write(string.format("latency: p50 %.1f ms, p99 %.1f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("5xx: %d\n", server_errors))
end

-- wrk script: signed GitHub push deliveries, each with its own delivery id and its own
-- changes, so none is answered as a duplicate. intake.sh writes the pushes, one
-- "signature<TAB>body" a line, to the file CM_BENCH_PUSHES names.
local pushes = {}
local n = 0
local tag

-- Each wrk thread has a Lua state of its own, seeded alike: number them so their delivery
-- ids differ (the same id twice is answered as a duplicate).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
  thread:set("threads_total", 2) -- intake.sh runs wrk -t2
end

-- Each thread takes every other line, so the two never send the same push at once.
function init(args)
  tag = tostring(os.time()) .. "-" .. tostring(thread_no or 0)
  local i = 0
  for line in io.lines(os.getenv("CM_BENCH_PUSHES")) do
    if i % threads_total == (thread_no or 1) - 1 then
      local tab = line:find("\t", 1, true)
      pushes[#pushes + 1] = {line:sub(1, tab - 1), line:sub(tab + 1)}
    end
    i = i + 1
  end
end

request = function()
  n = n + 1
  local p = pushes[(n - 1) % #pushes + 1]
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "push",
    ["X-Hub-Signature-256"] = p[1],
    ["X-GitHub-Delivery"] = tag .. "-" .. n,
  }, p[2])
end

done = function(summary, latency, requests)
  local codes = summary.errors.status
  io.write(string.format("non-2xx answers: %d\n", codes))
end

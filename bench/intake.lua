-- wrk script: signed GitHub push deliveries, each with its own delivery id and its own
-- changes, so none is answered as a duplicate. intake.sh and cluster.sh write the pushes, one
-- "signature<TAB>body" a line, to a file, and set:
--   CM_BENCH_PUSHES    that file
--   CM_BENCH_THREADS   wrk's -t (default 2), so each thread takes its own share of the lines
--   CM_BENCH_PREFIX    prefix of every delivery id (cluster.sh runs one wrk per gateway at
--                      once, and no two may send the same id)
--   CM_BENCH_DELAY_MS  pause of each connection between two requests (default 0): a steady,
--                      moderate rate, as this wrk has no -R
local pushes = {}
local n = 0
local tag
local pause = tonumber(os.getenv("CM_BENCH_DELAY_MS") or "0") or 0

-- Each wrk thread has a Lua state of its own, seeded alike: number them so their delivery
-- ids differ (the same id twice is answered as a duplicate).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
  thread:set("threads_total", tonumber(os.getenv("CM_BENCH_THREADS") or "2") or 2)
end

-- Each thread takes every threads_total-th line, so no two send the same push at once.
function init(args)
  local prefix = os.getenv("CM_BENCH_PREFIX")
  tag = (prefix and prefix .. "-" or "") .. tostring(os.time()) .. "-" .. tostring(thread_no or 0)
  local i = 0
  for line in io.lines(os.getenv("CM_BENCH_PUSHES")) do
    if i % threads_total == (thread_no or 1) - 1 then
      local tab = line:find("\t", 1, true)
      pushes[#pushes + 1] = {line:sub(1, tab - 1), line:sub(tab + 1)}
    end
    i = i + 1
  end
end

if pause > 0 then
  delay = function()
    return pause
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
  io.write(string.format("non-2xx answers: %d\n", summary.errors.status))
end

-- wrk script: signed GitHub push deliveries, each with its own delivery id so none is
-- answered as a duplicate. The body and signature come from the environment (intake.sh).
local body = os.getenv("CM_BENCH_BODY")
local sig = os.getenv("CM_BENCH_SIG")
local n = 0
local tag

-- Each wrk thread has a Lua state of its own, seeded alike: number them so their delivery
-- ids differ (the same id twice is answered as a duplicate).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

function init(args)
  tag = tostring(os.time()) .. "-" .. tostring(thread_no or 0)
end

request = function()
  n = n + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "push",
    ["X-Hub-Signature-256"] = sig,
    ["X-GitHub-Delivery"] = tag .. "-" .. n,
  }, body)
end

done = function(summary, latency, requests)
  local codes = summary.errors.status
  io.write(string.format("non-2xx answers: %d\n", codes))
end

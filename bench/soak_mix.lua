-- soak_mix.lua: the request mix of bench/soak.sh's "mixed" load (wrk -s). Each wrk thread
-- cycles through these requests, one per call; every one of them must answer 2xx.
-- kv writes go to 64 keys only, so the store reaches a fixed size and any growth after
-- warm-up is the server's, not the data's.

local requests = {}
local counter = 0

local function add(method, path, body, headers)
  requests[#requests + 1] = wrk.format(method, path, headers, body)
end

function init(args)
  local payload = string.rep("x", 512)
  add("GET", "/hello/soak")
  add("GET", "/1k.bin")
  add("GET", "/hello/mix")
  add("GET", "/100k.bin")
  add("POST", "/api/echo", payload, { ["Content-Type"] = "text/plain" })
  add("GET", "/index.html")
  add("GET", "/api/kv")
  add("GET", "/chat/history")
  for i = 0, 63 do
    add("PUT", "/api/kv/soak" .. i, '{"n":' .. i .. ',"pad":"' .. payload .. '"}', { ["Content-Type"] = "application/json" })
  end
end

local BASE = 8  -- the requests before the kv writes

function request()
  counter = counter + 1
  -- Nine in turn: the eight base requests, then one kv write (to the next of the 64 keys).
  local slot = counter % (BASE + 1)
  if slot == BASE then
    local write = math.floor(counter / (BASE + 1)) % 64
    return requests[BASE + 1 + write]
  end
  return requests[slot + 1]
end

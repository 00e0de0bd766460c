-- wrk script: every request its own URL (a counter per thread in the query,
-- which the list ignores), so that none is answered from the answer cache:
-- what a list costs when it is made afresh.
local threads = 0

function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end

local n = 0

function request()
   n = n + 1
   local sep = wrk.path:find("?", 1, true) and "&" or "?"
   return wrk.format(nil, wrk.path .. sep .. "fresh=" .. tid .. "-" .. n)
end

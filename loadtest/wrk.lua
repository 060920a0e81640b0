-- wrk script for loadtest/load.sh: method, optional pacing, status counts, and a machine-readable
-- summary on stdout (lines starting with "RESULT ").
--
-- Environment:
--   WRK_METHOD    HTTP method (default GET)
--   WRK_DELAY_MS  mean pause after each response on a connection, in ms; 0 (default) = closed
--                 loop, as fast as the server answers. The pause is drawn uniformly from
--                 [0, 2 * mean] so that connections do not march in step.
--
-- Latency is wrk's own: from writing a request to its full response, pauses excluded.

local method = os.getenv("WRK_METHOD") or "GET"
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0") or 0

wrk.method = method

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   c200 = 0
   c401 = 0
   c503 = 0
   cother = 0
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

if delay_ms > 0 then
   function delay()
      return math.random() * 2 * delay_ms
   end
end

function response(status, headers, body)
   if status == 200 then
      c200 = c200 + 1
   elseif status == 401 then
      c401 = c401 + 1
   elseif status == 503 then
      c503 = c503 + 1
   else
      cother = cother + 1
   end
end

function done(summary, latency, requests)
   local n200, n401, n503, nother = 0, 0, 0, 0
   for _, t in ipairs(threads) do
      n200 = n200 + t:get("c200")
      n401 = n401 + t:get("c401")
      n503 = n503 + t:get("c503")
      nother = nother + t:get("cother")
   end
   local secs = summary.duration / 1e6
   local total = n200 + n401 + n503 + nother
   local function ms(p)
      return latency:percentile(p) / 1000
   end
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_s=%.3f rps=%.2f ok_rps=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f " ..
      "s200=%d s401=%d s503=%d sother=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d\n",
      total, secs, total / secs, n200 / secs, ms(50), ms(90), ms(99), ms(99.9), latency.max / 1000,
      n200, n401, n503, nother, e.connect, e.read, e.write, e.timeout))
   -- Under overload, 503s are answered at once (well under a millisecond) and an accepted
   -- login takes at least one argon2 run (~20 ms), so the accepted requests are exactly the
   -- slowest fraction f = s200/total of wrk's histogram: their p50/p99 are its percentiles
   -- 100 - 50 f and 100 - 1 f. The two edges are printed so the split can be checked.
   if total > 0 and n200 > 0 and n503 > 0 then
      local f = n200 / total
      io.write(string.format(
         "RESULT accepted_p50_ms=%.3f accepted_p99_ms=%.3f fastest_accepted_ms=%.3f slowest_rejected_ms=%.3f\n",
         ms(100 - 50 * f), ms(100 - f), ms(math.min(100, 100 * (1 - f) + 0.05)),
         ms(math.max(0, 100 * (1 - f) - 0.05))))
   end
end

"""Token buckets shared by every gateway replica, in Redis.

One Lua script refills and takes from all of a request's buckets atomically,
using Redis' own clock (replicas with skewed clocks still agree). Keys carry
a hash tag (``{k:<key id>}``) so a request's buckets live in one cluster slot.
A bucket expires once it would be full again, so idle keys cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from spooled_gateway.ratelimit.buckets import Decision, Rule, decide

#: KEYS: one bucket each. ARGV: rate1, burst1, rate2, burst2, ...
#: Returns {allowed (0/1), tokens1, tokens2, ...} (tokens as strings: Lua
#: numbers would come back truncated to integers).
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens = {}
local ok = 1
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local s = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local left = tonumber(s[1])
  local at = tonumber(s[2])
  if left == nil or at == nil then
    left = burst
    at = now
  end
  left = math.min(burst, left + math.max(0, now - at) * rate)
  tokens[i] = left
  if left < 1 then ok = 0 end
end
local out = {ok}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  if ok == 1 then tokens[i] = tokens[i] - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i]), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - tokens[i]) / rate * 1000) + 1000)
  out[#out + 1] = tostring(tokens[i])
end
return out
"""

#: A Redis that does not answer this fast is treated as down for the request.
SOCKET_TIMEOUT_S = 0.25


class RedisBuckets:
    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=30,
        )
        self._take = self._client.register_script(TAKE)

    async def take(self, rules: Sequence[Rule]) -> Decision:
        args: list[float] = []
        for rule in rules:
            args += [rule.rate, rule.burst]
        reply = await self._take(keys=[r.key for r in rules], args=args)
        tokens = [float(x) for x in reply[1:]]
        return decide(rules, tokens, bool(int(reply[0])))

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()

-- Writes one feature hash atomically, fenced by each plugin's as-of time (see client.rs).
-- KEYS[1]: the feature hash.  KEYS[2]: its companion hash, plugin -> as-of last applied.
-- ARGV: ttl_ms, parts, then per part: plugin, as_of, field count, field, value, ...
-- A part older than what its plugin last wrote to this hash is skipped: a deposed owner's late
-- write cannot overwrite a newer value. updated_at only moves forward. Returns parts applied.
local ttl = ARGV[1]
local parts = tonumber(ARGV[2])
local i = 3
local newest = nil
local newest_text = nil
local applied = 0
for _ = 1, parts do
  local plugin, as_of_text, fields = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local as_of = tonumber(as_of_text)
  i = i + 3
  local stored = tonumber(redis.call('HGET', KEYS[2], plugin))
  if stored == nil or as_of >= stored then
    if fields > 0 then
      redis.call('HSET', KEYS[1], unpack(ARGV, i, i + 2 * fields - 1))
    end
    redis.call('HSET', KEYS[2], plugin, as_of_text)
    if newest == nil or as_of > newest then
      newest, newest_text = as_of, as_of_text
    end
    applied = applied + 1
  end
  i = i + 2 * fields
end
if newest ~= nil then
  local current = tonumber(redis.call('HGET', KEYS[1], 'updated_at'))
  if current == nil or newest > current then
    redis.call('HSET', KEYS[1], 'updated_at', newest_text)
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return applied

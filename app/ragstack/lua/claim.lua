-- A worker takes a document: queued/processing -> processing. A deleted document (or one of a
-- deleted collection) is 'gone'; a finished one ('ready', 'failed') was delivered twice.
-- KEYS: 1 document hash, 2 collection hash
-- ARGV: 1 now (ISO), 2 worker name
local status = redis.call('HGET', KEYS[1], 'status')
if not status or redis.call('EXISTS', KEYS[2]) == 0 then
  return 'gone'
end
if status == 'ready' or status == 'failed' then
  return status
end
redis.call('HSET', KEYS[1], 'status', 'processing', 'updated_at', ARGV[1], 'worker', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
return 'processing'

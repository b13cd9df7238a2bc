-- queued/processing -> failed, with the reason and the kind of error. Finished or deleted
-- documents are left as they are.
-- KEYS: 1 document hash
-- ARGV: 1 reason, 2 error kind, 3 now (ISO)
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return 'gone'
end
if status == 'ready' or status == 'failed' then
  return status
end
redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[1], 'error_kind', ARGV[2],
  'updated_at', ARGV[3])
return 'failed'

-- A processed document goes live: processing -> ready, it replaces the live document of the same
-- filename (unless that one is newer: then this one is 'superseded' and fails), the counts and
-- the index version change and the change feed records it, all at once.
-- KEYS: 1 document hash, 2 collection hash, 3 live set, 4 name map, 5 sha map, 6 docs zset,
--       7 change feed stream
-- ARGV: 1 document id, 2 chunk count, 3 title, 4 now (ISO), 5 document key prefix,
--       6 collection, 7 change feed length
-- Returns {outcome, retired document id or ''}: ready | superseded | gone | duplicate (it was
-- ready already) | failed | queued
local status = redis.call('HGET', KEYS[1], 'status')
if not status or redis.call('EXISTS', KEYS[2]) == 0 then
  return {'gone', ''}
end
if status == 'ready' then
  return {'duplicate', ''}
end
if status ~= 'processing' then
  return {status, ''}
end
local filename = redis.call('HGET', KEYS[1], 'filename')
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local holder = redis.call('HGET', KEYS[4], filename)
local retired = ''
if holder and holder ~= ARGV[1] then
  local holder_key = ARGV[5] .. holder
  local holder_fields = redis.call('HMGET', holder_key, 'seq', 'chunk_count', 'sha256')
  if tonumber(holder_fields[1] or '0') > seq then
    redis.call('HSET', KEYS[1], 'status', 'failed', 'updated_at', ARGV[4],
      'error', 'superseded by a newer upload of the same filename', 'error_kind', 'ConflictError')
    return {'superseded', ''}
  end
  redis.call('DEL', holder_key)
  redis.call('ZREM', KEYS[6], holder)
  if redis.call('SREM', KEYS[3], holder) == 1 then
    redis.call('HINCRBY', KEYS[2], 'document_count', -1)
    redis.call('HINCRBY', KEYS[2], 'chunk_count', -tonumber(holder_fields[2] or '0'))
  end
  if holder_fields[3] and redis.call('HGET', KEYS[5], holder_fields[3]) == holder then
    redis.call('HDEL', KEYS[5], holder_fields[3])
  end
  retired = holder
end
redis.call('HSET', KEYS[1], 'status', 'ready', 'chunk_count', ARGV[2], 'title', ARGV[3],
  'updated_at', ARGV[4])
redis.call('HDEL', KEYS[1], 'error', 'error_kind')
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], filename, ARGV[1])
redis.call('HINCRBY', KEYS[2], 'document_count', 1)
redis.call('HINCRBY', KEYS[2], 'chunk_count', tonumber(ARGV[2]))
local version = redis.call('HINCRBY', KEYS[2], 'version', 1)
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[7], '*', 'op', 'ready', 'coll', ARGV[6],
  'doc', ARGV[1], 'retired', retired, 'version', version)
return {'ready', retired}

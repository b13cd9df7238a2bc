-- Delete a document in any state: it wins over a worker still processing it (that worker's
-- activation then finds it gone and removes what it wrote).
-- KEYS: 1 document hash, 2 collection hash, 3 live set, 4 name map, 5 sha map, 6 docs zset,
--       7 change feed stream
-- ARGV: 1 document id, 2 collection, 3 change feed length
-- Returns {outcome, previous status}: deleted | gone
local fields = redis.call('HMGET', KEYS[1], 'status', 'filename', 'sha256', 'chunk_count',
  'collection')
if not fields[1] or fields[5] ~= ARGV[2] then
  return {'gone', ''}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[6], ARGV[1])
if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'document_count', -1)
  redis.call('HINCRBY', KEYS[2], 'chunk_count', -tonumber(fields[4] or '0'))
  local version = redis.call('HINCRBY', KEYS[2], 'version', 1)
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[3], '*', 'op', 'deleted', 'coll', ARGV[2],
    'doc', ARGV[1], 'retired', '', 'version', version)
end
if redis.call('HGET', KEYS[4], fields[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[4], fields[2])
end
if redis.call('HGET', KEYS[5], fields[3]) == ARGV[1] then
  redis.call('HDEL', KEYS[5], fields[3])
end
return {'deleted', fields[1]}

-- Admit an upload: deduplicate by content, check the queue limit, create the document and
-- queue its ingestion, all at once (two identical uploads can never both be created).
-- KEYS: 1 collection hash, 2 collection sha map, 3 document hash, 4 collection docs zset,
--       5 node's ingest stream, 6 admission sequence counter
-- ARGV: 1 document id, 2 sha256, 3 document JSON, 4 filename, 5 collection, 6 now (ISO),
--       7 queue limit, 8 node, 9 score (unix time), 10 document key prefix
-- Returns {outcome, document id}: created | duplicate | busy | nocoll
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'nocoll', ''}
end
local existing = redis.call('HGET', KEYS[2], ARGV[2])
if existing then
  local status = redis.call('HGET', ARGV[10] .. existing, 'status')
  if status and status ~= 'failed' then
    return {'duplicate', existing}
  end
end
if redis.call('XLEN', KEYS[5]) >= tonumber(ARGV[7]) then
  return {'busy', ''}
end
local seq = redis.call('INCR', KEYS[6])
redis.call('HSET', KEYS[3], 'json', ARGV[3], 'status', 'queued', 'collection', ARGV[5],
  'filename', ARGV[4], 'sha256', ARGV[2], 'seq', seq, 'node', ARGV[8], 'chunk_count', 0,
  'attempts', 0, 'updated_at', ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[9], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('XADD', KEYS[5], '*', 'doc', ARGV[1], 'coll', ARGV[5])
return {'created', ARGV[1]}

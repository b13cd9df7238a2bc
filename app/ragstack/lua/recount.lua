-- The reconciler's check of a collection's counters: recount the live documents and their
-- chunks, and repair the counters if they drifted. Atomic, so no activation can slip between
-- the count and the repair.
-- KEYS: 1 collection hash, 2 live set
-- ARGV: 1 document key prefix
-- Returns {documents, chunks, stored documents, stored chunks} (stored = before the repair),
-- or {} when the collection does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local live = redis.call('SMEMBERS', KEYS[2])
local chunks = 0
for _, id in ipairs(live) do
  chunks = chunks + tonumber(redis.call('HGET', ARGV[1] .. id, 'chunk_count') or '0')
end
local stored = redis.call('HMGET', KEYS[1], 'document_count', 'chunk_count')
local stored_docs = tonumber(stored[1] or '0')
local stored_chunks = tonumber(stored[2] or '0')
if stored_docs ~= #live or stored_chunks ~= chunks then
  redis.call('HSET', KEYS[1], 'document_count', #live, 'chunk_count', chunks)
end
return {#live, chunks, stored_docs, stored_chunks}

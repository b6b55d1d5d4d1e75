package userschema

import (
	"bytes"
	"container/list"
	"sync"
)

// cacheSize is how many compiled schemas Compile keeps.
const cacheSize = 1024

var defaultCache = newSchemaCache(cacheSize)

type cacheKey struct {
	id       string
	revision int
}

// schemaCache is a least-recently-used cache of compiled schemas, safe for
// concurrent use. An entry only matches the document it was compiled from.
type schemaCache struct {
	mu       sync.Mutex
	capacity int
	order    *list.List // of *Schema, most recently used first
	entries  map[cacheKey]*list.Element
}

func newSchemaCache(capacity int) *schemaCache {
	return &schemaCache{capacity: capacity, order: list.New(), entries: map[cacheKey]*list.Element{}}
}

func (c *schemaCache) get(id string, revision int, document []byte) *Schema {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cacheKey{id, revision}]
	if !ok {
		return nil
	}
	s := e.Value.(*Schema)
	if !bytes.Equal(s.document, document) {
		return nil
	}
	c.order.MoveToFront(e)
	return s
}

// put stores s and returns the schema callers should use: an equal schema
// another goroutine stored first, or s.
func (c *schemaCache) put(s *Schema) *Schema {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := cacheKey{s.id, s.revision}
	if e, ok := c.entries[key]; ok {
		if cached := e.Value.(*Schema); bytes.Equal(cached.document, s.document) {
			c.order.MoveToFront(e)
			return cached
		}
		e.Value = s
		c.order.MoveToFront(e)
		return s
	}
	c.entries[key] = c.order.PushFront(s)
	for c.order.Len() > c.capacity {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		old := oldest.Value.(*Schema)
		delete(c.entries, cacheKey{old.id, old.revision})
	}
	return s
}

func (c *schemaCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

package user

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// SearchCache keeps in memory, per process, what searches would otherwise
// read again at every call. One SearchCache serves one database.
//
// What a trait search's check reads (checkSearchable: the instance's user
// type revisions and the fields they index), which otherwise costs every
// trait search two reads — at a million users, a third of a trait
// equality's time. It follows the protocol of the callers' cache (package
// authn; eventstore.Freshness):
//
//   - The user projection counts, per instance and in the transaction of
//     the revision, every user type revision (user_search_versions).
//   - A change made by this process closes the store's Changed channel;
//     the next trait search sees it closed and reads the instance's count
//     (one indexed read), and loads the fields again if it moved. So a
//     revision is seen by the very next search on this replica.
//   - A revision made by another replica is seen when the count is read
//     again, at least every maxStale: a field another replica made
//     unreadable or unsearchable can still be searched here for that long.
//   - The count is read before the fields, so fields loaded under a count
//     are at least as new as it, never older.
//
// Which filters match many users (more than ScanBudget): a plan counts, up
// to ScanBudget+1, the index entries of a filter that could drive a search
// (fewMatches) — two or three such counts for a search of several
// filters, each as costly as the page. A count found above ScanBudget is
// remembered for manyFor; only the choice of index depends on it, never
// which users a page holds. A filter that has fewer matches since then is
// read as one of many: its pages are still right, but may be short and
// its total a lower bound until the memory expires. A count of few
// matches is never remembered: it is the search's total.
type SearchCache struct {
	changed  func() <-chan struct{}
	maxStale time.Duration
	now      func() time.Time

	mu     sync.Mutex
	fields map[string]*searchFieldsEntry // by instance
	many   map[string]time.Time          // by count statement and arguments: until when
}

type searchFieldsEntry struct {
	version int64
	read    eventstore.Freshness // of version
	fields  *searchable
}

// maxCacheEntries bounds the instances and the filters a SearchCache
// holds; beyond it, that part starts again empty. manyFor is how long a
// filter's count of many is used.
const (
	maxCacheEntries = 10000
	manyFor         = 30 * time.Second
)

// NewSearchCache returns a cache of searches: changed is the store's
// Changed (eventstore.Store.Changed), maxStale bounds how long a type
// revision made by another replica goes unseen (0: the count of revisions
// is read at every trait search).
func NewSearchCache(changed func() <-chan struct{}, maxStale time.Duration) *SearchCache {
	return &SearchCache{changed: changed, maxStale: maxStale, now: time.Now,
		fields: map[string]*searchFieldsEntry{}, many: map[string]time.Time{}}
}

// searchable returns what checkSearchable checks an instance's trait
// filters against.
func (c *SearchCache) searchable(ctx context.Context, db *database.DB, instanceID string) (*searchable, error) {
	now := c.now()
	c.mu.Lock()
	e := c.fields[instanceID]
	c.mu.Unlock()
	if e != nil && e.read.Fresh(now, c.maxStale) {
		return e.fields, nil
	}
	read := eventstore.ReadingCount(c.changed, now)
	v, err := searchVersion(ctx, db, instanceID)
	if err != nil {
		return nil, err
	}
	next := &searchFieldsEntry{version: v, read: read}
	if e != nil && e.version == v {
		next.fields = e.fields
	} else if next.fields, err = loadSearchable(ctx, db, instanceID); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.fields) >= maxCacheEntries {
		clear(c.fields)
	}
	c.fields[instanceID] = next
	c.mu.Unlock()
	return next.fields, nil
}

// isMany reports whether the count q (a plan's countOf) found many
// entries within manyFor; a nil cache remembers nothing.
func (c *SearchCache) isMany(q query) bool {
	if c == nil {
		return false
	}
	key := manyKey(q)
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.many[key]
	return ok && c.now().Before(until)
}

// rememberMany records that the count q found many entries.
func (c *SearchCache) rememberMany(q query) {
	if c == nil {
		return
	}
	key := manyKey(q)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.many) >= maxCacheEntries {
		clear(c.many)
	}
	c.many[key] = c.now().Add(manyFor)
}

// manyKey is a count's text and arguments (the instance among them).
func manyKey(q query) string { return q.sql + fmt.Sprintf("\x00%q", q.args) }

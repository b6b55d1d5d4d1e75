package authn

import (
	"context"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// The caller cache. Authenticating a personal access token and loading
// its user's roles takes three indexed reads (the token, the user's
// standing, the memberships and the instance's custom roles); a permission
// decision on the loaded Caller is a map read and a bit test. So callers
// are kept in memory, per process, by the hash of their token, and
// dropped when something they were built from may have changed:
//
//   - Package member's projection counts, per instance and in the
//     transaction of the change, every event that can alter an
//     authenticated caller: memberships, custom roles, a user's or an
//     organization's state, a revoked token (member.CallerChangeTypes).
//   - A change made by this process closes the store's Changed channel
//     before Push returns; the next request sees it closed, reads the
//     instance's count (one indexed read) and, if it moved, drops every
//     caller of the instance. So a write is seen by the very next request
//     on this replica.
//   - A change made by another replica is seen when the count is read
//     again, which happens at least every MaxStale (one second by
//     default): across replicas a revoked token or role stops working
//     within MaxStale. MaxStale 0 reads the count on every request (one
//     indexed read per call instead of four).
//   - A load that raced with a change is not kept: a caller is stored only
//     if the count it was loaded under is still the current one.
//
// An expired token is refused on every call from the expiry kept with its
// caller. Failed authentications are not cached.
type cache struct {
	db       *database.DB
	changed  func() <-chan struct{}
	maxStale time.Duration
	maxSize  int

	mu        sync.Mutex
	instances map[string]*instanceCache

	// afterLoad, if set, runs between a load and its store (tests: a change
	// racing with a load).
	afterLoad func()
}

type instanceCache struct {
	mu      sync.RWMutex
	version int64
	read    eventstore.Freshness // of version
	callers map[string]cached
}

type cached struct {
	caller  authz.Caller
	expires int64 // the token's expiry, Unix seconds
}

func (c *cache) instance(id string) *instanceCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	ic := c.instances[id]
	if ic == nil {
		ic = &instanceCache{version: -1, callers: map[string]cached{}}
		c.instances[id] = ic
	}
	return ic
}

// fresh reports whether ic's callers may be used without reading the
// instance's count first.
func (ic *instanceCache) fresh(now time.Time, maxStale time.Duration) bool {
	return ic.version >= 0 && ic.read.Fresh(now, maxStale)
}

// lookup returns the caller cached for a token hash and the count under
// which a caller loaded now may be stored.
func (c *cache) lookup(ctx context.Context, instanceID, hash string, now time.Time) (authz.Caller, bool, int64, error) {
	ic := c.instance(instanceID)
	ic.mu.RLock()
	fresh := ic.fresh(now, c.maxStale)
	e, ok := ic.callers[hash]
	version := ic.version
	ic.mu.RUnlock()
	if !fresh {
		read := eventstore.ReadingCount(c.changed, now)
		v, err := member.CallerVersion(ctx, c.db, instanceID)
		if err != nil {
			return authz.Caller{}, false, 0, err
		}
		ic.mu.Lock()
		if v != ic.version {
			clear(ic.callers)
			ic.version = v
		}
		ic.read = read
		e, ok = ic.callers[hash]
		version = ic.version
		ic.mu.Unlock()
	}
	if ok && now.Unix() < e.expires {
		return e.caller, true, version, nil
	}
	return authz.Caller{}, false, version, nil
}

// store keeps a caller loaded under version, unless the count moved since.
func (c *cache) store(instanceID, hash string, version int64, caller authz.Caller, expires int64) {
	ic := c.instance(instanceID)
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.version != version {
		return
	}
	if len(ic.callers) >= c.maxSize {
		clear(ic.callers)
	}
	ic.callers[hash] = cached{caller: caller, expires: expires}
}

package user

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Search cursors come back from the network. A cursor holds the position
// after the last user of its page and, from a Searcher, the total counted
// for the first page — which the caller must not be able to change, nor
// carry over to another search. So a Searcher's cursor is
//
//	base64url(JSON {k: sort key, i: id, t: total, r: ring key id}) "." base64url(MAC)
//
// where MAC is HMAC-SHA256, under a key derived from the key ring
// (keyring.Ring.DeriveKey, purpose cursorPurpose), over the instance, the
// search's normalized filters, sort order and role, and the payload. Every
// replica with the same key ring accepts every other's cursors; a cursor
// made under a key that has since left the ring, or for another search,
// fails as invalid. Find without a key ring hands out the payload alone,
// without a total, and counts the total on every page instead.

// cursorPurpose names the key cursors are authenticated with.
const cursorPurpose = "castellan/user/search-cursor/v1"

type cursor struct {
	Key string `json:"k"`
	ID  string `json:"i"`
	// Total is the first page's count, carried along so that later pages
	// cost only their own rows. Only an authenticated cursor's is used.
	Total int `json:"t,omitempty"`
	// LowerBound: at least Total users match (Page.TotalIsLowerBound).
	LowerBound bool `json:"l,omitempty"`
	// KeyID names the ring key the MAC's key was derived from.
	KeyID string `json:"r,omitempty"`
}

// searchScope is what a cursor is bound to: the instance, the search's
// filters as the query applies them, its order and the role.
type searchScope struct {
	InstanceID string        `json:"instance"`
	OrgID      string        `json:"org,omitempty"`
	Type       string        `json:"type,omitempty"`
	State      State         `json:"state,omitempty"`
	LoginKey   string        `json:"login,omitempty"`
	PrefixKey  string        `json:"prefix,omitempty"`
	Email      string        `json:"email,omitempty"`
	Traits     []TraitFilter `json:"traits,omitempty"`
	SortColumn string        `json:"sort"`
	Descending bool          `json:"desc,omitempty"`
	Role       int           `json:"role"`
}

func newSearchScope(instanceID string, s Search, sortColumn string, role userschema.Role) searchScope {
	sc := searchScope{InstanceID: instanceID, OrgID: s.OrgID, Type: s.Type, State: s.State, Email: strings.ToLower(s.Email),
		Traits: s.Traits, SortColumn: sortColumn, Descending: s.Descending, Role: int(role)}
	if s.LoginName != "" {
		sc.LoginKey = LoginNameKey(s.LoginName)
	}
	if s.LoginNamePrefix != "" {
		sc.PrefixKey = loginNamePrefixKey(s.LoginNamePrefix)
	}
	return sc
}

// Searcher runs searches whose cursors carry the first page's total,
// authenticated with a key derived from the key ring, so that a deep page
// costs what its rows cost and no more.
type Searcher struct {
	db    *database.DB
	keys  *keyring.Ring // nil: cursors without totals, every page counts
	cache *SearchCache  // nil: searches read what a cache would keep
}

// NewSearcher returns a searcher over db whose cursors are authenticated
// with a key derived from keys.
func NewSearcher(db *database.DB, keys *keyring.Ring) *Searcher {
	return &Searcher{db: db, keys: keys}
}

// WithCache returns a copy of sr that keeps in c what its searches would
// otherwise read again (see SearchCache).
func (sr *Searcher) WithCache(c *SearchCache) *Searcher {
	cp := *sr
	cp.cache = c
	return &cp
}

// Find runs a search without a key ring: its cursors hold only a position
// and every page counts its total anew. A Searcher's count only the first
// page.
func Find(ctx context.Context, db *database.DB, instanceID string, s Search, role userschema.Role) (Page, error) {
	return (&Searcher{db: db}).Find(ctx, instanceID, s, role)
}

func errCursor() error {
	return failure.InvalidArgument("cursor", "not a cursor this search returned")
}

// mac authenticates payload for scope under the ring key keyID.
func (sr *Searcher) mac(keyID string, scope searchScope, payload string) ([]byte, error) {
	key, err := sr.keys.DeriveKey(keyID, cursorPurpose)
	if err != nil {
		return nil, err
	}
	msg, err := json.Marshal([]any{scope, payload})
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil), nil
}

// encodeCursor returns the cursor after (key, id) of a search of scope
// whose first page counted the total of page.
func (sr *Searcher) encodeCursor(scope searchScope, key, id string, page Page) (string, error) {
	c := cursor{Key: key, ID: id}
	if sr.keys != nil {
		c.Total, c.LowerBound, c.KeyID = page.Total, page.TotalIsLowerBound, sr.keys.CurrentID()
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	if sr.keys == nil {
		return payload, nil
	}
	sum, err := sr.mac(c.KeyID, scope, payload)
	if err != nil {
		return "", err
	}
	return payload + "." + base64.RawURLEncoding.EncodeToString(sum), nil
}

// decodeCursor reads a cursor of a search of scope. It reports whether the
// cursor's total may be used: only when a key ring authenticated it.
func (sr *Searcher) decodeCursor(scope searchScope, s string) (cursor, bool, error) {
	payload, sum, signed := strings.Cut(s, ".")
	var c cursor
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(raw, &c) != nil || c.ID == "" {
		return cursor{}, false, errCursor()
	}
	if sr.keys == nil {
		return cursor{Key: c.Key, ID: c.ID}, false, nil
	}
	got, err := base64.RawURLEncoding.DecodeString(sum)
	if !signed || err != nil || c.KeyID == "" {
		return cursor{}, false, errCursor()
	}
	want, err := sr.mac(c.KeyID, scope, payload)
	if err != nil || !hmac.Equal(got, want) {
		return cursor{}, false, errCursor() // another search's, forged, or under a key the ring no longer holds
	}
	return c, true, nil
}

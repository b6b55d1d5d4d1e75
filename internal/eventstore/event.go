package eventstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Payload is the typed body of an event. Each event type is one Go struct,
// registered with its payload version in a Registry.
type Payload interface {
	// EventType is the stable, dotted name of the event, e.g. "user.added".
	EventType() string
}

// Aggregate identifies the object an event belongs to. Owner is the
// organization that owns the aggregate (empty for instance-level objects).
type Aggregate struct {
	InstanceID string
	Type       string
	ID         string
	Owner      string
}

func (a Aggregate) String() string { return a.Type + "/" + a.ID }

// Editor is who caused an event: a user, the client acting for it, the
// session or personal access token it was authenticated by, and the
// network address the change came from. System changes (first start,
// migrations) use SystemEditor.
//
// Address is a canonical IP address (netip.Addr.String). Push fills an
// empty Address from the request's context (package clientaddr), so every
// change made while serving a request records where it came from without
// each command passing it on; SessionID is set by the paths that know
// the credential (an API caller, the hosted login, the Session API).
type Editor struct {
	UserID    string
	ClientID  string
	SessionID string
	Address   string
}

// SystemEditor edits on behalf of Castellan itself.
var SystemEditor = Editor{UserID: "system"}

// Position is an event's place in the global commit order. TxID groups the
// events of one append and is ordered like commits are made visible;
// Global breaks ties within it. Positions compare as (TxID, Global).
//
// The zero Position is before every event.
type Position struct {
	TxID   int64
	Global int64
}

// Less reports whether p comes before q.
func (p Position) Less(q Position) bool {
	return p.TxID < q.TxID || (p.TxID == q.TxID && p.Global < q.Global)
}

// IsZero reports whether p is the start of the log.
func (p Position) IsZero() bool { return p == Position{} }

// String formats p as "TXID.GLOBAL".
func (p Position) String() string {
	return strconv.FormatInt(p.TxID, 10) + "." + strconv.FormatInt(p.Global, 10)
}

// ParsePosition reads the String form of a Position.
func ParsePosition(s string) (Position, error) {
	tx, global, ok := strings.Cut(s, ".")
	if !ok {
		return Position{}, fmt.Errorf("position %q: want TXID.GLOBAL", s)
	}
	t, err1 := strconv.ParseInt(tx, 10, 64)
	g, err2 := strconv.ParseInt(global, 10, 64)
	if err1 != nil || err2 != nil || t < 0 || g < 0 {
		return Position{}, fmt.Errorf("position %q: want two non-negative integers TXID.GLOBAL", s)
	}
	return Position{TxID: t, Global: g}, nil
}

// Event is a stored event with its decoded payload.
type Event struct {
	Aggregate Aggregate
	// Sequence numbers the events of one aggregate from 1, without gaps.
	Sequence  int64
	Position  Position
	Type      string
	Version   int
	Payload   Payload
	Editor    Editor
	CreatedAt time.Time
	// PersonalErased reports that the payload's personal fields were
	// erased (see Personal) and hold placeholders.
	PersonalErased bool
}

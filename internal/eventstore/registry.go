package eventstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// Errors returned when a stored event cannot be decoded. Reading never drops
// data silently: an event whose type, version or fields are not known fails.
var (
	ErrUnknownEventType = errors.New("unknown event type")
	ErrUnknownVersion   = errors.New("unknown payload version")
)

// Upcaster turns a payload of one version into the next version's JSON.
type Upcaster func(old json.RawMessage) (json.RawMessage, error)

type registration struct {
	version   int
	newValue  func() Payload
	upcasters map[int]Upcaster // from version -> from+1
}

// Registry knows every event type: its Go struct and current payload
// version, and how to upgrade payloads written by older versions.
type Registry struct {
	types map[string]*registration
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]*registration{}} }

// Register adds event payload type T, written at version. Registering one
// event type twice panics: it is a programming error found at start.
func Register[T any, P interface {
	*T
	Payload
}](r *Registry, version int) {
	var zero T
	name := P(&zero).EventType()
	if version < 1 {
		panic(fmt.Sprintf("eventstore: %s: payload version must be >= 1", name))
	}
	if _, dup := r.types[name]; dup {
		panic(fmt.Sprintf("eventstore: event type %s registered twice", name))
	}
	r.types[name] = &registration{
		version:   version,
		newValue:  func() Payload { return P(new(T)) },
		upcasters: map[int]Upcaster{},
	}
}

// RegisterUpcaster adds the step that upgrades a payload of eventType from
// version from to from+1.
func (r *Registry) RegisterUpcaster(eventType string, from int, up Upcaster) {
	reg, ok := r.types[eventType]
	if !ok {
		panic(fmt.Sprintf("eventstore: upcaster for unregistered event type %s", eventType))
	}
	if from < 1 || from >= reg.version {
		panic(fmt.Sprintf("eventstore: upcaster for %s from version %d: current version is %d", eventType, from, reg.version))
	}
	reg.upcasters[from] = up
}

// version returns the current payload version of an event type.
func (r *Registry) version(p Payload) (int, error) {
	reg, ok := r.types[p.EventType()]
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownEventType, p.EventType())
	}
	if got := reflect.TypeOf(reg.newValue()); got != reflect.TypeOf(p) {
		return 0, fmt.Errorf("eventstore: event type %q is registered as %v, got %T", p.EventType(), got, p)
	}
	return reg.version, nil
}

// decode turns a stored payload into its Go value, upcasting older versions.
// Unknown fields fail, so that no stored data is silently dropped.
func (r *Registry) decode(eventType string, version int, data []byte) (Payload, error) {
	reg, ok := r.types[eventType]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownEventType, eventType)
	}
	if version > reg.version || version < 1 {
		return nil, fmt.Errorf("%w: %s version %d (this binary knows up to %d)", ErrUnknownVersion, eventType, version, reg.version)
	}
	raw := json.RawMessage(data)
	for v := version; v < reg.version; v++ {
		up, ok := reg.upcasters[v]
		if !ok {
			return nil, fmt.Errorf("%w: %s has no upcaster from version %d", ErrUnknownVersion, eventType, v)
		}
		var err error
		if raw, err = up(raw); err != nil {
			return nil, fmt.Errorf("eventstore: upcast %s from version %d: %w", eventType, v, err)
		}
	}
	p := reg.newValue()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("eventstore: decode %s version %d: %w", eventType, version, err)
	}
	return p, nil
}

// TypesOf returns the event types of payloads, for a projection's
// EventTypes: the list derives from the payload types, so a type is named
// once, where its payload declares it.
func TypesOf(payloads ...Payload) []string {
	types := make([]string, len(payloads))
	for i, p := range payloads {
		types[i] = p.EventType()
	}
	return types
}

// Payloads returns a zero payload of every registered event type, by type
// name: for checks over all of them (what an audit reader may see).
func (r *Registry) Payloads() []Payload {
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]Payload, 0, len(names))
	for _, n := range names {
		out = append(out, r.types[n].newValue())
	}
	return out
}

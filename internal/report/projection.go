package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Version is the version of the way the rows are derived. It grows with
// each change rows written before cannot follow; the subscription's
// checkpoint is named after it, so a new version reads the log again from
// its start, and its first batch deletes the rows of the old one.
//
// Version 1: the first.
const Version = 1

// SubscriptionName is the name of the report's checkpoint.
var SubscriptionName = "report.v" + strconv.Itoa(Version)

// eventTypes are the events the report reads.
var eventTypes = eventstore.TypesOf(&session.UserChecked{}, &session.FactorChecked{}, &session.CheckFailed{}, &session.Ended{},
	&grants.Issued{}, &user.Added{}, &user.Deleted{}, &credential.TOTPVerified{}, &credential.TOTPRemoved{},
	&passkey.Added{}, &passkey.Removed{}, &credential.SignInCodeFactorAdded{}, &credential.SignInCodeFactorRemoved{})

// EventTypes lists the events the report reads.
func EventTypes() []string { return slices.Clone(eventTypes) }

// Report keeps the report's rows current from the event log.
type Report struct {
	store *eventstore.Store
	log   *slog.Logger

	mu sync.Mutex
	// persons caches whether a user type's revision (immutable) is one
	// of people: "instance/schema/revision" -> person.
	persons map[string]bool
}

// New returns the report of store's events; log may be nil.
func New(store *eventstore.Store, log *slog.Logger) *Report {
	if log == nil {
		log = slog.Default()
	}
	return &Report{store: store, log: log, persons: map[string]bool{}}
}

// Subscription is the report's subscription of the event log.
func (r *Report) Subscription() eventstore.Subscription {
	return eventstore.Subscription{Name: SubscriptionName, EventTypes: eventTypes, Handle: r.handle}
}

// CatchUp reads every settled event after the checkpoint and returns how
// many.
func (r *Report) CatchUp(ctx context.Context) (int, error) {
	return r.store.CatchUp(ctx, r.Subscription())
}

// Run keeps the report current until ctx ends, waking on every local
// append and at least every poll.
func (r *Report) Run(ctx context.Context, poll time.Duration) {
	r.store.Run(ctx, r.Subscription(), poll, r.log)
}

// handle applies a batch, first deleting the rows of an older version.
func (r *Report) handle(ctx context.Context, tx *database.Tx, events []eventstore.Event) error {
	var have int
	err := tx.QueryRowContext(ctx, `SELECT value FROM report_state WHERE name = 'version'`).Scan(&have)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("report: version: %w", err)
	}
	if have != Version {
		if err := reset(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO report_state (name, value) VALUES ('version', $1)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`, Version); err != nil {
			return fmt.Errorf("report: version: %w", err)
		}
	}
	b := newBatch(tx)
	if err := b.loadPruned(ctx); err != nil {
		return err
	}
	if err := b.prefetch(ctx, sessionsOf(events)); err != nil {
		return err
	}
	for i := range events {
		if err := b.forgetSessions(ctx, dayOf(events[i].CreatedAt)); err != nil {
			return err
		}
		if err := r.apply(ctx, b, &events[i]); err != nil {
			return fmt.Errorf("report: %s of %s: %w", events[i].Type, events[i].Aggregate, err)
		}
	}
	return b.flush(ctx)
}

// sessionsOf lists the sessions events name.
func sessionsOf(events []eventstore.Event) []sessionKey {
	var keys []sessionKey
	for i := range events {
		e := &events[i]
		switch p := e.Payload.(type) {
		case *session.UserChecked, *session.FactorChecked, *session.CheckFailed:
			keys = append(keys, sessionKey{e.Aggregate.InstanceID, e.Aggregate.ID})
		case *grants.Issued:
			if p.SessionID != "" {
				keys = append(keys, sessionKey{e.Aggregate.InstanceID, p.SessionID})
			}
		}
	}
	return keys
}

// reset deletes every row.
func reset(ctx context.Context, tx *database.Tx) error {
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
			return fmt.Errorf("report: reset %s: %w", t, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM report_state WHERE name <> 'version'`); err != nil {
		return fmt.Errorf("report: reset: %w", err)
	}
	return nil
}

// dayOf is the UTC day of t, in days since 1970-01-01.
func dayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// monthOf is the UTC month of t as YYYYMM.
func monthOf(t time.Time) int64 {
	u := t.UTC()
	return int64(u.Year()*100 + int(u.Month()))
}

func (r *Report) apply(ctx context.Context, b *batch, e *eventstore.Event) error {
	switch p := e.Payload.(type) {
	case *session.UserChecked, *session.FactorChecked, *session.CheckFailed:
		return applySession(ctx, b, e)
	case *session.Ended:
		return b.endSession(ctx, e.Aggregate.InstanceID, e.Aggregate.ID)
	case *grants.Issued:
		return attribute(ctx, b, e.Aggregate.InstanceID, p.SessionID, p.ClientID)
	case *user.Added:
		return r.userAdded(ctx, b, e, p)
	default:
		return changeFactors(ctx, b.tx, e)
	}
}

// sessionRow is what the report knows of a session.
type sessionRow struct {
	exists, dirty           bool
	userID, orgID, clientID string
	provenUser, provenOrg   string
	provenDay, lastDay      int64
	// pendingFailures counts the failed checks awaiting an application
	// (rows of report_session_failures).
	pendingFailures       int64
	instanceID, sessionID string
}

// applySession follows a session's user (as package session's model
// does) and counts its sign-in and its failed checks.
func applySession(ctx context.Context, b *batch, e *eventstore.Event) error {
	s, err := b.session(ctx, e.Aggregate.InstanceID, e.Aggregate.ID)
	if err != nil {
		return err
	}
	day := dayOf(e.CreatedAt)
	s.exists, s.dirty, s.lastDay = true, true, max(s.lastDay, day)
	switch p := e.Payload.(type) {
	case *session.UserChecked:
		if p.UserID != s.userID {
			s.provenUser, s.provenOrg = "", "" // another user: its checks start over
		}
		s.userID, s.orgID = p.UserID, p.OrgID
		if s.orgID == "" {
			s.orgID = p.LoginOrgID
		}
	case *session.FactorChecked:
		if p.UserID != "" && s.userID == "" {
			s.userID, s.orgID = p.UserID, p.OrgID
		}
		if session.ProvesUser(p) && s.userID != "" && s.provenUser != s.userID {
			s.provenUser, s.provenOrg, s.provenDay = s.userID, s.orgID, day
			b.addSignIns(s.instanceID, s.orgID, day, s.clientID, 1, 0)
			b.markActive(s.instanceID, s.orgID, s.userID, day, monthOf(e.CreatedAt))
		}
	case *session.CheckFailed:
		b.addSignIns(s.instanceID, s.orgID, day, s.clientID, 0, 1)
		if s.clientID == "" {
			if _, err := b.tx.ExecContext(ctx, `INSERT INTO report_session_failures (instance_id, session_id, org_id, day, failed) VALUES ($1, $2, $3, $4, 1)
ON CONFLICT (instance_id, session_id, org_id, day) DO UPDATE SET failed = report_session_failures.failed + 1`, s.instanceID, s.sessionID, s.orgID, day); err != nil {
				return err
			}
			s.pendingFailures++
		}
	}
	return nil
}

// wholeInstance is the organization id of the rows that total an
// instance's organizations (and sign-ins of no organization): ids of
// organizations are never "*". A query of the instance reads them, so
// it reads a year as fast for ten thousand organizations as for one.
const wholeInstance = "*"

// scopes are the rows a figure of an organization adds to: its own and
// the instance's.
func scopes(orgID string) []string {
	if orgID == "" || orgID == wholeInstance {
		return []string{wholeInstance}
	}
	return []string{orgID, wholeInstance}
}

// attribute gives a session's sign-in, and the failed checks before it,
// to the application of the first grant made from the session: they move
// from "no application" to clientID, on the days they happened.
func attribute(ctx context.Context, b *batch, instanceID, sessionID, clientID string) error {
	if sessionID == "" || clientID == "" {
		return nil
	}
	s, err := b.session(ctx, instanceID, sessionID)
	if err != nil || !s.exists || s.clientID != "" {
		return err
	}
	s.clientID, s.dirty = clientID, true
	if s.provenUser != "" {
		b.addSignIns(instanceID, s.provenOrg, s.provenDay, "", -1, 0)
		b.addSignIns(instanceID, s.provenOrg, s.provenDay, clientID, 1, 0)
	}
	if s.pendingFailures == 0 {
		return nil
	}
	s.pendingFailures = 0
	rows, err := b.tx.QueryContext(ctx, `SELECT org_id, day, failed FROM report_session_failures WHERE instance_id = $1 AND session_id = $2
ORDER BY org_id, day`, instanceID, sessionID)
	if err != nil {
		return err
	}
	type failures struct {
		org         string
		day, failed int64
	}
	var moved []failures
	for rows.Next() {
		var f failures
		if err := rows.Scan(&f.org, &f.day, &f.failed); err != nil {
			rows.Close()
			return err
		}
		moved = append(moved, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range moved {
		b.addSignIns(instanceID, f.org, f.day, "", 0, -f.failed)
		b.addSignIns(instanceID, f.org, f.day, clientID, 0, f.failed)
	}
	_, err = b.tx.ExecContext(ctx, `DELETE FROM report_session_failures WHERE instance_id = $1 AND session_id = $2`, instanceID, sessionID)
	return err
}

// person reports whether users of a type's revision sign in as people;
// a machine's type lists none of the authenticators people use.
func (r *Report) person(ctx context.Context, instanceID string, p *user.Added) (bool, error) {
	if p.SchemaID == "" { // written before user types had ids
		return p.SchemaType != userschema.MachineID, nil
	}
	key := instanceID + "/" + p.SchemaID + "/" + strconv.Itoa(p.SchemaRevision)
	r.mu.Lock()
	person, ok := r.persons[key]
	r.mu.Unlock()
	if ok {
		return person, nil
	}
	machine, err := user.IsMachine(ctx, r.store.DB(), user.User{InstanceID: instanceID, SchemaID: p.SchemaID, SchemaRevision: p.SchemaRevision})
	switch {
	case failure.Is(err, failure.KindNotFound):
		machine = p.SchemaType == userschema.MachineID
	case err != nil:
		return false, err
	}
	r.mu.Lock()
	r.persons[key] = !machine
	r.mu.Unlock()
	return !machine, nil
}

func (r *Report) userAdded(ctx context.Context, b *batch, e *eventstore.Event, p *user.Added) error {
	person, err := r.person(ctx, e.Aggregate.InstanceID, p)
	if err != nil {
		return err
	}
	u := userRow{instanceID: e.Aggregate.InstanceID, userID: e.Aggregate.ID, orgID: e.Aggregate.Owner, person: person}
	if err := u.save(ctx, b.tx); err != nil {
		return err
	}
	b.addDaily(u.instanceID, u.orgID, dayOf(e.CreatedAt), 0, 1)
	if person {
		return addAdoption(ctx, b.tx, u.instanceID, u.orgID, dayOf(e.CreatedAt), 1, 0)
	}
	return nil
}

// userRow is what the report knows of a user.
type userRow struct {
	instanceID, userID, orgID string
	person                    bool
	totp                      bool
	passkeys                  int64
	otpChannels               int64
}

// mfa reports whether the user has a second factor.
func (u userRow) mfa() bool { return u.totp || u.passkeys > 0 || u.otpChannels != 0 }

func loadUser(ctx context.Context, tx *database.Tx, instanceID, userID string) (userRow, bool, error) {
	u := userRow{instanceID: instanceID, userID: userID}
	var person, totp int64
	err := tx.QueryRowContext(ctx, `SELECT org_id, person, totp, passkeys, otp_channels FROM report_users WHERE instance_id = $1 AND user_id = $2`,
		instanceID, userID).Scan(&u.orgID, &person, &totp, &u.passkeys, &u.otpChannels)
	if errors.Is(err, sql.ErrNoRows) {
		return u, false, nil
	}
	u.person, u.totp = person == 1, totp == 1
	return u, err == nil, err
}

func (u userRow) save(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO report_users (instance_id, user_id, org_id, person, totp, passkeys, otp_channels)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (instance_id, user_id) DO UPDATE SET org_id = excluded.org_id, person = excluded.person,
totp = excluded.totp, passkeys = excluded.passkeys, otp_channels = excluded.otp_channels`,
		u.instanceID, u.userID, u.orgID, boolInt(u.person), boolInt(u.totp), u.passkeys, u.otpChannels)
	return err
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// channelBit is a sign-in code channel's bit in otp_channels.
func channelBit(channel string) int64 {
	switch channel {
	case credential.ChannelEmail:
		return 1
	case credential.ChannelPhone:
		return 2
	}
	return 4
}

// changeFactors follows a user's second factors and its deletion.
func changeFactors(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	u, ok, err := loadUser(ctx, tx, e.Aggregate.InstanceID, e.Aggregate.ID)
	if err != nil || !ok {
		return err
	}
	before := u.mfa()
	day := dayOf(e.CreatedAt)
	switch p := e.Payload.(type) {
	case *user.Deleted:
		if _, err := tx.ExecContext(ctx, `DELETE FROM report_users WHERE instance_id = $1 AND user_id = $2`, u.instanceID, u.userID); err != nil {
			return err
		}
		if u.person {
			return addAdoption(ctx, tx, u.instanceID, u.orgID, day, -1, -boolInt(before))
		}
		return nil
	case *credential.TOTPVerified:
		u.totp = true
	case *credential.TOTPRemoved:
		u.totp = false
	case *passkey.Added:
		u.passkeys++
	case *passkey.Removed:
		u.passkeys = max(0, u.passkeys-1)
	case *credential.SignInCodeFactorAdded:
		u.otpChannels |= channelBit(p.Channel)
	case *credential.SignInCodeFactorRemoved:
		u.otpChannels &^= channelBit(p.Channel)
	}
	if err := u.save(ctx, tx); err != nil {
		return err
	}
	if after := u.mfa(); u.person && after != before {
		return addAdoption(ctx, tx, u.instanceID, u.orgID, day, 0, boolInt(after)-boolInt(before))
	}
	return nil
}

// addAdoption changes the people and the people with a second factor of
// an organization and of the whole instance from day
// on. A change reaching the report after one of a later day (two appends
// committing in the other order around midnight) counts from that later
// day.
func addAdoption(ctx context.Context, tx *database.Tx, instanceID, orgID string, day, users, mfaUsers int64) error {
	for _, o := range scopes(orgID) {
		d := day
		var last, have, haveMFA int64
		err := tx.QueryRowContext(ctx, `SELECT day, users, mfa_users FROM report_mfa WHERE instance_id = $1 AND org_id = $2 ORDER BY day DESC LIMIT 1`,
			instanceID, o).Scan(&last, &have, &haveMFA)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && last > d {
			d = last
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO report_mfa (instance_id, org_id, day, users, mfa_users) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (instance_id, org_id, day) DO UPDATE SET users = excluded.users, mfa_users = excluded.mfa_users`,
			instanceID, o, d, have+users, haveMFA+mfaUsers); err != nil {
			return err
		}
	}
	return nil
}

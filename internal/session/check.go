package session

import (
	"context"
	"errors"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// request is one create or update of a session: the model as the checks
// so far left it, and their events.
type request struct {
	c      *Commands
	m      *model
	client Client
	events []eventstore.Payload
	// users are the appends that record outcomes on users (a password
	// check), stored in the transaction of the session's events.
	users []eventstore.Append
	// settings are read once per organization and request.
	settings map[string]settings.Settings
	// known: a check ran against a user who may sign in (for pace).
	known bool
	// userEvents are the events of the session's user as a password
	// check of this request read them: the user's facts fold them instead
	// of reading them again, unless the request recorded something on a
	// user (users).
	userEvents []eventstore.Event
}

func (c *Commands) request(m *model, client Client) *request {
	return &request{c: c, m: m, client: client, settings: map[string]settings.Settings{}}
}

// settingsOf reads the settings in force for an organization, once per
// request.
func (r *request) settingsOf(ctx context.Context, orgID string) (settings.Settings, error) {
	if s, ok := r.settings[orgID]; ok {
		return s, nil
	}
	s, err := r.c.d.Settings(ctx, r.m.instanceID, orgID)
	if err == nil {
		r.settings[orgID] = s
	}
	return s, err
}

// add records an event and applies it to the model, for the checks after
// it.
func (r *request) add(p eventstore.Payload) {
	r.events = append(r.events, p)
	r.m.apply(&eventstore.Event{Aggregate: eventstore.Aggregate{InstanceID: r.m.instanceID, Type: AggregateType, ID: r.m.id},
		Sequence: r.m.sequence, CreatedAt: r.c.now(), Payload: p})
}

// editor is the editor of what the request changes: the session's user,
// through the session.
func (r *request) editor() eventstore.Editor {
	return eventstore.Editor{UserID: r.m.userID, ClientID: "session", SessionID: r.m.id}
}

func (r *request) aggregate() eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: r.m.instanceID, Type: AggregateType, ID: r.m.id}
}

// Bounds of what a request carries.
const (
	maxSecret   = 1024
	maxCode     = 64
	maxWebAuthn = 64 << 10
)

func validate(checks Checks, ch Challenges) error {
	if u := checks.User; u != nil {
		if (u.LoginName == "") == (u.UserID == "") {
			return failure.InvalidArgument("checks.user", "give a login name or a user id")
		}
		if len(u.LoginName) > 256 || len(u.UserID) > 64 || len(u.OrgID) > 64 {
			return failure.InvalidArgument("checks.user", "too long")
		}
	}
	if p := checks.Password; p != nil && (*p == "" || len(*p) > maxSecret) {
		return failure.InvalidArgument("checks.password.password", "a password has 1 to %d bytes", maxSecret)
	}
	for _, c := range []struct {
		field string
		code  *string
	}{{"checks.totp.code", checks.TOTP}, {"checks.otpEmail.code", checks.OTPEmail}, {"checks.otpSms.code", checks.OTPSMS}, {"checks.recoveryCode.code", checks.RecoveryCode}} {
		if c.code != nil && (*c.code == "" || len(*c.code) > maxCode || !utf8.ValidString(*c.code)) {
			return failure.InvalidArgument(c.field, "a code has 1 to %d characters", maxCode)
		}
	}
	if checks.WebAuthn != nil && (len(checks.WebAuthn) == 0 || len(checks.WebAuthn) > maxWebAuthn) {
		return failure.InvalidArgument("checks.webAuthn.credentialAssertionData", "an assertion has 1 byte to %d KiB", maxWebAuthn>>10)
	}
	if l := checks.EmailLink; l != nil && (*l == "" || len(*l) > maxSecret) {
		return failure.InvalidArgument("checks.emailLink.token", "a token has 1 to %d bytes", maxSecret)
	}
	if i := checks.IdPIntent; i != nil && (i.ID == "" || i.Token == "" || len(i.ID) > 64 || len(i.Token) > 512) {
		return failure.InvalidArgument("checks.idpIntent", "an intent has an id and a token")
	}
	if w := ch.WebAuthn; w != nil {
		switch w.UserVerification {
		case "", "required", "preferred", "discouraged":
		default:
			return failure.InvalidArgument("challenges.webAuthn.userVerification", "required, preferred or discouraged")
		}
	}
	return nil
}

// signInFailed reports whether err is the failure of a check (recorded as
// CheckFailed), rather than a bad request or a fault.
func signInFailed(err error) bool {
	return failure.Is(err, failure.KindUnauthenticated)
}

// run applies the checks and challenges of r and stores their events at
// expected (eventstore.NewAggregate for a new session).
func (c *Commands) run(ctx context.Context, r *request, checks Checks, ch Challenges, expected int64) (Session, Answer, error) {
	started := time.Now()
	factor, err := c.check(ctx, r, checks)
	if err != nil {
		if !signInFailed(err) {
			return Session{}, Answer{}, err
		}
		defer func() {
			if r.known {
				c.pace.Record(time.Since(started))
			}
			c.pace.Wait(ctx, started)
		}()
		failed := []eventstore.Payload{&CheckFailed{Factor: factor, Client: r.client}}
		if expected == eventstore.NewAggregate {
			// The session is made, for nobody to use, as the record of
			// the failed sign-in: who it was for and what failed.
			var head []eventstore.Payload
			for _, e := range r.events {
				switch e.(type) {
				case *Created, *UserChecked:
					head = append(head, e)
				}
			}
			failed = append(head, failed...)
		}
		appends := append([]eventstore.Append{{Aggregate: r.aggregate(), ExpectedSequence: expected, Events: failed}}, r.users...)
		if _, perr := c.d.Store.Push(ctx, r.editor(), appends...); perr != nil {
			return Session{}, Answer{}, perr
		}
		return Session{}, Answer{}, err
	}
	answer, err := c.challenge(ctx, r, ch)
	if err != nil {
		return Session{}, Answer{}, err
	}
	if len(r.events) > 0 {
		appends := append([]eventstore.Append{{Aggregate: r.aggregate(), ExpectedSequence: expected, Events: r.events}}, r.users...)
		stored, err := c.d.Store.Push(ctx, r.editor(), appends...)
		if err != nil {
			return Session{}, Answer{}, err
		}
		for _, e := range stored {
			if e.Aggregate.Type == AggregateType {
				r.m.sequence = e.Sequence
			}
		}
	}
	s, err := c.view(ctx, r.m, r)
	return s, answer, err
}

// check applies the checks in order and returns the factor that failed.
func (c *Commands) check(ctx context.Context, r *request, checks Checks) (Factor, error) {
	if checks.User != nil {
		if err := c.checkUser(ctx, r, *checks.User); err != nil {
			return FactorUser, err
		}
	}
	if checks.WebAuthn != nil {
		if err := c.checkWebAuthn(ctx, r, checks.WebAuthn); err != nil {
			return FactorWebAuthn, err
		}
	}
	if checks.IdPIntent != nil {
		if err := c.checkIntent(ctx, r, *checks.IdPIntent); err != nil {
			return FactorIdP, err
		}
	}
	if checks.Password != nil {
		if err := c.checkPassword(ctx, r, *checks.Password); err != nil {
			return FactorPassword, err
		}
	}
	if checks.EmailLink != nil {
		if err := c.checkEmailLink(ctx, r, *checks.EmailLink); err != nil {
			return FactorEmailLink, err
		}
	}
	codes := []struct {
		factor Factor
		code   *string
		check  func(context.Context, eventstore.Aggregate, string) error
	}{
		{FactorTOTP, checks.TOTP, func(ctx context.Context, u eventstore.Aggregate, code string) error {
			return c.d.OTP.CheckTOTP(ctx, u, code, c.d.Keys)
		}},
		{FactorOTPEmail, checks.OTPEmail, func(ctx context.Context, u eventstore.Aggregate, code string) error {
			return c.d.OTP.CheckSignInCode(ctx, u, credential.ChannelEmail, code, c.d.Keys)
		}},
		{FactorOTPSMS, checks.OTPSMS, func(ctx context.Context, u eventstore.Aggregate, code string) error {
			return c.d.OTP.CheckSignInCode(ctx, u, credential.ChannelPhone, code, c.d.Keys)
		}},
		{FactorRecoveryCode, checks.RecoveryCode, c.d.otpRecovery},
	}
	for _, k := range codes {
		if k.code == nil {
			continue
		}
		if err := c.checkCode(ctx, r, k.factor, *k.code, k.check); err != nil {
			return k.factor, err
		}
	}
	return "", nil
}

func (d Deps) otpRecovery(ctx context.Context, u eventstore.Aggregate, code string) error {
	return d.OTP.CheckRecoveryCode(ctx, u, code)
}

// checkUser resolves the user a session is for. A name that matches no
// user, or a machine, makes a session for nobody (see the package
// documentation); changing the user of a session whose user is proven is
// refused.
func (c *Commands) checkUser(ctx context.Context, r *request, uc UserCheck) error {
	var u user.User
	var err error
	if uc.UserID != "" {
		u, err = user.Get(ctx, c.db(), r.m.instanceID, uc.UserID, userschema.Admin)
	} else {
		u, err = user.FindByLoginName(ctx, c.db(), r.m.instanceID, uc.LoginName, uc.OrgID)
	}
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return err
	}
	if err == nil {
		machine, merr := user.IsMachine(ctx, c.db(), u)
		if merr != nil {
			return merr
		}
		if machine {
			u = user.User{}
		}
	}
	name := uc.LoginName
	if name == "" {
		name = u.LoginName
	}
	if r.m.userID != "" && u.ID != r.m.userID {
		sett, err := r.settingsOf(ctx, r.m.orgID)
		if err != nil {
			return err
		}
		if r.m.proven(sett.Login, c.now()) {
			return failure.FailedPrecondition("the session is for another user; start a new session")
		}
	}
	orgID := u.OrgID
	if orgID == "" {
		orgID = uc.OrgID
	}
	r.add(&UserChecked{UserID: u.ID, OrgID: orgID, LoginName: name, LoginOrgID: uc.OrgID, Client: r.client})
	return nil
}

// target returns the user aggregate the checks are for when the user is
// known and may sign in; ok is false otherwise. A locked user is
// failure.FailedPrecondition only when the settings tell locked users so.
func (c *Commands) target(ctx context.Context, r *request) (eventstore.Aggregate, bool, error) {
	if r.m.userID == "" {
		return eventstore.Aggregate{}, false, nil
	}
	st, err := user.StandingOf(ctx, c.db(), r.m.instanceID, r.m.userID)
	if failure.Is(err, failure.KindNotFound) {
		return eventstore.Aggregate{}, false, nil
	}
	if err != nil {
		return eventstore.Aggregate{}, false, err
	}
	if st.Locked {
		sett, err := r.settingsOf(ctx, st.OrgID)
		if err != nil {
			return eventstore.Aggregate{}, false, err
		}
		if sett.Lockout.ShowLocked {
			return eventstore.Aggregate{}, false, failure.FailedPrecondition("the user is locked; an administrator can unlock it")
		}
	}
	return eventstore.Aggregate{InstanceID: r.m.instanceID, Type: user.AggregateType, ID: r.m.userID, Owner: st.OrgID}, st.Active, nil
}

func errNoUser(field string) error {
	return failure.FailedPrecondition("check a user first (checks.user), before %s", field)
}

func (c *Commands) checkPassword(ctx context.Context, r *request, pw string) error {
	if !r.m.userChecked {
		return errNoUser("checks.password")
	}
	u, ok, err := c.target(ctx, r)
	if err != nil {
		return err
	}
	if ok {
		// A password where the settings allow none gets the answer of a
		// wrong one: a distinct answer would tell this user's
		// organization from the settings of others.
		sett, err := r.settingsOf(ctx, u.Owner)
		if err != nil {
			return err
		}
		ok = slices.Contains(sett.Login.AllowedAuthenticators, settings.AuthPassword)
	}
	if !ok {
		// Nobody, or somebody who may not sign in: the same steps on an
		// aggregate that has no events, which end in the same answer.
		u = eventstore.Aggregate{InstanceID: r.m.instanceID, Type: user.AggregateType, ID: id.New(), Owner: r.m.orgID}
	}
	r.known = ok
	record, read, verdict := c.d.Credentials.PasswordCheck(ctx, u, pw)
	if len(record.Events) > 0 {
		r.users = append(r.users, record)
	}
	if ok && verdict == nil {
		r.userEvents = read
	}
	if verdict != nil {
		return verdict
	}
	r.add(&FactorChecked{Factor: FactorPassword, Client: r.client})
	return nil
}

// checkEmailLink checks the token of a sign-in link. A link of nobody, of
// a user who may not sign in, or of one whose settings do not allow
// sign-in links gets the answer of a wrong one.
func (c *Commands) checkEmailLink(ctx context.Context, r *request, token string) error {
	if !r.m.userChecked {
		return errNoUser("checks.emailLink")
	}
	if c.d.OTP == nil {
		return failure.FailedPrecondition("sign-in links are not available on this server")
	}
	u, ok, err := c.target(ctx, r)
	if err != nil {
		return err
	}
	if ok {
		sett, err := r.settingsOf(ctx, u.Owner)
		if err != nil {
			return err
		}
		ok = sett.Login.MagicLinkAllowed
	}
	if !ok {
		return failure.Unauthenticated("the sign-in link is not valid")
	}
	if err := c.d.OTP.CheckEmailLink(ctx, u, token); err != nil {
		return err
	}
	r.add(&FactorChecked{Factor: FactorEmailLink, Client: r.client})
	return nil
}

// errCode is the one answer to a wrong one-time code.
func errCode() error { return failure.Unauthenticated("the code is wrong") }

func (c *Commands) checkCode(ctx context.Context, r *request, f Factor, code string, check func(context.Context, eventstore.Aggregate, string) error) error {
	if !r.m.userChecked {
		return errNoUser("checks." + string(f))
	}
	if c.d.OTP == nil {
		return failure.FailedPrecondition("%s is not available on this server", f)
	}
	u, ok, err := c.target(ctx, r)
	if err != nil {
		return err
	}
	if !ok {
		return errCode()
	}
	if err := check(ctx, u, code); err != nil {
		if failure.Is(err, failure.KindFailedPrecondition) || failure.Is(err, failure.KindNotFound) {
			// The user has no such factor: the same answer as a wrong
			// code, so that probing reveals nothing.
			return errCode()
		}
		return err
	}
	r.add(&FactorChecked{Factor: f, Client: r.client})
	return nil
}

func (c *Commands) checkWebAuthn(ctx context.Context, r *request, response []byte) error {
	if c.d.Passkeys == nil {
		return failure.FailedPrecondition("WebAuthn is not available on this server")
	}
	if r.m.ceremonyID == "" {
		return failure.FailedPrecondition("ask for a WebAuthn challenge (challenges.webAuthn) before checking an assertion")
	}
	res, err := c.d.Passkeys.FinishLogin(ctx, r.m.instanceID, r.m.ceremonyID, response)
	if err != nil {
		return err
	}
	if r.m.userID != "" && res.UserID != r.m.userID {
		return failure.Unauthenticated("the security key does not belong to the session's user")
	}
	st, err := user.StandingOf(ctx, c.db(), r.m.instanceID, res.UserID)
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return err
	}
	if err != nil || !st.Active {
		return failure.Unauthenticated("the security key cannot sign in")
	}
	sett, err := r.settingsOf(ctx, st.OrgID)
	if err != nil {
		return err
	}
	passwordless := res.Passwordless && res.UserVerified && sett.Login.PasswordlessAllowed
	if r.m.userID == "" && !passwordless {
		// A key that may only be a second factor cannot start a sign-in.
		return failure.Unauthenticated("the passkey could not be verified")
	}
	fc := &FactorChecked{Factor: FactorWebAuthn, UserVerified: res.UserVerified, Passwordless: passwordless, Client: r.client}
	if r.m.userID == "" {
		fc.UserID, fc.OrgID = res.UserID, st.OrgID
	}
	r.add(fc)
	return nil
}

func (c *Commands) checkIntent(ctx context.Context, r *request, in IntentCheck) error {
	if c.d.Intents == nil {
		return failure.FailedPrecondition("sign-in through an identity provider is not available on this server yet")
	}
	userID, err := c.d.Intents.Consume(ctx, r.m.instanceID, in.ID, in.Token)
	if err != nil {
		return err
	}
	if r.m.userID != "" && userID != r.m.userID {
		return failure.Unauthenticated("the identity provider signed in another user")
	}
	st, err := user.StandingOf(ctx, c.db(), r.m.instanceID, userID)
	if err != nil || !st.Active {
		return failure.Unauthenticated("the identity provider's user cannot sign in")
	}
	r.add(&FactorChecked{Factor: FactorIdP, UserID: userID, OrgID: st.OrgID, Client: r.client})
	return nil
}

// challenge starts what the challenges ask for.
func (c *Commands) challenge(ctx context.Context, r *request, ch Challenges) (Answer, error) {
	var a Answer
	if ch.WebAuthn == nil && !ch.OTPEmail && !ch.OTPSMS {
		return a, nil
	}
	sett, err := r.settingsOf(ctx, r.m.orgID)
	if err != nil {
		return a, err
	}
	proven := r.m.proven(sett.Login, c.now())
	if w := ch.WebAuthn; w != nil {
		if c.d.Passkeys == nil {
			return a, failure.FailedPrecondition("WebAuthn is not available on this server")
		}
		var u *eventstore.Aggregate
		if proven {
			agg, ok, err := c.target(ctx, r)
			if err != nil {
				return a, err
			}
			if ok {
				u = &agg
			}
		}
		uv := w.UserVerification
		if uv == "" {
			uv = "preferred"
		}
		ceremony, options, err := c.d.Passkeys.BeginLogin(ctx, r.m.instanceID, u, uv)
		if err != nil {
			return a, err
		}
		a.WebAuthnOptions = options
		r.add(&WebAuthnChallenged{CeremonyID: ceremony})
	}
	for _, send := range []struct {
		want    bool
		channel string
	}{{ch.OTPEmail, credential.ChannelEmail}, {ch.OTPSMS, credential.ChannelPhone}} {
		if !send.want {
			continue
		}
		if err := c.sendCode(ctx, r, send.channel, proven); err != nil {
			return a, err
		}
	}
	return a, nil
}

// sendCode sends a sign-in code to the user's verified address. Before a
// first factor, nothing about the user shows: a user without the factor,
// or none at all, gets the answer a user with it gets.
func (c *Commands) sendCode(ctx context.Context, r *request, channel string, proven bool) error {
	if !r.m.userChecked {
		return errNoUser("challenges.otp" + channel)
	}
	if c.d.OTP == nil {
		return failure.FailedPrecondition("one-time codes are not available on this server")
	}
	agg, ok, err := c.target(ctx, r)
	if err != nil || !ok {
		return err
	}
	u, err := user.Get(ctx, c.db(), r.m.instanceID, agg.ID, userschema.Admin)
	if err != nil {
		return err
	}
	to := u.Email
	verified := u.EmailVerified
	if channel == credential.ChannelPhone {
		to, verified = u.Phone, u.PhoneVerified
	}
	if !verified {
		to = ""
	}
	err = c.d.OTP.SendSignInCode(ctx, agg, channel, to, c.d.Keys, c.d.Send)
	if err != nil && !proven && !errors.Is(err, context.Canceled) {
		// Refusals (no such factor, no address, too many codes) would
		// tell a user from none; they stay silent until a first factor.
		if k := failure.KindOf(err); k == failure.KindFailedPrecondition || k == failure.KindNotFound || k == failure.KindResourceExhausted || k == failure.KindInvalidArgument {
			return nil
		}
	}
	return err
}

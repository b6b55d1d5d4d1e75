package login

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/pace"
	"github.com/castellan-iam/castellan/internal/ratelimit"
	"github.com/castellan-iam/castellan/internal/session"
)

// selfService is the state of registration and recovery: their rate
// limits and their pace. Sign-in's limits are the Handler's (per client
// address) and the sessions' lockout (per account).
type selfService struct {
	h *Handler
	// perAddress counts registration and recovery posts of a client
	// address, on one replica; perAccount counts those naming one email
	// address or account (the messages they send), and wrongCodes the
	// codes entered for one pending registration or recovery.
	perAddress, perAccount, wrongCodes *ratelimit.Limiter
	registerPace, recoverPace          *pace.Pacer
	// linkPace paces the answers to requests for sign-in links
	// (emaillink.go).
	linkPace *pace.Pacer
}

// The limits of self-service: per client address, per account (email
// address or user), and of wrong codes per pending registration or
// recovery — as many as credential.DefaultPolicy lets a code take, so
// that a pending recovery of nobody gives up when one of somebody would.
const (
	selfServicePerAddress = 20
	selfServicePerAccount = 5
	selfServiceWindow     = 15 * time.Minute
	codeAttempts          = 5
	codeAttemptWindow     = time.Hour
)

func newSelfService(h *Handler) *selfService {
	return &selfService{
		h:            h,
		perAddress:   ratelimit.New(selfServicePerAddress, selfServiceWindow, nil),
		perAccount:   ratelimit.New(selfServicePerAccount, selfServiceWindow, nil),
		wrongCodes:   ratelimit.New(codeAttempts, codeAttemptWindow, nil),
		registerPace: &pace.Pacer{}, recoverPace: &pace.Pacer{}, linkPace: &pace.Pacer{},
	}
}

// pending is what the browser holds between a registration or recovery
// and its code. It is sealed with the key ring and padded to one length,
// so that the pending registration of an email address that already has
// an account, or the recovery of nobody, looks like any other.
type pending struct {
	Kind     string `json:"k"` // "register" or "recover"
	Instance string `json:"i"`
	// Known is set when there is an account the code was sent for:
	// UserID's, on Channel. Otherwise UserID is random.
	Known   bool   `json:"n"`
	UserID  string `json:"u"`
	Channel string `json:"c"`
	Email   string `json:"e"`
	// Session is the session a registration signed in, which the browser
	// gets once the email address is verified.
	Session held  `json:"s"`
	Expires int64 `json:"x"`
}

const (
	pendingLifetime = time.Hour
	pendingPadding  = 640
)

func pendingAD(kind, instanceID string) []byte {
	return []byte("castellan/login/pending/" + kind + "/" + instanceID)
}

// nobody returns the pending state of a registration or recovery without
// an account, shaped like one with.
func nobody(kind, instanceID, channel, email string) pending {
	token, _ := randomValue()
	return pending{Kind: kind, Instance: instanceID, UserID: id.New(), Channel: channel, Email: email,
		Session: held{ID: id.New(), Token: session.TokenPrefix + token}}
}

// keepPending stores p in its cookie.
func (s *selfService) keepPending(w http.ResponseWriter, r *http.Request, p pending) error {
	p.Expires = time.Now().Add(pendingLifetime).Unix()
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if len(b) < pendingPadding {
		b = append(b, bytes.Repeat([]byte(" "), pendingPadding-len(b))...)
	}
	sealed, err := s.h.d.Keys.Encrypt(b, pendingAD(p.Kind, p.Instance))
	if err != nil {
		return err
	}
	setCookie(w, r, p.Kind, base64.RawURLEncoding.EncodeToString(sealed), int(pendingLifetime/time.Second), http.SameSiteLaxMode)
	return nil
}

// pendingOf reads the pending registration or recovery (kind) of the
// browser for the request's instance.
func (s *selfService) pendingOf(r *http.Request, kind string) (pending, bool) {
	c, err := r.Cookie(cookieName(r, kind))
	if err != nil || len(c.Value) > maxCookieBytes {
		return pending{}, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return pending{}, false
	}
	inst := instanceID(r)
	b, err := s.h.d.Keys.Decrypt(sealed, pendingAD(kind, inst))
	if err != nil {
		return pending{}, false
	}
	var p pending
	if json.Unmarshal(b, &p) != nil || p.Kind != kind || p.Instance != inst || time.Now().Unix() > p.Expires {
		return pending{}, false
	}
	return p, true
}

func dropPending(w http.ResponseWriter, r *http.Request, kind string) {
	setCookie(w, r, kind, "", -1, http.SameSiteLaxMode)
}

// later runs work that sends a message after the answer, with its own
// deadline: a message to somebody and none to nobody then take the same
// time to answer.
func (s *selfService) later(what string, fn func(ctx context.Context) error) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := fn(ctx)
		// Two requests for one account (its login name, then its email
		// address) send at once: the later append finds the user changed
		// and is tried again on what the earlier one wrote.
		for try := 0; try < 3 && failure.Is(err, failure.KindConflict); try++ {
			err = fn(ctx)
		}
		if err != nil {
			s.h.d.Log.Warn("login: "+what, "err", err)
		}
	}()
}

package login

import (
	"net/http"
	"slices"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/session"
)

// The sessions page lists the user's live sessions (package session's
// read model) and ends them: any but the browser's own, which ends by
// signing out, or all the others at once. Ending someone's own session
// needs no recent check: it only ever takes access away.

type sessionRow struct {
	ID                               string
	UserAgent, Address               string
	CreatedAt, LastActive, ExpiresAt time.Time
	// Current: the session of this browser.
	Current bool
}

func (h *Handler) sessionsView(r *http.Request, me signedIn) (view, error) {
	v, p := h.accountView(me, "sessions", "Your sessions")
	list, err := session.List(r.Context(), h.d.DB, me.user.InstanceID, me.user.ID, h.d.Sessions.Now())
	if err != nil {
		return v, err
	}
	for _, s := range list {
		p.Sessions = append(p.Sessions, sessionRow{ID: s.ID, UserAgent: s.UserAgent, Address: s.Address,
			CreatedAt: s.CreatedAt, LastActive: s.LastActive, ExpiresAt: s.ExpiresAt, Current: s.ID == me.session.ID})
	}
	// The browser's own first.
	slices.SortStableFunc(p.Sessions, func(a, b sessionRow) int {
		switch {
		case a.Current == b.Current:
			return 0
		case a.Current:
			return -1
		}
		return 1
	})
	return v, nil
}

func (h *Handler) sessionsPage(w http.ResponseWriter, r *http.Request) {
	me, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	v, err := h.sessionsView(r, me)
	if err != nil {
		h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
		return
	}
	switch r.URL.Query().Get("ended") {
	case "one":
		v.Notice = "The session is ended."
	case "others":
		v.Notice = "Your other sessions are ended."
	}
	h.render(w, r, http.StatusOK, "account_sessions", v)
}

// endSessions ends the user's live sessions for which end is true.
func (h *Handler) endSessions(r *http.Request, me signedIn, end func(session.Summary) bool) (int, error) {
	list, err := session.List(r.Context(), h.d.DB, me.user.InstanceID, me.user.ID, h.d.Sessions.Now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list {
		if s.ID == me.session.ID || !end(s) {
			continue
		}
		if err := h.d.Sessions.End(r.Context(), me.editor(), me.user.InstanceID, s.ID, "", "ended by its user"); err != nil &&
			!failure.Is(err, failure.KindNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

func (h *Handler) postEndSession(w http.ResponseWriter, r *http.Request) {
	me, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	id := r.PostFormValue("session")
	if id == me.session.ID {
		v, err := h.sessionsView(r, me)
		if err != nil {
			h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
			return
		}
		v.Error = "This is the session of this browser: sign out to end it."
		h.render(w, r, http.StatusConflict, "account_sessions", v)
		return
	}
	n, err := h.endSessions(r, me, func(s session.Summary) bool { return s.ID == id })
	if err == nil && n == 0 {
		err = failure.NotFound("no such session")
	}
	if err != nil {
		v, verr := h.sessionsView(r, me)
		if verr != nil || !failure.Is(err, failure.KindNotFound) {
			h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
			return
		}
		v.Error = "There is no such session."
		h.render(w, r, http.StatusNotFound, "account_sessions", v)
		return
	}
	http.Redirect(w, r, "/ui/account/sessions?ended=one", http.StatusSeeOther)
}

func (h *Handler) postEndOtherSessions(w http.ResponseWriter, r *http.Request) {
	me, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	if _, err := h.endSessions(r, me, func(session.Summary) bool { return true }); err != nil {
		h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
		return
	}
	http.Redirect(w, r, "/ui/account/sessions?ended=others", http.StatusSeeOther)
}

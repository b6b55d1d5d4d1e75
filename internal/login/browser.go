package login

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// maxSessions is how many sessions a browser keeps for account selection.
const maxSessions = 5

// held is a session the browser holds.
type held struct {
	ID    string `json:"i"`
	Token string `json:"t"`
}

// cookieName is the name of one of the login's cookies: __Host- prefixed
// on TLS, where the prefix's rules (Secure, Path=/, no Domain) can hold.
func cookieName(r *http.Request, name string) string {
	if r.TLS != nil {
		return "__Host-castellan_" + name
	}
	return "castellan_" + name
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r, name), Value: value, Path: "/", MaxAge: maxAge,
		Secure: r.TLS != nil, HttpOnly: true, SameSite: sameSite,
	})
}

// maxCookieBytes bounds what is read from a cookie of ours.
const maxCookieBytes = 2048

// sessionsOf reads the browser's sessions, newest first. A cookie that is
// not ours to read is no session.
func sessionsOf(r *http.Request) []held {
	c, err := r.Cookie(cookieName(r, "sessions"))
	if err != nil || len(c.Value) > maxCookieBytes {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	var list []held
	if json.Unmarshal(b, &list) != nil || len(list) > maxSessions {
		return nil
	}
	out := list[:0]
	for _, s := range list {
		if s.ID != "" && s.Token != "" && len(s.ID) <= 64 && len(s.Token) <= 100 {
			out = append(out, s)
		}
	}
	return out
}

// keepSessions stores the browser's sessions.
func keepSessions(w http.ResponseWriter, r *http.Request, list []held) {
	if len(list) > maxSessions {
		list = list[:maxSessions]
	}
	if len(list) == 0 {
		setCookie(w, r, "sessions", "", -1, http.SameSiteLaxMode)
		return
	}
	b, _ := json.Marshal(list)
	setCookie(w, r, "sessions", base64.RawURLEncoding.EncodeToString(b), 0, http.SameSiteLaxMode)
}

// withFirst returns list with s first and no other copy of it.
func withFirst(list []held, s held) []held {
	out := []held{s}
	for _, o := range list {
		if o.ID != s.ID {
			out = append(out, o)
		}
	}
	return out
}

func without(list []held, id string) []held {
	var out []held
	for _, o := range list {
		if o.ID != id {
			out = append(out, o)
		}
	}
	return out
}

// csrf binds forms to the browser: a random value in a SameSite=Strict
// cookie, and in each form the HMAC of it under the login's key. A form
// posted from another site carries neither.
type csrf struct{ key []byte }

func randomValue() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (c csrf) sign(v string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("castellan/login/csrf/" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// token returns the form token of the browser, setting its cookie first
// when it has none.
func (c csrf) token(w http.ResponseWriter, r *http.Request) (string, error) {
	if ck, err := r.Cookie(cookieName(r, "csrf")); err == nil && len(ck.Value) == 43 {
		return c.sign(ck.Value), nil
	}
	v, err := randomValue()
	if err != nil {
		return "", err
	}
	setCookie(w, r, "csrf", v, 0, http.SameSiteStrictMode)
	return c.sign(v), nil
}

// valid reports whether a posted form carries the browser's token.
func (c csrf) valid(r *http.Request) bool {
	ck, err := r.Cookie(cookieName(r, "csrf"))
	if err != nil || len(ck.Value) != 43 {
		return false
	}
	got := r.PostFormValue("csrf")
	return len(got) == 43 && hmac.Equal([]byte(got), []byte(c.sign(ck.Value))) && !strings.ContainsAny(got, " \n")
}

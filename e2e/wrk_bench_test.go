package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wrkLoad is a load generator for loadWindowsAgainstES256 made of Debian's
// wrk (C, one thread, epoll): connections keep-alive connections POST
// form to path with HTTP Basic client authentication, as fast as the
// server answers. wrk costs a fraction of the CPU of Go clients, so the
// server is less starved of the machine's second core. Every answer is
// checked: a status other than 200, or a body without want, fails the
// window. The benchmark is skipped when wrk is not installed
// (apt-get install wrk).
func wrkLoad(b *testing.B, baseURL, path, form, user, pass, want string, connections int) func(time.Duration) (int, error) {
	b.Helper()
	bin, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (apt-get install wrk); the Go clients' variant measures the same")
	}
	script := filepath.Join(b.TempDir(), "load.lua")
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	lua := fmt.Sprintf(`wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic %s"
bad = 0
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, %s, 1, true) then bad = bad + 1 end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  local e = summary.errors
  io.write(string.format("castellan: requests=%%d bad=%%d errors=%%d\n", summary.requests, n, e.connect + e.read + e.write + e.status + e.timeout))
end
`, strconv.Quote(form), auth, strconv.Quote(want))
	if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
		b.Fatal(err)
	}
	result := regexp.MustCompile(`castellan: requests=(\d+) bad=(\d+) errors=(\d+)`)
	return func(window time.Duration) (int, error) {
		out, err := exec.Command(bin, "-t1", fmt.Sprintf("-c%d", connections), fmt.Sprintf("-d%ds", int(window.Seconds())), "-s", script, baseURL+path).CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("wrk: %v\n%s", err, out)
		}
		m := result.FindSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("wrk printed no result:\n%s", out)
		}
		n, _ := strconv.Atoi(string(m[1]))
		if string(m[2]) != "0" || string(m[3]) != "0" {
			return 0, fmt.Errorf("wrk: %s wrong answers and %s errors of %d requests", m[2], m[3], n)
		}
		return n, nil
	}
}

// wrkRefreshLoad is wrkLoad for refresh grants: a refresh token changes at
// every call, so each of wrk's connections (one per thread) keeps its own
// grant's token and sends the one its last answer gave. Each window starts
// from grants of its own, from grants(): when wrk stops, a request in
// flight may have rotated its token unseen, and sending the old one again
// would (rightly) revoke the grant. Getting the grants is inside the
// window's server CPU: 8 authorization code flows, about 1% of a window.
func wrkRefreshLoad(b *testing.B, baseURL, user, pass string, grants func() []string) func(time.Duration) (int, error) {
	b.Helper()
	bin, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (apt-get install wrk); the Go clients' variant measures the same")
	}
	script := filepath.Join(b.TempDir(), "refresh.lua")
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	result := regexp.MustCompile(`castellan: requests=(\d+) bad=(\d+) errors=(\d+)`)
	return func(window time.Duration) (int, error) {
		tokens := grants()
		quoted := make([]string, len(tokens))
		for i, t := range tokens {
			quoted[i] = strconv.Quote(t)
		}
		lua := fmt.Sprintf(`local tokens = {%s}
local next_id = 1
local threads = {}
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function init(args)
  token = tokens[id]
  bad = 0
end
local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "Basic %s"}
function request()
  return wrk.format("POST", "/oauth/v2/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
end
function response(status, hdrs, body)
  local t = string.match(body, '"refresh_token":"([^"]+)"')
  if status ~= 200 or t == nil then
    if bad == 0 then io.write("castellan: first wrong answer: ", status, " ", body, "\n") end
    bad = bad + 1
  else
    token = t
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  local e = summary.errors
  io.write(string.format("castellan: requests=%%d bad=%%d errors=%%d\n", summary.requests, n, e.connect + e.read + e.write + e.status + e.timeout))
end
`, strings.Join(quoted, ", "), auth)
		if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
			return 0, err
		}
		n := len(tokens)
		out, err := exec.Command(bin, fmt.Sprintf("-t%d", n), fmt.Sprintf("-c%d", n), fmt.Sprintf("-d%ds", int(window.Seconds())), "-s", script, baseURL+"/oauth/v2/token").CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("wrk: %v\n%s", err, out)
		}
		m := result.FindSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("wrk printed no result:\n%s", out)
		}
		done, _ := strconv.Atoi(string(m[1]))
		if string(m[2]) != "0" || string(m[3]) != "0" {
			first, _, _ := strings.Cut(string(out[max(0, bytes.Index(out, []byte("castellan: first"))):]), "\n")
			return 0, fmt.Errorf("wrk: %s wrong answers and %s errors of %d requests (%s)", m[2], m[3], done, first)
		}
		return done, nil
	}
}

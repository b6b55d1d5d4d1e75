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

// The load generators of this file drive Debian's wrk (C, epoll) from a
// Lua script for loadWindowsAgainstES256: wrk costs a fraction of the CPU
// of Go clients, so the server is less starved of the machine's second
// core. Every answer is checked by the script's response hook: a status
// other than 200, or a body without what is expected, fails the window
// with the first such answer. The benchmarks are skipped when wrk is not
// installed (apt-get install wrk).

// wrkReport is the end of every script: each thread gets its number (id,
// from 1), and wrk prints the requests, the wrong answers (counted by
// each thread's response hook through wrong) and its own errors on one
// line runWrk reads.
const wrkReport = `
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  local e = summary.errors
  io.write(string.format("castellan: requests=%d bad=%d errors=%d\n", summary.requests, n, e.connect + e.read + e.write + e.status + e.timeout))
end
function wrong(status, body)
  if bad == 0 then io.write("castellan: first wrong answer: ", status, " ", body, "\n") end
  bad = bad + 1
end
`

var wrkResult = regexp.MustCompile(`castellan: requests=(\d+) bad=(\d+) errors=(\d+)`)

func wrkBinary(b *testing.B) string {
	b.Helper()
	bin, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (apt-get install wrk); the Go clients' variant measures the same")
	}
	return bin
}

// runWrk runs script for window with threads threads of one connection
// each (or one thread of connections connections) and returns the
// requests answered rightly.
func runWrk(bin, script, url string, threads, connections int, window time.Duration) (int, error) {
	out, err := exec.Command(bin, fmt.Sprintf("-t%d", threads), fmt.Sprintf("-c%d", connections),
		fmt.Sprintf("-d%ds", int(window.Seconds())), "-s", script, url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	m := wrkResult.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk printed no result:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	if string(m[2]) != "0" || string(m[3]) != "0" {
		first, _, _ := strings.Cut(string(out[max(0, bytes.Index(out, []byte("castellan: first"))):]), "\n")
		return 0, fmt.Errorf("wrk: %s wrong answers and %s errors of %d requests (%s)", m[2], m[3], n, first)
	}
	return n, nil
}

func writeScript(b *testing.B, name, lua string) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), name)
	if err := os.WriteFile(path, []byte(lua+wrkReport), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// wrkLoad POSTs form to path with HTTP Basic client authentication from
// one thread and connections keep-alive connections, as fast as the server
// answers; an answer must hold want.
func wrkLoad(b *testing.B, baseURL, path, form, user, pass, want string, connections int) func(time.Duration) (int, error) {
	b.Helper()
	bin := wrkBinary(b)
	script := writeScript(b, "load.lua", fmt.Sprintf(`wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = %s
bad = 0
function response(status, headers, body)
  if status ~= 200 or not string.find(body, %s, 1, true) then wrong(status, body) end
end
`, strconv.Quote(form), strconv.Quote(basicAuth(user, pass)), strconv.Quote(want)))
	return func(window time.Duration) (int, error) {
		return runWrk(bin, script, baseURL+path, 1, connections, window)
	}
}

// wrkRefreshLoad is wrkLoad for refresh grants: a refresh token changes at
// every call, so each of wrk's connections (one per thread) keeps its own
// grant's token and sends the one its last answer gave. Each window starts
// from grants of its own, from grants(): when wrk stops, a request in
// flight may have rotated its token unseen, and sending the old one again
// would (rightly) revoke the grant. Getting the grants is inside the
// window's server CPU: a few authorization code flows, about 1% of a
// window.
func wrkRefreshLoad(b *testing.B, baseURL, user, pass string, grants func() []string) func(time.Duration) (int, error) {
	b.Helper()
	bin := wrkBinary(b)
	return func(window time.Duration) (int, error) {
		tokens := grants()
		quoted := make([]string, len(tokens))
		for i, t := range tokens {
			quoted[i] = strconv.Quote(t)
		}
		script := writeScript(b, "refresh.lua", fmt.Sprintf(`local tokens = {%s}
function init(args)
  token = tokens[id]
  bad = 0
end
local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = %s}
function request()
  return wrk.format("POST", "/oauth/v2/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
end
function response(status, hdrs, body)
  local t = string.match(body, '"refresh_token":"([^"]+)"')
  if status ~= 200 or t == nil then wrong(status, body) else token = t end
end
`, strings.Join(quoted, ", "), strconv.Quote(basicAuth(user, pass))))
		return runWrk(bin, script, baseURL+"/oauth/v2/token", len(tokens), len(tokens), window)
	}
}

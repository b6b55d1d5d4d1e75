package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

// reply is an HTTP answer as a plain client sees it.
type reply struct {
	status int
	header http.Header
	body   string
}

// call sends a request with the bearer token to the server at base.
func call(t testing.TB, base, token, method, path, contentType string, body []byte) (reply, error) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}, err
}

func mustCall(t testing.TB, base, token, method, path, contentType string, body []byte) reply {
	t.Helper()
	r, err := call(t, base, token, method, path, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func adminToken(t testing.TB, env []string) string {
	t.Helper()
	token, stderr, err := castellan(t, env, "tokens", "create", "admin", "1h")
	if err != nil {
		t.Fatalf("tokens create: %v\n%s", err, stderr)
	}
	return strings.TrimSpace(token)
}

// Malformed requests, U+0000 in strings and oversized bodies are refused
// with 4xx naming the field, on REST and Connect, on SQLite and PostgreSQL
// alike (PostgreSQL cannot store NUL in TEXT and answered 500), and nothing
// of them is stored.
func TestBadRequestsAreRefusedOnBothBackends(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		token := adminToken(t, b.env)
		var me struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		}
		if err := json.Unmarshal([]byte(mustCall(t, p.url, token, "GET", "/v1/me", "", nil).body), &me); err != nil || me.User.ID == "" {
			t.Fatalf("me: %v", err)
		}
		const (
			js          = "application/json"
			createOrg   = "/castellan.org.v1.OrganizationService/CreateOrganization"
			createUser  = "/castellan.user.v1.UserService/CreateUser"
			nulMessage  = "must not contain the character U+0000"
			tooLarge    = "larger than the limit"
			restTooBig  = `"code":8`
			connTooBig  = `"code":"resource_exhausted"`
			invalidUTF8 = "\xff\xfe"
		)
		big := []byte(`{"name": "` + strings.Repeat("a", 5<<20) + `"}`)
		for _, tc := range []struct {
			name, method, path, contentType string
			body                            []byte
			status                          int
			want                            []string
		}{
			{"fail/REST bad timestamp", "POST", "/v1/users/" + me.User.ID + "/tokens", js, []byte(`{"expireTime": "yesterday"}`), 400, []string{"expireTime: must be a timestamp", `"field":"expireTime"`}},
			{"fail/REST malformed JSON", "POST", "/v1/users/" + me.User.ID + "/tokens", js, []byte(`{"expireTime": `), 400, []string{"not valid JSON"}},
			{"fail/REST unknown field", "POST", "/v1/organizations", js, []byte(`{"name": "Initech", "nmae": "x"}`), 400, []string{"nmae: unknown field"}},
			{"fail/REST invalid UTF-8 in the path", "GET", "/v1/users/%ff%fe", "", nil, 400, []string{"userId: must be valid UTF-8"}},
			{"fail/REST page size of the wrong type", "GET", "/v1/organizations?pageSize=many", "", nil, 400, []string{"pageSize: must be a whole number"}},
			{"fail/REST NUL in a name", "POST", "/v1/organizations", js, []byte(`{"name": "Ini\u0000tech"}`), 400, []string{"name: " + nulMessage}},
			{"fail/REST NUL in a path parameter", "GET", "/v1/organizations/x%00y", "", nil, 400, []string{"organizationId: " + nulMessage}},
			{"fail/REST NUL in a trait", "POST", "/v1/users", js, []byte(`{"type": "human", "loginName": "nul", "traits": {"profile": {"given_name": "a\u0000"}}}`), 400, []string{"traits/profile/given_name: " + nulMessage}},
			{"fail/Connect NUL in a name", "POST", createOrg, js, []byte(`{"name": "Ini\u0000tech"}`), 400, []string{"name: " + nulMessage}},
			{"fail/Connect NUL in a login name", "POST", createUser, js, []byte(`{"type": "human", "loginName": "nul\u0000"}`), 400, []string{"loginName: " + nulMessage}},
			{"fail/Connect unknown field", "POST", createOrg, js, []byte(`{"name": "Initech", "nmae": "x"}`), 400, []string{"nmae: unknown field"}},
			{"fail/Connect invalid UTF-8", "POST", createOrg, js, []byte(`{"name": "` + invalidUTF8 + `"}`), 400, []string{"name: must be valid UTF-8"}},
			{"fail/REST body over the limit", "POST", "/v1/organizations", js, big, 413, []string{restTooBig, tooLarge}},
			{"fail/Connect body over the limit", "POST", createOrg, js, big, 413, []string{connTooBig, tooLarge}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := mustCall(t, p.url, token, tc.method, tc.path, tc.contentType, tc.body)
				if r.status != tc.status {
					t.Fatalf("%d %.400s", r.status, r.body)
				}
				for _, want := range tc.want {
					if !strings.Contains(r.body, want) {
						t.Fatalf("%d %.400s\nlacks %s", r.status, r.body, want)
					}
				}
			})
		}
		orgs := mustCall(t, p.url, token, "GET", "/v1/organizations", "", nil).body
		if strings.Contains(orgs, "Ini") {
			t.Fatalf("a refused organization was stored: %s", orgs)
		}
		if strings.Contains(p.stderr.String(), "level=ERROR") {
			t.Fatalf("the server logged errors:\n%s", p.stderr)
		}
	})
}

// While PostgreSQL refuses connections (a cut proxy in front of it, as
// during a restart) requests answer 503 with Retry-After and /readyz is
// not ready; when it is back, Castellan serves again without a restart,
// and every organization it acknowledged creating is there.
func TestPostgresOutageAnswers503AndLosesNothingAcknowledged(t *testing.T) {
	src := dbtest.Backends()[1].New(t)
	proxied, proxy := dbtest.ProxyURL(t, src.URL())
	direct := []string{"CASTELLAN_DATA_DIR=" + t.TempDir(), "CASTELLAN_DATABASE=" + src.URL(),
		"CASTELLAN_KEYS_MASTER=e2e:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	env := append(direct[:len(direct):len(direct)], "CASTELLAN_DATABASE="+proxied)
	p := start(t, env)
	token := adminToken(t, direct)

	var (
		mu         sync.Mutex
		acked      []string        // ids of organizations created with 200
		statuses   = map[int]int{} // answers by status
		unexpected []string
	)
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				r, err := call(t, p.url, token, "POST", "/v1/organizations", "application/json", fmt.Appendf(nil, `{"name": "org-%d-%d"}`, w, i))
				mu.Lock()
				switch {
				case err != nil:
					unexpected = append(unexpected, err.Error())
				case r.status == http.StatusOK:
					var created struct {
						OrganizationID string `json:"organizationId"`
					}
					if err := json.Unmarshal([]byte(r.body), &created); err != nil || created.OrganizationID == "" {
						unexpected = append(unexpected, r.body)
					}
					acked = append(acked, created.OrganizationID)
				case r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "" && !strings.Contains(r.body, "internal error"):
				default:
					unexpected = append(unexpected, fmt.Sprintf("%d %v %.300s", r.status, r.header, r.body))
				}
				statuses[r.status]++
				mu.Unlock()
				if r.status == http.StatusServiceUnavailable {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				stopLoad()
				wg.Wait()
				t.Fatalf("%s did not happen within 20s; answers %v", what, statuses)
			}
		}
	}
	count := func(status int) func() int {
		return func() int { mu.Lock(); defer mu.Unlock(); return statuses[status] }
	}
	ok, unavailable := count(http.StatusOK), count(http.StatusServiceUnavailable)
	ready := func() int {
		r, err := call(t, p.url, "", "GET", "/readyz", "", nil)
		if err != nil {
			return 0
		}
		return r.status
	}
	waitFor("writes before the outage", func() bool { return ok() >= 20 })

	proxy.Cut()
	waitFor("503 during the outage", func() bool { return unavailable() >= 20 })
	waitFor("not ready during the outage", func() bool { return ready() == http.StatusServiceUnavailable })
	_, err := orgClient(p.url).CreateOrganization(context.Background(), authed(token, &orgv1.CreateOrganizationRequest{Name: "during the outage"}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("Connect client during the outage: %v", err)
	}
	if r := mustCall(t, p.url, token, "POST", "/castellan.org.v1.OrganizationService/CreateOrganization", "application/json", []byte(`{"name": "x"}`)); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("Connect during the outage: %d %v %s", r.status, r.header, r.body)
	}
	time.Sleep(time.Second) // a longer outage, under load
	okDuringOutage := ok()

	proxy.Restore()
	waitFor("ready after the outage", func() bool { return ready() == http.StatusOK })
	waitFor("writes after the outage", func() bool { return ok() >= okDuringOutage+20 })
	stopLoad()
	wg.Wait()

	if len(unexpected) > 0 {
		t.Fatalf("%d answers were neither 200 nor 503 with Retry-After, e.g. %s; all: %v", len(unexpected), unexpected[0], statuses)
	}
	for _, id := range acked {
		if r := mustCall(t, p.url, token, "GET", "/v1/organizations/"+id, "", nil); r.status != http.StatusOK {
			t.Fatalf("acknowledged organization %s: %d %s", id, r.status, r.body)
		}
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, `msg="database unavailable"`) || strings.Contains(logs, `msg="rpc failed"`) {
		t.Fatalf("the log should name the outage and hold no internal errors:\n%.3000s", logs)
	}
	t.Logf("answers: %v; %d organizations acknowledged and found", statuses, len(acked))
}

// With server.management_listen, /metrics is served there and no longer on
// the main listener; without it, the main listener serves it only to local
// callers that no proxy forwarded.
func TestMetricsOnTheManagementListener(t *testing.T) {
	mport := freePort(t)
	mgmt := fmt.Sprintf("http://127.0.0.1:%d", mport)
	p := start(t, []string{"CASTELLAN_DATA_DIR=" + t.TempDir()}, "--server-management-listen", fmt.Sprintf("127.0.0.1:%d", mport))
	get(t, http.DefaultClient, p.url+"/", "")
	if status, body := get(t, http.DefaultClient, mgmt+"/metrics", ""); status != http.StatusOK ||
		!strings.Contains(body, `castellan_http_requests_total{code="200",method="GET",route="GET /{$}"}`) {
		t.Fatalf("management /metrics: %d %.300s", status, body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _ := get(t, http.DefaultClient, mgmt+path, ""); status != http.StatusOK {
			t.Fatalf("management %s: %d", path, status)
		}
	}
	if status, _ := get(t, http.DefaultClient, mgmt+"/v1/instance", ""); status != http.StatusNotFound {
		t.Fatalf("the management listener serves the API: %d", status)
	}
	if status, _ := get(t, http.DefaultClient, p.url+"/metrics", ""); status != http.StatusNotFound {
		t.Fatalf("main /metrics with a management listener: %d", status)
	}
	if !strings.Contains(p.stderr.String(), fmt.Sprintf("management_listen=127.0.0.1:%d", mport)) {
		t.Fatalf("the start-up log does not name the management listener:\n%s", p.stderr)
	}
	p.stop(t)

	p = start(t, []string{"CASTELLAN_DATA_DIR=" + t.TempDir()})
	r := mustCall(t, p.url, "", "GET", "/metrics", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("main /metrics from loopback: %d", r.status)
	}
	req, _ := http.NewRequest("GET", p.url+"/metrics", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("main /metrics forwarded by a proxy: %d", resp.StatusCode)
	}
}

// The configured read-header timeout reaches the listener: a client that
// trickles its headers is disconnected after it.
func TestSlowHeadersAreCutOffByTheConfiguredTimeout(t *testing.T) {
	p := start(t, []string{"CASTELLAN_DATA_DIR=" + t.TempDir()}, "--server-read-header-timeout", "500ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	began := time.Now()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range 200 {
			if _, err := conn.Write([]byte("X")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(8 * time.Second))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a slowloris connection open for 8s")
	}
	if took := time.Since(began); took < 400*time.Millisecond {
		t.Fatalf("cut off after %s, before the timeout", took)
	}
}

// The configured connection cap reaches the main listener: with its places
// held by clients still sending their headers, a new client waits until
// one is cut off by the read-header timeout, and is then served; the
// management listener answers meanwhile.
func TestConnectionCapHoldsNewClientsUntilAPlaceFrees(t *testing.T) {
	mport := freePort(t)
	p := start(t, []string{"CASTELLAN_DATA_DIR=" + t.TempDir(), "CASTELLAN_SERVER_MAX_CONNECTIONS=3"},
		"--server-read-header-timeout", "2s", "--server-management-listen", fmt.Sprintf("127.0.0.1:%d", mport))
	addr := strings.TrimPrefix(p.url, "http://")
	for range 3 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	answered := make(chan int, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(p.url + "/healthz")
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case status := <-answered:
		t.Fatalf("a fourth client was answered (%d) while three held the cap of 3", status)
	case <-time.After(time.Second):
	}
	if status, _ := get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/healthz", mport), ""); status != http.StatusOK {
		t.Fatalf("the management listener during the flood: %d", status)
	}
	select {
	case status := <-answered:
		if status != http.StatusOK {
			t.Fatalf("the waiting client got %d", status)
		}
		if took := time.Since(began); took < 1500*time.Millisecond {
			t.Fatalf("served after %s, before a place was freed", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting client was not served after the held connections were cut off")
	}
}

// orgClient is the generated client, for protocols other than REST.
func orgClient(base string, opts ...connect.ClientOption) orgv1connect.OrganizationServiceClient {
	return orgv1connect.NewOrganizationServiceClient(http.DefaultClient, base, opts...)
}

// gRPC-Web and Connect clients see invalid_argument for NUL too.
func TestNULIsInvalidArgumentForGeneratedClients(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		token := adminToken(t, b.env)
		for _, opt := range []connect.ClientOption{connect.WithProtoJSON(), connect.WithGRPCWeb()} {
			_, err := orgClient(p.url, opt).CreateOrganization(context.Background(), authed(token, &orgv1.CreateOrganizationRequest{Name: "a\x00b"}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "name: must not contain") {
				t.Fatalf("%v", err)
			}
		}
	})
}

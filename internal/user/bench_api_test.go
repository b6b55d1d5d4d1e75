package user_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// benchAPI is the binary's whole server (app.App.Server: instance
// resolution, middleware, authentication, every service) over a dataset,
// serving its instance at localhost, and a client holding a personal
// access token of an instance owner. The server runs in a process of its
// own, as a server does (TestBenchServer: its own heap and collector, at
// the binary's setting), so that the client's work — decoding the pages —
// is not the server's garbage. Requests are Connect with binary
// protobuf, as the Go SDK and the CLI send them, over HTTP/1.1 on
// loopback; the server's side of JSON (the console's) costs about 0.5 ms
// more for a page of 50 (protojson), and the browser parses it.
type benchAPI struct {
	client userv1connect.UserServiceClient
	token  string
}

const benchAdminOrg = "bench-admins"

// api returns the dataset's server, starting it on first use: the
// instance, an administrators' organization and an administrator are
// added to the dataset the first time.
func (d *dataset) api(b *testing.B) *benchAPI {
	if d.server != nil {
		return d.server
	}
	ctx := context.Background()
	users, store, _ := benchStoreAndRing(b, d.db)
	if _, err := instance.ByID(ctx, d.db, benchInstance); failure.Is(err, failure.KindNotFound) {
		inst, err := instance.Create(benchInstance, "Bench", "localhost")
		if err != nil {
			b.Fatal(err)
		}
		o, err := org.Creation(benchInstance, benchAdminOrg, "Administrators")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Push(ctx, eventstore.SystemEditor, inst, o); err != nil {
			b.Fatal(err)
		}
	} else if err != nil {
		b.Fatal(err)
	}
	var adminID string
	found, err := user.Find(ctx, d.db, benchInstance, user.Search{LoginName: "bench-admin"}, userschema.Admin)
	switch {
	case err != nil:
		b.Fatal(err)
	case len(found.Users) == 1:
		adminID = found.Users[0].ID
	default:
		if adminID, err = users.Create(ctx, benchEditor, benchInstance, user.New{OrgID: benchAdminOrg, Type: "human", LoginName: "bench-admin", Password: "bench-admin-password-1"}); err != nil {
			b.Fatal(err)
		}
		if _, err := store.Push(ctx, eventstore.SystemEditor, instance.AddMember(benchInstance, adminID, authz.InstanceOwner)); err != nil {
			b.Fatal(err)
		}
	}
	_, token, err := pat.NewCommands(store, nil).Add(ctx, eventstore.SystemEditor,
		eventstore.Aggregate{InstanceID: benchInstance, Type: user.AggregateType, ID: adminID, Owner: benchAdminOrg}, time.Now().Add(24*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	port, stop := startBenchServer(b, d.dsn)
	d.closeServer = stop
	d.server = &benchAPI{token: token, client: userv1connect.NewUserServiceClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
		"http://localhost:"+port)}
	return d.server
}

// benchServeEnv names the dataset TestBenchServer serves (openDSN).
const benchServeEnv = "CASTELLAN_BENCH_SERVE"

// startBenchServer runs TestBenchServer over the dataset dsn in a child
// process of the test binary, and returns its port and what stops it.
func startBenchServer(b *testing.B, dsn string) (port string, stop func()) {
	args := []string{"-test.run=^TestBenchServer$", "-test.count=1"}
	if f := os.Getenv("CASTELLAN_BENCH_SERVER_CPUPROFILE"); f != "" {
		args = append(args, "-test.cpuprofile="+f)
	}
	if f := os.Getenv("CASTELLAN_BENCH_SERVER_MEMPROFILE"); f != "" {
		args = append(args, "-test.memprofile="+f, "-test.memprofilerate=4096")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), benchServeEnv+"="+dsn)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() {
		stdin.Close()
		_ = cmd.Wait()
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if p, ok := strings.CutPrefix(lines.Text(), "bench server listening on "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return p, stop
		}
	}
	stop()
	b.Fatalf("bench server: ended before listening (%v)", lines.Err())
	return "", nil
}

// TestBenchServer is the server of BenchmarkSearch's API queries, run by
// startBenchServer: the binary's whole server over the dataset named by
// CASTELLAN_BENCH_SERVE, with the binary's collector setting, until its
// standard input closes.
func TestBenchServer(t *testing.T) {
	dsn := os.Getenv(benchServeEnv)
	if dsn == "" {
		t.Skip("the server of BenchmarkSearch's API queries, started by it")
	}
	app.TuneGC()
	ctx := context.Background()
	db, err := openDSN(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, store, ring := benchStoreAndRing(t, db)
	cfg, err := config.Load([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:1", "--external-url", "http://localhost"},
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a := &app.App{Config: cfg, Log: slog.New(slog.DiscardHandler), DB: db, Store: store, Keys: ring,
		Hasher: password.NewHasher(password.OWASP, 2)}
	srv, err := a.Server("bench", false)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go func() { _ = hs.Serve(ln) }()
	fmt.Printf("bench server listening on %d\n", ln.Addr().(*net.TCPAddr).Port)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = hs.Close()
}

var apiStates = map[user.State]userv1.UserState{
	user.StateInitial: userv1.UserState_USER_STATE_INITIAL, user.StateActive: userv1.UserState_USER_STATE_ACTIVE,
	user.StateInactive: userv1.UserState_USER_STATE_INACTIVE, user.StateLocked: userv1.UserState_USER_STATE_LOCKED,
}

// search runs s through the API as the administrator; s.Cursor must be a
// page token of the API.
func (a *benchAPI) search(ctx context.Context, s user.Search) (*userv1.SearchUsersResponse, error) {
	m := &userv1.SearchUsersRequest{OrganizationId: s.OrgID, Type: s.Type, State: apiStates[s.State], LoginName: s.LoginName,
		LoginNamePrefix: s.LoginNamePrefix, Email: s.Email, Descending: s.Descending, PageSize: int32(s.Limit), PageToken: s.Cursor}
	if s.SortBy == "createdAt" {
		m.OrderBy = "create_time"
	}
	for _, t := range s.Traits {
		m.Traits = append(m.Traits, &userv1.TraitFilter{Pointer: t.Pointer, Value: t.Value, Prefix: t.Prefix})
	}
	req := connect.NewRequest(m)
	req.Header().Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.SearchUsers(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
)

// BenchmarkAuditSearch measures the audit API (GET /v1/events, first page
// of 100) over a large event log, through a running server on loopback,
// each filter alternating with GET /v1/me (the API's own floor: the same
// authentication and transcoding, one primary-key read).
//
// The log is CASTELLAN_BENCH_AUDIT_EVENTS events (default 100,000) in
// CASTELLAN_BENCH_AUDIT_DIR (kept between runs; a temporary directory
// by default) or, with CASTELLAN_BENCH_AUDIT_DATABASE, in that PostgreSQL
// database. They are copies of the events of a first start, spread over
// 1,000 organizations, 10 events per object, 10,000 editors, 100,000
// sessions of 100 changes, 65,536 client addresses (10.0.0.0/16) and the 396
// days of the default retention, written straight into the table (and
// left unchained: the chainer is told they are linked).
//
//	CASTELLAN_BENCH_AUDIT_EVENTS=10000000 CASTELLAN_BENCH_AUDIT_DIR=/work/bench-audit \
//	  go test ./e2e -run '^$' -bench AuditSearch -benchtime 1x -timeout 60m
func BenchmarkAuditSearch(b *testing.B) {
	events := 100000
	if v := os.Getenv("CASTELLAN_BENCH_AUDIT_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10000 {
			b.Fatalf("CASTELLAN_BENCH_AUDIT_EVENTS=%q: want a number ≥ 10000", v)
		}
		events = n
	}
	dir := os.Getenv("CASTELLAN_BENCH_AUDIT_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	env := []string{"CASTELLAN_DATA_DIR=" + dir}
	if u := os.Getenv("CASTELLAN_BENCH_AUDIT_DATABASE"); u != "" {
		env = append(env, "CASTELLAN_DATABASE="+u, "CASTELLAN_KEYS_MASTER=bench:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	}
	s := startAuditServer(b, env)
	have := s.eventCount(b)
	if have < events {
		s.stop(b)
		fillEvents(b, env, events)
		s = startAuditServer(b, env)
		have = s.eventCount(b)
	}
	b.Logf("%d events", have)

	// Pick existing values to ask for, from the generated spread.
	org, agg, editor := "org-000417", "bench-0000004242", "editor-04711"
	mid := time.Now().Add(-200 * 24 * time.Hour).UTC().Truncate(24 * time.Hour)
	day := func(q url.Values) url.Values {
		q.Set("from", mid.Format(time.RFC3339))
		q.Set("until", mid.Add(24*time.Hour).Format(time.RFC3339))
		return q
	}
	search := func(name string, q url.Values) *loadOp {
		path := "/v1/events?" + q.Encode()
		return &loadOp{name: name, units: "req", workers: 1, do: func(int, int) (int, error) {
			var page struct {
				Events []struct {
					Position string `json:"position"`
				} `json:"events"`
			}
			if err := s.api(http.MethodGet, path, nil, &page); err != nil {
				return 0, err
			}
			return 1, nil
		}}
	}
	floor := &loadOp{name: "me", units: "req", workers: 1, do: func(int, int) (int, error) {
		return 1, s.api(http.MethodGet, "/v1/me", nil, nil)
	}}
	ops := []*loadOp{
		search("all", url.Values{}),
		search("org", url.Values{"organizationId": {org}}),
		search("object", url.Values{"aggregateType": {"user"}, "aggregateId": {agg}}),
		search("type", url.Values{"eventTypes": {"user.password.set"}}),
		search("prefix", url.Values{"eventTypePrefixes": {"org."}}),
		search("editor", url.Values{"editorUserId": {editor}}),
		search("session", url.Values{"editorSessionId": {"session-004242"}}),
		search("address", url.Values{"editorNetwork": {"10.0.16.146"}}),
		search("network", url.Values{"editorNetwork": {"10.0.16.0/24"}}),
		search("day", day(url.Values{})),
		search("org-type-day", day(url.Values{"organizationId": {org}, "eventTypePrefixes": {"user."}})),
		floor,
	}
	for _, op := range ops[:len(ops)-1] {
		op.ref = floor
	}
	alternate(b, s.signInServer, ops...)
}

type auditServer struct{ *signInServer }

// startAuditServer starts Castellan on env's data and a token for its
// administrator.
func startAuditServer(b *testing.B, env []string) auditServer {
	b.Helper()
	p := launchBench(b, append(append(benchEnv(), "GOMAXPROCS="+benchProcs()), env...))
	p.waitReady(b)
	token, stderr, err := castellan(b, env, "tokens", "create", "admin", "1h")
	if err != nil {
		b.Fatalf("tokens create: %v\n%s", err, stderr)
	}
	return auditServer{&signInServer{proc: p, token: strings.TrimSpace(token), client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}}
}

func (s auditServer) eventCount(b *testing.B) int {
	// The count comes from the database; the API only proves the server runs.
	s.mustAPI(b, http.MethodGet, "/v1/events?limit=1", nil, nil)
	db := openEnvDB(b, s.env())
	defer db.Close()
	var n int
	if err := db.Reader().QueryRow(`SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

func (s auditServer) env() []string { return s.cmd.Env }

// fillEvents adds copies of the first start's events until the log holds
// n, in one statement per million.
func fillEvents(b *testing.B, env []string, n int) {
	b.Helper()
	db := openEnvDB(b, env)
	defer db.Close()
	ctx := context.Background()
	var have, templates int
	var maxTx int64
	r := db.Reader()
	if err := r.QueryRow(`SELECT COUNT(*), MAX(tx_id) FROM events`).Scan(&have, &maxTx); err != nil {
		b.Fatal(err)
	}
	exec := func(q string, args ...any) {
		b.Helper()
		if err := db.InTx(ctx, func(tx *database.Tx) error {
			_, err := tx.ExecContext(ctx, q, args...)
			return err
		}); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	exec(`DROP TABLE IF EXISTS bench_templates`)
	exec(`CREATE TABLE bench_templates AS SELECT * FROM events WHERE position <= 200`)
	exec(`ALTER TABLE bench_templates ADD COLUMN k INTEGER`)
	exec(`UPDATE bench_templates SET k = (SELECT COUNT(*) FROM bench_templates t2 WHERE t2.position < bench_templates.position)`)
	if err := r.QueryRow(`SELECT COUNT(*) FROM bench_templates`).Scan(&templates); err != nil {
		b.Fatal(err)
	}
	step := int64(396*24*time.Hour/time.Microsecond) / int64(n)
	start := time.Now().Add(-396 * 24 * time.Hour).UnixMicro()
	began := time.Now()
	for have < n {
		chunk := min(1000000, n-have)
		from := have
		// i numbers the new events; each object gets 10 consecutive ones.
		// On PostgreSQL a transaction id is settled only below the
		// oldest running transaction's, so the copies share one id that
		// is already settled (as a bulk load in one transaction would):
		// ids counted past the server's would hide them from every
		// settled page.
		var q string
		if db.Dialect == database.Postgres {
			q = `INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, owner, event_type, payload_version, payload,
	editor_user, editor_client, created_at, personal, tx_id, editor_session, editor_address)
SELECT t.instance_id, t.aggregate_type, 'bench-' || lpad((i / 10)::text, 10, '0'), 1000 + i % 10,
	'org-' || lpad(((i / 10) % 1000)::text, 6, '0'), t.event_type, t.payload_version, t.payload,
	'editor-' || lpad((i % 10000)::text, 5, '0'), 'api', $1::bigint + i * $2::bigint, NULL, $3::bigint + 0 * i,
	'session-' || lpad(((i / 100) % 100000)::text, 6, '0'), '00000000000000000000ffff0a' || lpad(to_hex((i / 7) % 65536), 6, '0')
FROM generate_series($4::bigint, $5::bigint) AS i JOIN bench_templates t ON t.k = i % $6`
		} else {
			q = `WITH RECURSIVE s(i) AS (SELECT $4 UNION ALL SELECT i + 1 FROM s WHERE i < $5)
INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, owner, event_type, payload_version, payload,
	editor_user, editor_client, created_at, personal, tx_id, editor_session, editor_address)
SELECT t.instance_id, t.aggregate_type, printf('bench-%010d', i / 10), 1000 + i % 10,
	printf('org-%06d', (i / 10) % 1000), t.event_type, t.payload_version, t.payload,
	printf('editor-%05d', i % 10000), 'api', $1 + i * $2, NULL, $3 + i,
	printf('session-%06d', (i / 100) % 100000), printf('00000000000000000000ffff0a%06x', (i / 7) % 65536)
FROM s JOIN bench_templates t ON t.k = i % $6`
		}
		err := db.InTx(ctx, func(tx *database.Tx) error {
			_, err := tx.ExecContext(ctx, q, start, step, maxTx+1, from, from+chunk-1, templates)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		have += chunk
		b.Logf("%d events (%s)", have, time.Since(began).Round(time.Second))
	}
	// The copies are not linked; the chainer starts after them.
	exec(`UPDATE subscription_checkpoints SET tx_id = (SELECT MAX(tx_id) FROM events),
	position = (SELECT MAX(position) FROM events) WHERE name = 'eventstore/chain'`)
	if err := db.Optimize(ctx); err != nil {
		b.Fatal(err)
	}
}

package e2e

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

// benchProjects is the number of projects the authorizations of
// BenchmarkAuthZEN are spread over; each user holds one authorization in
// each.
const benchProjects = 100

// benchAuthorizations is how many authorizations BenchmarkAuthZEN loads:
// CASTELLAN_BENCH_AUTHORIZATIONS (a multiple of benchProjects), default
// 100,000.
func benchAuthorizations(b *testing.B) int {
	v := os.Getenv("CASTELLAN_BENCH_AUTHORIZATIONS")
	if v == "" {
		return 100_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < benchProjects || n%benchProjects != 0 {
		b.Fatalf("CASTELLAN_BENCH_AUTHORIZATIONS=%q: a multiple of %d", v, benchProjects)
	}
	return n
}

// accessData is what BenchmarkAuthZEN asks about; it is written as
// manifest.json into the data directory once the load is complete, so
// that a kept directory (CASTELLAN_BENCH_KEEP) is reused.
type accessData struct {
	Admin    string   `json:"admin"`
	Projects []string `json:"projects"`
	Users    []string `json:"users"`
}

// heldRole is the one role user u holds in project p: one of r0…r9 for
// the owner's users, one of r0…r4 (the roles granted) for the customer's
// — every fourth user.
func heldRole(u, p int) string {
	if u%4 == 3 {
		return fmt.Sprintf("r%d", (u+p)%5)
	}
	return fmt.Sprintf("r%d", (u+p)%10)
}

// accessBackend is a server's data: environment, data directory, and
// the database URL the test loads through.
type accessBackend struct {
	env   []string
	dir   string
	dbURL string
}

// newAccessBackend returns an empty or kept place for a dataset of size
// authorizations: with CASTELLAN_BENCH_KEEP set to a directory, the data
// directory is kept there (access-<backend>-<size>) and, on PostgreSQL,
// the schema bench_access_<size>; otherwise both are removed at the end
// of owner, the benchmark whose sub-benchmarks (b) share them: Go runs a
// sub-benchmark once with b.N = 1 before the run measured. A kept place
// without manifest.json holds an unfinished load: it is emptied.
func newAccessBackend(owner, b *testing.B, name string, size int) accessBackend {
	keep := os.Getenv("CASTELLAN_BENCH_KEEP")
	dir, unfinished := owner.TempDir(), false
	if keep != "" {
		dir = filepath.Join(keep, fmt.Sprintf("access-%s-%d", name, size))
		if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
			unfinished = true
			if err := os.RemoveAll(dir); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
	}
	if name == "sqlite" {
		return accessBackend{env: []string{"CASTELLAN_DATA_DIR=" + dir}, dir: dir, dbURL: filepath.Join(dir, "castellan.db")}
	}
	base := dbtest.PostgresURL(b)
	schema := fmt.Sprintf("bench_access_%d", size)
	if keep == "" {
		var r [6]byte
		_, _ = crand.Read(r[:])
		schema = "bench_access_" + hex.EncodeToString(r[:])
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if unfinished {
		if _, err := admin.Exec(`DROP SCHEMA IF EXISTS ` + schema + ` CASCADE`); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := admin.Exec(`CREATE SCHEMA IF NOT EXISTS ` + schema); err != nil {
		b.Fatal(err)
	}
	if keep == "" {
		owner.Cleanup(func() {
			if admin, err := sql.Open("pgx", base); err == nil {
				_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
				admin.Close()
			}
		})
	}
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return accessBackend{dir: dir, dbURL: u.String(), env: []string{"CASTELLAN_DATA_DIR=" + dir, "CASTELLAN_DATABASE=" + u.String(),
		"CASTELLAN_KEYS_MASTER=e2e:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}
}

func (ab accessBackend) open(b *testing.B) *database.DB {
	var db *database.DB
	var err error
	if strings.HasPrefix(ab.dbURL, "postgres") {
		db, err = database.OpenPostgres(context.Background(), ab.dbURL)
	} else {
		db, err = database.OpenSQLite(ab.dbURL)
	}
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// prepareAuthZEN fills a fresh backend with size authorizations. Through
// the API of a first server: an organization "Customer", benchProjects
// projects of the administrator's organization with the roles r0…r9,
// each granted to Customer with r0…r4, and size/benchProjects users
// imported with a verified email (active, without password), every
// fourth in Customer. Then, with the server stopped, the authorizations —
// one per user and project, holding heldRole — are written straight into
// the read models authorizations and authorization_roles (their events
// are not written), and the tables analyzed as after an import.
func prepareAuthZEN(b *testing.B, ab accessBackend, size int) accessData {
	began := time.Now()
	s := startSignInServer(b, ab.env...)
	data := accessData{Admin: s.login, Projects: make([]string, benchProjects), Users: make([]string, size/benchProjects)}
	owner := s.myOrganization(b)
	var customer struct {
		OrganizationID string `json:"organizationId"`
	}
	s.mustAPI(b, http.MethodPost, "/v1/organizations", map[string]any{"name": "Customer"}, &customer)
	grants := make([]string, benchProjects)
	parallel(b, benchProjects, func(p int) error {
		var project struct {
			Project struct{ ID string } `json:"project"`
		}
		if err := s.api(http.MethodPost, "/v1/projects", map[string]any{"organizationId": owner, "name": fmt.Sprintf("bench-%03d", p)}, &project); err != nil {
			return err
		}
		for r := range 10 {
			if err := s.api(http.MethodPost, "/v1/projects/"+project.Project.ID+"/roles", map[string]any{"key": fmt.Sprintf("r%d", r)}, nil); err != nil {
				return err
			}
		}
		var grant struct {
			Grant struct{ ID string } `json:"grant"`
		}
		data.Projects[p] = project.Project.ID
		err := s.api(http.MethodPost, "/v1/projects/"+project.Project.ID+"/grants",
			map[string]any{"grantedOrganizationId": customer.OrganizationID, "roles": []string{"r0", "r1", "r2", "r3", "r4"}}, &grant)
		grants[p] = grant.Grant.ID
		return err
	})
	orgOf := func(u int) string {
		if u%4 == 3 {
			return customer.OrganizationID
		}
		return owner
	}
	const chunk = 1000
	parallel(b, (len(data.Users)+chunk-1)/chunk, func(c int) error {
		var users []map[string]any
		for u := c * chunk; u < min((c+1)*chunk, len(data.Users)); u++ {
			users = append(users, map[string]any{"organizationId": orgOf(u), "type": "human", "loginName": fmt.Sprintf("az%07d", u),
				"email": fmt.Sprintf("az%07d@example.com", u), "emailVerified": true})
		}
		var out struct {
			Imported int      `json:"imported"`
			UserIDs  []string `json:"userIds"`
		}
		if err := s.api(http.MethodPost, "/v1/users:import", map[string]any{"users": users}, &out); err != nil {
			return err
		}
		if out.Imported != len(users) {
			return fmt.Errorf("imported %d of %d users: %+v", out.Imported, len(users), out)
		}
		copy(data.Users[c*chunk:], out.UserIDs)
		return nil
	})
	fmt.Fprintf(os.Stderr, "authzen dataset: %d projects, %d users through the API in %s\n", benchProjects, len(data.Users), time.Since(began).Round(time.Second))
	s.stop(b)

	ctx := context.Background()
	db := ab.open(b)
	defer db.Close()
	var instanceID string
	if err := db.Reader().QueryRowContext(ctx, `SELECT instance_id FROM projects WHERE project_id = $1`, data.Projects[0]).Scan(&instanceID); err != nil {
		b.Fatal(err)
	}
	now := time.Now().Unix()
	const rowsPerInsert = 400
	for start := 0; start < size; start += 20 * rowsPerInsert {
		err := db.InTx(ctx, func(tx *database.Tx) error {
			for from := start; from < min(start+20*rowsPerInsert, size); from += rowsPerInsert {
				var auths, roles strings.Builder
				var authArgs, roleArgs []any
				for i := from; i < min(from+rowsPerInsert, size); i++ {
					u, p := i/benchProjects, i%benchProjects
					id, role, grant, org := fmt.Sprintf("bench-%07d-%03d", u, p), heldRole(u, p), "", owner
					if u%4 == 3 {
						grant, org = grants[p], customer.OrganizationID
					}
					if i > from {
						auths.WriteString(", ")
						roles.WriteString(", ")
					}
					n := len(authArgs)
					fmt.Fprintf(&auths, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, 1, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+8)
					authArgs = append(authArgs, instanceID, id, data.Users[u], data.Projects[p], grant, org, `["`+role+`"]`, now)
					n = len(roleArgs)
					fmt.Fprintf(&roles, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
					roleArgs = append(roleArgs, instanceID, data.Projects[p], role, data.Users[u], grant, id, org)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO authorizations (instance_id, authorization_id, user_id, project_id, grant_id, org_id, roles,
	sequence, created_at, changed_at) VALUES `+auths.String(), authArgs...); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO authorization_roles (instance_id, project_id, role_key, user_id, grant_id, authorization_id, org_id)
VALUES `+roles.String(), roleArgs...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if done := min(start+20*rowsPerInsert, size); done%100_000 == 0 || done == size {
			fmt.Fprintf(os.Stderr, "authzen dataset: %d/%d authorizations, %s\n", done, size, time.Since(began).Round(time.Second))
		}
	}
	if err := db.AfterBulkLoad(ctx, "authorizations", "authorization_roles"); err != nil {
		b.Fatal(err)
	}
	raw, _ := json.Marshal(data)
	if err := os.WriteFile(filepath.Join(ab.dir, "manifest.json"), raw, 0o600); err != nil {
		b.Fatal(err)
	}
	return data
}

// restartServer starts Castellan on prepared data and gives it a token of
// its administrator.
func restartServer(b *testing.B, env []string, admin string) *signInServer {
	port := freePort(b)
	p := &proc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, url: fmt.Sprintf("http://localhost:%d", port), done: make(chan error, 1),
		client: http.DefaultClient}
	p.cmd = exec.Command(binary, "start", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn")
	p.cmd.Env = append(append(benchEnv(), "GOMAXPROCS="+benchProcs()), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	b.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	p.waitReady(b)
	token, stderr, err := castellan(b, env, "tokens", "create", admin, "2h")
	if err != nil {
		b.Fatalf("tokens create: %v\n%s", err, stderr)
	}
	s := &signInServer{proc: p, login: admin, token: strings.TrimSpace(token),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}}
	b.Cleanup(s.client.CloseIdleConnections)
	return s
}

// BenchmarkAuthZEN measures AuthZEN decisions through the server among
// benchAuthorizations authorizations (prepareAuthZEN), as the instance
// owner (who holds authorization.read everywhere): single evaluations
// (POST /access/v1/evaluation) and batches of 10 (/access/v1/evaluations),
// each about a user and project drawn at random, three in four asking the
// role the user holds (permit) and one in four another (deny); every
// answer is checked. The reference is GET /v1/me with the same token —
// an authenticated request that reads the caller's user; two more show
// what the decision itself costs: an evaluation refused after the caller
// is authenticated (a subject of type "group": 400 before any read), and
// GET /.well-known/authzen-configuration, the bare HTTP round trip.
// Single evaluations and /v1/me also run from one client at a time
// (evaluation-1, me-1): their latency without queueing.
func BenchmarkAuthZEN(b *testing.B) {
	size := benchAuthorizations(b)
	owner := b
	for _, name := range []string{"sqlite", "postgres"} {
		var ab accessBackend
		var data accessData
		b.Run(fmt.Sprintf("%s/authorizations=%d", name, size), func(b *testing.B) {
			if data.Admin == "" {
				ab = newAccessBackend(owner, b, name, size)
				if raw, err := os.ReadFile(filepath.Join(ab.dir, "manifest.json")); err == nil && os.Getenv("CASTELLAN_BENCH_KEEP") != "" {
					if err := json.Unmarshal(raw, &data); err != nil {
						b.Fatal(err)
					}
					fmt.Fprintf(os.Stderr, "authzen dataset %s: reused\n", ab.dir)
				} else {
					data = prepareAuthZEN(b, ab, size)
				}
			}
			s := restartServer(b, ab.env, data.Admin)
			users := len(data.Users)
			question := func(rng *rand.Rand) (map[string]any, bool) {
				u, p := rng.IntN(users), rng.IntN(benchProjects)
				role, permit := heldRole(u, p), rng.IntN(4) != 0
				if !permit {
					role = fmt.Sprintf("r%d", (int(role[1]-'0')+1+rng.IntN(4))%10)
				}
				return map[string]any{"subject": map[string]any{"type": "user", "id": data.Users[u]}, "action": map[string]any{"name": role},
					"resource": map[string]any{"type": "project", "id": data.Projects[p]}}, permit
			}
			rngs := make([]*rand.Rand, accessWorkers)
			for w := range rngs {
				rngs[w] = rand.New(rand.NewPCG(uint64(w), 11))
			}
			single := &loadOp{name: "evaluation", units: "evaluations", do: func(w, _ int) (int, error) {
				q, want := question(rngs[w])
				body, _ := json.Marshal(q)
				var out struct {
					Decision bool `json:"decision"`
				}
				if err := s.send(http.MethodPost, "/access/v1/evaluation", body, &out); err != nil {
					return 0, err
				}
				if out.Decision != want {
					return 0, fmt.Errorf("decision %v on %s, want %v", out.Decision, body, want)
				}
				return 1, nil
			}}
			batch := &loadOp{name: "batch10", units: "evaluations", do: func(w, _ int) (int, error) {
				var items []map[string]any
				var want []bool
				for range 10 {
					q, permit := question(rngs[w])
					items, want = append(items, q), append(want, permit)
				}
				body, _ := json.Marshal(map[string]any{"evaluations": items})
				var out struct {
					Evaluations []struct {
						Decision bool `json:"decision"`
					} `json:"evaluations"`
				}
				if err := s.send(http.MethodPost, "/access/v1/evaluations", body, &out); err != nil {
					return 0, err
				}
				for i, d := range out.Evaluations {
					if d.Decision != want[i] {
						return 0, fmt.Errorf("decision %d of %s: %v, want %v", i, body, d.Decision, want[i])
					}
				}
				if len(out.Evaluations) != 10 {
					return 0, fmt.Errorf("%d decisions", len(out.Evaluations))
				}
				return 10, nil
			}}
			metadata := &loadOp{name: "metadata", units: "requests", do: func(int, int) (int, error) {
				var out map[string]any
				return 1, s.send(http.MethodGet, "/.well-known/authzen-configuration", nil, &out)
			}}
			refused := &loadOp{name: "refused", units: "requests", do: func(w, _ int) (int, error) {
				q, _ := question(rngs[w])
				q["subject"] = map[string]any{"type": "group", "id": "g"}
				body, _ := json.Marshal(q)
				var out struct {
					Error string `json:"error"`
				}
				if err := s.send(http.MethodPost, "/access/v1/evaluation", body, &out); err == nil || !strings.Contains(err.Error(), "subject.type") {
					return 0, fmt.Errorf("a group subject: %v", err)
				}
				return 1, nil
			}}
			me := &loadOp{name: "me", units: "requests", do: func(int, int) (int, error) {
				var out map[string]any
				return 1, s.send(http.MethodGet, "/v1/me", nil, &out)
			}}
			for w := range 50 { // warm up: connections, statements, caches
				for _, op := range []*loadOp{single, batch, refused, metadata, me} {
					if _, err := op.do(w%accessWorkers, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			// One client at a time: the latency of a decision without
			// queueing behind the others.
			meSerial := &loadOp{name: "me-1", units: "requests", do: me.do, workers: 1}
			meSerial.ref = meSerial
			singleSerial := &loadOp{name: "evaluation-1", units: "evaluations", do: single.do, workers: 1, ref: meSerial}
			alternate(b, s, single, batch, refused, metadata, singleSerial, meSerial, me)
			b.ReportMetric(float64(size), "authorizations")
		})
	}
}

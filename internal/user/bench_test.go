package user_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/pairbench"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/pii"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// Benchmarks of user creation, import and search on each backend, with the
// binary's full schema, projections and personal-data sealing
// (docs/benchmarks.md, section Users). Creation and import batches
// alternate with bare INSERTs of users rows in one loop, so that they are
// read as a ratio against a reference measured in the same moment. Search
// runs on directories of the sizes listed in CASTELLAN_BENCH_USERS
// (default 10000), generated once per test binary through Commands.Import
// and removed at its end.

const benchInstance = "bench"

var benchEditor = eventstore.Editor{UserID: "bench-admin"}

// benchOrgs is the number of organizations the synthetic people belong to.
const benchOrgs = 100

func benchOrg(i int) string { return fmt.Sprintf("org-%03d", i%benchOrgs) }

// benchStore is a store over db with the binary's registry and
// projections, sealing personal data, the default user types and
// benchOrgs organizations.
func benchStore(tb testing.TB, db *database.DB) *user.Commands {
	tb.Helper()
	users, _, _ := benchStoreAndRing(tb, db)
	return users
}

// benchStoreAndRing is benchStore with its event store and key ring.
func benchStoreAndRing(tb testing.TB, db *database.DB) (*user.Commands, *eventstore.Store, *keyring.Ring) {
	tb.Helper()
	// One fixed key: a directory kept by CASTELLAN_BENCH_KEEP is read
	// again by later runs, and updating its users opens their sealed
	// personal data.
	key := keyring.Key{ID: "kbench001", Secret: bytes.Repeat([]byte{0x42}, keyring.SecretSize)}
	ring, err := keyring.New(key)
	if err != nil {
		tb.Fatal(err)
	}
	store, err := eventstore.New(db, app.Registry(), app.Projections(), eventstore.Options{Sealer: pii.New(ring)})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := usertype.ByName(context.Background(), db, benchInstance, "human"); err != nil {
		appends, err := usertype.DefaultCreations(benchInstance)
		if err != nil {
			tb.Fatal(err)
		}
		for i := range benchOrgs {
			o, err := org.Creation(benchInstance, benchOrg(i), fmt.Sprintf("Organization %d", i))
			if err != nil {
				tb.Fatal(err)
			}
			appends = append(appends, o)
		}
		if _, err := store.Push(context.Background(), eventstore.SystemEditor, appends...); err != nil {
			tb.Fatal(err)
		}
	}
	return user.NewCommands(store, password.NewHasher(password.OWASP, runtime.NumCPU())), store, ring
}

// forEachBackend runs fn per backend on a fresh, migrated database;
// PostgreSQL skips as in dbtest when it is not configured.
func forEachBackend(b *testing.B, fn func(b *testing.B, db *database.DB)) {
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) { fn(b, backend.New(b).Open(b, app.Migrations())) })
	}
}

// Synthetic people: 50 given names, 1,024 family names, 100 organizations.
var (
	syllables   = strings.Fields("ka lo mi ne su ta ri po an el is or um ba de fi go hu ja ke li mo nu pa qui ra se ti vo wu xa ze")
	givenNames  = strings.Fields("anna ben clara david emma felix greta hugo ida jonas karla leon mia noah olga paul quinn rosa sven tina ugo vera walt xenia yann zoe adam beth carl dora emil fay gus hanna igor jana kurt lena max nina otto pia rolf sara tom uma vito wanda yuri")
	familyNames = func() []string {
		var out []string
		for _, a := range syllables {
			for _, c := range syllables {
				out = append(out, strings.ToUpper(a[:1])+a[1:]+c+"mann")
			}
		}
		return out[:1024]
	}()
)

func mix(i int) int { return int((uint64(i)*0x9E3779B97F4A7C15)>>33) & math.MaxInt32 }

func person(i int) user.New {
	given, family := givenNames[mix(i)%len(givenNames)], familyNames[mix(i+7919)%len(familyNames)]
	login := fmt.Sprintf("%s.%s.%d", given, strings.ToLower(family), i)
	traits, _ := json.Marshal(map[string]any{"profile": map[string]string{"given_name": strings.ToUpper(given[:1]) + given[1:], "family_name": family}})
	return user.New{OrgID: benchOrg(i), Type: "human", LoginName: login, Email: login + "@example.com", Traits: traits}
}

// reportLatency reports the rate of operations and the median and 99th
// percentile of their durations in µs.
func reportLatency(b *testing.B, unit string, durations []time.Duration) {
	b.ReportMetric(float64(len(durations))/b.Elapsed().Seconds(), unit)
	slices.Sort(durations)
	b.ReportMetric(pairbench.Percentile(durations, 0.50), "p50-µs")
	b.ReportMetric(pairbench.Percentile(durations, 0.99), "p99-µs")
}

// referenceInstance holds the reference rows of BenchmarkCreate and
// BenchmarkImportBatch: the same users table and indexes as the users
// created, apart from their login names.
const referenceInstance = "bench-reference"

// insertUserRows commits bare INSERTs of the users rows of people from to
// from+n-1 in one transaction, in referenceInstance: the database's own cost
// of what a creation or an import batch stores, without events, traits,
// unique values, sealing or validation.
func insertUserRows(ctx context.Context, db *database.DB, from, n int) error {
	return db.InTx(ctx, func(tx *database.Tx) error {
		for i := from; i < from+n; i++ {
			p := person(i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (instance_id, id, org_id, schema_type, login_name, login_name_lower,
	email, state, password_hash, password_change_required, created_at, sequence) VALUES ($1, $2, $3, 'human', $4, $5, $6, 'active', '', $7, 0, 1)`,
				referenceInstance, strconv.Itoa(i), p.OrgID, p.LoginName, p.LoginName, p.Email, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkCreate creates a human user without a password through
// Commands.Create per iteration, one at a time, alternating with a bare
// INSERT of a users row in its own transaction in the same database.
func BenchmarkCreate(b *testing.B) {
	forEachBackend(b, func(b *testing.B, db *database.DB) {
		ctx := context.Background()
		users := benchStore(b, db)
		pairbench.Alternate(b, "create", func(i int) error {
			_, err := users.Create(ctx, benchEditor, benchInstance, person(i))
			return err
		}, "insert", func(i int) error {
			return insertUserRows(ctx, db, i, 1)
		})
	})
}

// importBatch is the number of users of one BenchmarkImportBatch
// iteration, Commands.Import's default batch size.
const importBatch = 500

// BenchmarkImportBatch imports importBatch users without a password through
// one Commands.Import (one Push) per iteration, alternating with one
// transaction of as many bare INSERTs of users rows in the same database.
// Its ns/op figures are per batch; per user, divide by importBatch.
func BenchmarkImportBatch(b *testing.B) {
	forEachBackend(b, func(b *testing.B, db *database.DB) {
		ctx := context.Background()
		users := benchStore(b, db)
		pairbench.Alternate(b, "import", func(i int) error {
			rows := make([]user.ImportUser, importBatch)
			for j := range rows {
				rows[j].New = person(i*importBatch + j)
			}
			res, err := users.Import(ctx, benchEditor, benchInstance, rows, user.ImportOptions{BatchSize: importBatch})
			if err == nil && res.Imported != importBatch {
				err = fmt.Errorf("imported %d of %d: %v", res.Imported, importBatch, res.Failed)
			}
			return err
		}, "insert", func(i int) error {
			return insertUserRows(ctx, db, i*importBatch, importBatch)
		})
	})
}

var (
	bcryptOnce   sync.Once
	bcryptHashes []string
)

// bcryptPool returns 64 bcrypt hashes of cost 10, computed once; imports
// use them in turn, as hashes exported from another system.
func bcryptPool(b *testing.B) []string {
	bcryptOnce.Do(func() {
		bcryptHashes = make([]string, 64)
		var wg sync.WaitGroup
		for i := range bcryptHashes {
			wg.Go(func() {
				h, err := bcrypt.GenerateFromPassword([]byte(fmt.Sprintf("password %d", i)), 10)
				if err != nil {
					panic(err)
				}
				bcryptHashes[i] = string(h)
			})
		}
		wg.Wait()
	})
	return bcryptHashes
}

// BenchmarkImport imports b.N users with one Commands.Import in batches of
// 500: without passwords, with bcrypt hashes of another system, and with
// plaintext passwords hashed with argon2id at the OWASP parameters. It has
// no reference: BenchmarkImportBatch compares an import batch with bare
// INSERTs.
func BenchmarkImport(b *testing.B) {
	for _, variant := range []string{"no-password", "bcrypt-hash", "argon2id-password"} {
		b.Run(variant, func(b *testing.B) {
			forEachBackend(b, func(b *testing.B, db *database.DB) {
				users := benchStore(b, db)
				rows := make([]user.ImportUser, b.N)
				for i := range rows {
					rows[i].New = person(i)
					switch variant {
					case "bcrypt-hash":
						rows[i].PasswordHash = bcryptPool(b)[i%64]
					case "argon2id-password":
						rows[i].Password = fmt.Sprintf("Password %d!", i)
					}
				}
				b.ResetTimer()
				res, err := users.Import(context.Background(), benchEditor, benchInstance, rows, user.ImportOptions{})
				b.StopTimer()
				if err != nil || res.Imported != b.N {
					b.Fatalf("imported %d of %d: %v %v", res.Imported, b.N, err, res.Failed)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
			})
		})
	}
}

// dataset is a directory of users generated through Commands.Import.
type dataset struct {
	db   *database.DB
	dsn  string // how another process opens db (openDSN)
	size int
	ids  []string // a sample of user ids
	// deep are searches continuing from the middle of the login name
	// order: a prefix and a cursor after its first user.
	deep  []user.Search
	users *user.Commands
	drop  func()
	// server is the API over the dataset (api), started on first use.
	server      *benchAPI
	closeServer func()
	cache       *user.SearchCache // searcher's
}

var (
	datasetsMu sync.Mutex
	datasets   = map[string]*dataset{}
)

// TestMain removes the generated datasets when the benchmarks are done.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range datasets {
		if d.closeServer != nil {
			d.closeServer()
		}
		d.drop()
	}
	os.Exit(code)
}

func benchSizes(b *testing.B) []int {
	spec := os.Getenv("CASTELLAN_BENCH_USERS")
	if spec == "" {
		spec = "10000"
	}
	var sizes []int
	for f := range strings.SplitSeq(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1000 {
			b.Fatalf("CASTELLAN_BENCH_USERS=%q: a comma-separated list of sizes of at least 1000", spec)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// openDataset opens a database that outlives the benchmark that made it:
// a SQLite file in a temporary directory, or a PostgreSQL schema. With
// CASTELLAN_BENCH_KEEP set to a directory, the directory of size users is
// kept there (SQLite) or in the schema bench_users_<size> (PostgreSQL) and
// reused by later runs; kept reports whether it was complete already, and
// dsn tells another process how to open it (openDSN).
func openDataset(b *testing.B, backend string, size int) (db *database.DB, drop func(), kept bool, dsn string) {
	ctx := context.Background()
	keep := os.Getenv("CASTELLAN_BENCH_KEEP")
	if backend == "sqlite" {
		dir := keep
		if dir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "castellan-bench-users-"); err != nil {
				b.Fatal(err)
			}
		}
		file := filepath.Join(dir, fmt.Sprintf("users-%d.db", size))
		db, err := openDSN(context.Background(), "sqlite:"+file)
		if err != nil {
			b.Fatal(err)
		}
		if keep != "" {
			return db, func() { db.Close() }, datasetComplete(db, size), "sqlite:" + file
		}
		return db, func() { db.Close(); os.RemoveAll(dir) }, false, "sqlite:" + file
	}
	base := dbtest.PostgresURL(b)
	schema := fmt.Sprintf("bench_users_%d", size)
	if keep == "" {
		var r [6]byte
		_, _ = rand.Read(r[:])
		schema = "bench_users_" + hex.EncodeToString(r[:])
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema); err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn = "postgres:" + u.String()
	if db, err = openDSN(ctx, dsn); err != nil {
		b.Fatal(err)
	}
	if keep != "" {
		return db, func() { db.Close(); admin.Close() }, datasetComplete(db, size), dsn
	}
	return db, func() {
		db.Close()
		_, _ = admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	}, false, dsn
}

// openDSN opens a dataset's database: "sqlite:" and a file, or
// "postgres:" and a URL.
func openDSN(ctx context.Context, dsn string) (*database.DB, error) {
	if file, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		return database.OpenSQLite(file)
	}
	if url, ok := strings.CutPrefix(dsn, "postgres:"); ok {
		return database.OpenPostgres(ctx, url)
	}
	return nil, fmt.Errorf("dataset %q: neither sqlite: nor postgres:", dsn)
}

// datasetComplete reports whether db holds a generated directory of size
// users: bench_dataset records the size once generation is done.
func datasetComplete(db *database.DB, size int) bool {
	var n int
	err := db.Reader().QueryRowContext(context.Background(), `SELECT size FROM bench_dataset`).Scan(&n)
	return err == nil && n == size
}

// getDataset returns the directory of size users on backend, generating it
// on first use with progress on standard error. Nothing refreshes the
// planner's statistics but what a server does by itself: the import
// (Commands.Import analyzes after a bulk load), and on PostgreSQL
// autovacuum.
func getDataset(b *testing.B, backend string, size int) *dataset {
	datasetsMu.Lock()
	defer datasetsMu.Unlock()
	key := fmt.Sprintf("%s/%d", backend, size)
	if d, ok := datasets[key]; ok {
		return d
	}
	ctx := context.Background()
	db, drop, kept, dsn := openDataset(b, backend, size)
	d := &dataset{db: db, dsn: dsn, size: size, drop: drop}
	datasets[key] = d
	if err := db.Migrate(ctx, app.Migrations()); err != nil {
		b.Fatal(err)
	}
	users := benchStore(b, db)
	d.users = users
	start, chunk := time.Now(), 100_000
	if kept {
		rows, err := db.Reader().QueryContext(ctx, `SELECT id FROM users WHERE instance_id = $1 AND login_name_lower NOT LIKE 'bench-admin%' ORDER BY id LIMIT 1024`, benchInstance)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				b.Fatal(err)
			}
			d.ids = append(d.ids, id)
		}
		rows.Close()
		fmt.Fprintf(os.Stderr, "dataset %s: reused\n", key)
	} else {
		var existing int
		if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM users WHERE instance_id = $1`, benchInstance).Scan(&existing); err != nil || existing > 0 {
			b.Fatalf("dataset %s: %d users of an unfinished generation (%v); remove it", key, existing, err)
		}
		for from := 0; from < size; from += chunk {
			rows := make([]user.ImportUser, min(chunk, size-from))
			for i := range rows {
				rows[i].New = person(from + i)
			}
			res, err := users.Import(ctx, benchEditor, benchInstance, rows, user.ImportOptions{BatchSize: 1000})
			if err != nil || res.Imported != len(rows) {
				b.Fatalf("generating %s: imported %d of %d: %v", key, res.Imported, len(rows), err)
			}
			for i, id := range res.IDs {
				if (from+i)%max(1, size/1024) == 0 {
					d.ids = append(d.ids, id)
				}
			}
			done := from + len(rows)
			fmt.Fprintf(os.Stderr, "dataset %s: %d/%d users, %.0f users/s\n", key, done, size, float64(done)/time.Since(start).Seconds())
		}
		if err := db.InTx(ctx, func(tx *database.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE bench_dataset (size INTEGER NOT NULL)`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO bench_dataset (size) VALUES ($1)`, size)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	churn(b, d, key)
	// Pages deep in the login name order: after the first user of a
	// given name in the middle of the alphabet. A cursor is bound to its
	// search, so the next page keeps the prefix.
	for _, g := range []string{"max", "mia", "nina", "noah", "olga", "otto", "paul", "pia"} {
		s := user.Search{LoginNamePrefix: g + ".", Limit: 1}
		p, err := d.searcher().Find(ctx, benchInstance, s, userschema.Admin)
		if err != nil || p.NextCursor == "" {
			b.Fatalf("cursor after %s.: %v", g, err)
		}
		s.Cursor, s.Limit = p.NextCursor, 0
		d.deep = append(d.deep, s)
	}
	fmt.Fprintf(os.Stderr, "dataset %s: ready in %s\n", key, time.Since(start).Round(time.Second))
	return d
}

// benchRing authenticates the search cursors of every benchmark of the
// test binary, whose datasets outlive a single benchmark.
var benchRing = sync.OnceValue(func() *keyring.Ring {
	key, err := keyring.GenerateKey()
	if err != nil {
		panic(err)
	}
	ring, err := keyring.New(key)
	if err != nil {
		panic(err)
	}
	return ring
})

// searcher searches as the API does: cursors carry the first page's
// total, authenticated, so that later pages do not count; it keeps what
// the API's searcher keeps (nothing is appended while the searches run:
// the channel of changes never closes).
func (d *dataset) searcher() *user.Searcher {
	if d.cache == nil {
		d.cache = user.NewSearchCache(func() <-chan struct{} { return nil }, authn.MaxStale)
	}
	return user.NewSearcher(d.db, benchRing()).WithCache(d.cache)
}

// BenchmarkSearch measures, on directories of each size, every kind of
// search the API offers: through user.Searcher.Find (find/…) and through
// the whole server, authentication included (api/…); and as the reference
// a bare primary-key lookup of a users row. Each query reports its mean
// matches (the total of its first page; "capped" is the share of
// iterations whose total was a lower bound).
//
// The collector runs at the server's setting (app.TuneGC), as in the
// binary.
func BenchmarkSearch(b *testing.B) {
	app.TuneGC()
	sizes := benchSizes(b)
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			if backend.Name == "postgres" {
				dbtest.PostgresURL(b)
			}
			for _, size := range sizes {
				b.Run(fmt.Sprintf("users=%d", size), func(b *testing.B) { benchSearch(b, getDataset(b, backend.Name, size)) })
			}
		})
	}
}

func familyOf(i int) string { return familyNames[mix(i+7919)%len(familyNames)] }

// benchQueries are the searches measured, each varying per iteration.
func benchQueries(d *dataset) []struct {
	name   string
	search func(i int) user.Search
} {
	family := func(v string, prefix bool) []user.TraitFilter {
		return []user.TraitFilter{{Pointer: "/profile/family_name", Value: v, Prefix: prefix}}
	}
	return []struct {
		name   string
		search func(i int) user.Search
	}{
		{"login-exact", func(i int) user.Search { return user.Search{LoginName: person(mix(i) % d.size).LoginName} }},
		{"login-prefix", func(i int) user.Search { return user.Search{LoginNamePrefix: givenNames[i%len(givenNames)] + "."} }},
		{"login-prefix-letter", func(i int) user.Search { return user.Search{LoginNamePrefix: givenNames[i%len(givenNames)][:1]} }},
		{"email-exact", func(i int) user.Search { return user.Search{Email: person(mix(i) % d.size).Email} }},
		{"trait-equal", func(i int) user.Search { return user.Search{Traits: family(familyOf(mix(i)%d.size), false)} }},
		{"trait-prefix", func(i int) user.Search {
			f := familyOf(mix(i) % d.size) // "Kalomann": "Kalom", one family name
			return user.Search{Traits: family(f[:len(f)-3], true)}
		}},
		{"all-by-login", func(i int) user.Search { return user.Search{} }},
		{"all-newest", func(i int) user.Search { return user.Search{SortBy: "createdAt", Descending: true} }},
		{"org-page", func(i int) user.Search { return user.Search{OrgID: benchOrg(i), SortBy: "loginName"} }},
		{"org-newest", func(i int) user.Search { return user.Search{OrgID: benchOrg(i), SortBy: "createdAt", Descending: true} }},
		{"org+login-prefix", func(i int) user.Search {
			return user.Search{OrgID: benchOrg(i), LoginNamePrefix: givenNames[(i/benchOrgs)%len(givenNames)] + "."}
		}},
		{"org+trait-equal", func(i int) user.Search {
			return user.Search{OrgID: benchOrg(mix(i) % d.size), Traits: family(familyOf(mix(i)%d.size), false)}
		}},
		{"state+type", func(i int) user.Search { return user.Search{State: user.StateInitial, Type: "human"} }},
		{"deep-page", func(i int) user.Search { return d.deep[i%len(d.deep)] }},
	}
}

func benchSearch(b *testing.B, d *dataset) {
	ctx := context.Background()
	b.Run("reference-pk-lookup", func(b *testing.B) {
		durations := make([]time.Duration, 0, b.N)
		for i := range b.N {
			start := time.Now()
			var id, org, login, traits, email string
			if err := d.db.Reader().QueryRowContext(ctx, `SELECT id, org_id, login_name, traits, email FROM users WHERE instance_id = $1 AND id = $2`,
				benchInstance, d.ids[i%len(d.ids)]).Scan(&id, &org, &login, &traits, &email); err != nil {
				b.Fatal(err)
			}
			durations = append(durations, time.Since(start))
		}
		reportLatency(b, "queries/s", durations)
	})
	api := d.api(b)
	// The API's page tokens are its own: deep pages through it start from
	// tokens it handed out.
	var apiDeep []user.Search
	for _, s := range d.deep {
		first := s
		first.Cursor, first.Limit = "", 1
		resp, err := api.search(ctx, first)
		if err != nil || resp.GetNextPageToken() == "" {
			b.Fatalf("deep page token: %v", err)
		}
		s.Cursor = resp.GetNextPageToken()
		apiDeep = append(apiDeep, s)
	}
	for _, q := range benchQueries(d) {
		run := func(b *testing.B, search func(s user.Search) (total int, lowerBound bool, users int, err error)) {
			durations := make([]time.Duration, 0, b.N)
			var matches, capped float64
			b.ResetTimer()
			steal := pairbench.StartSteal()
			for i := range b.N {
				s := q.search(i)
				if q.name == "deep-page" && b.Name() != "" && strings.Contains(b.Name(), "/api") {
					s = apiDeep[i%len(apiDeep)]
				}
				start := time.Now()
				total, lower, n, err := search(s)
				durations = append(durations, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 && !strings.Contains(q.name, "+") {
					b.Fatalf("search %d found nobody", i)
				}
				matches += float64(total)
				if lower {
					capped++
				}
			}
			b.StopTimer()
			reportLatency(b, "queries/s", durations)
			b.ReportMetric(steal.Percent(), "steal-%")
			b.ReportMetric(matches/float64(b.N), "matches")
			b.ReportMetric(capped/float64(b.N), "capped")
		}
		b.Run(q.name+"/find", func(b *testing.B) {
			run(b, func(s user.Search) (int, bool, int, error) {
				p, err := d.searcher().Find(ctx, benchInstance, s, userschema.Admin)
				return p.Total, p.TotalIsLowerBound, len(p.Users), err
			})
		})
		b.Run(q.name+"/api", func(b *testing.B) {
			run(b, func(s user.Search) (int, bool, int, error) {
				resp, err := api.search(ctx, s)
				return int(resp.GetTotalSize()), resp.GetTotalSizeIsLowerBound(), len(resp.GetUsers()), err
			})
		})
	}
}

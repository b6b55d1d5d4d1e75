package project

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// benchSize is how many authorizations the decision benchmark loads:
// CASTELLAN_BENCH_AUTHORIZATIONS, default 100,000 (1,000,000 for the
// figures in docs/benchmarks.md).
func benchSize() int {
	if n, err := strconv.Atoi(os.Getenv("CASTELLAN_BENCH_AUTHORIZATIONS")); err == nil && n > 0 {
		return n
	}
	return 100000
}

// loadAuthorizations writes n authorizations of n users straight into the
// read models (the decision reads nothing else), each holding one of ten
// roles of one of 100 projects, a third of them under a grant.
func loadAuthorizations(b *testing.B, db *database.DB, n int) {
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *database.Tx) error {
		for p := range 100 {
			for r := range 10 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO project_roles (instance_id, project_id, role_key, display_name, role_group) VALUES ('i', $1, $2, $2, '')`,
					fmt.Sprintf("p%03d", p), fmt.Sprintf("r%d", r)); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO project_grant_roles (instance_id, grant_id, role_key) VALUES ('i', $1, $2)`,
					fmt.Sprintf("g%03d", p), fmt.Sprintf("r%d", r)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	for start := 0; start < n; start += batch {
		err := db.InTx(ctx, func(tx *database.Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				grant := ""
				if i%3 == 0 {
					grant = fmt.Sprintf("g%03d", i%100)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO authorization_roles (instance_id, project_id, role_key, user_id, grant_id, authorization_id, org_id)
VALUES ('i', $1, $2, $3, $4, $5, 'o')`, fmt.Sprintf("p%03d", i%100), fmt.Sprintf("r%d", i%10), fmt.Sprintf("u%07d", i), grant, fmt.Sprintf("a%07d", i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if db.Dialect == database.Postgres {
		if err := db.InTx(ctx, func(tx *database.Tx) error { _, err := tx.ExecContext(ctx, `ANALYZE authorization_roles`); return err }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecision times one decision (HasRole: may user U hold role R
// of project P, in force) among benchSize authorizations, alternating
// with its reference, a primary-key read of one row of the same table, in
// the same loop. It reports both, the ratio, and the decision's p99.
func BenchmarkDecision(b *testing.B) {
	ctx := context.Background()
	s := eventstoretest.New(b, "i", RegisterEvents, slices.Concat(group.Migrations, Migrations))
	n := benchSize()
	loadAuthorizations(b, s.DB(), n)
	var decision, reference time.Duration
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		u := (i * 7919) % n
		user, project, role := fmt.Sprintf("u%07d", u), fmt.Sprintf("p%03d", u%100), fmt.Sprintf("r%d", u%10)
		t0 := time.Now()
		ok, err := HasRole(ctx, s.DB(), "i", user, project, role)
		t1 := time.Now()
		if err != nil || !ok {
			b.Fatalf("decision for %s: %v %v", user, ok, err)
		}
		var one int
		if err := s.DB().Reader().QueryRowContext(ctx, `SELECT 1 FROM authorization_roles WHERE instance_id = 'i' AND project_id = $1 AND role_key = $2 AND user_id = $3`,
			project, role, user).Scan(&one); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		decision += t1.Sub(t0)
		reference += t2.Sub(t1)
		samples = append(samples, t1.Sub(t0))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(decision.Nanoseconds())/float64(b.N), "decision-ns/op")
	b.ReportMetric(float64(reference.Nanoseconds())/float64(b.N), "pkread-ns/op")
	b.ReportMetric(float64(decision)/float64(reference), "ratio")
	b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(n), "authorizations")
}

// BenchmarkTokenRoles times what roles add to a token: the role claims of
// a user holding 100 roles through authorizations of 10 organizations
// (one own, nine grants), nested, alternating with an ES256 signature —
// the cost of a token without roles is at least that signature, so
// tokens-with-roles/s over tokens-without/s is at least
// sign / (sign + claims).
func BenchmarkTokenRoles(b *testing.B) {
	ctx := context.Background()
	s := eventstoretest.New(b, "i", func(r *eventstore.Registry) {
		user.RegisterEvents(r)
		usertype.RegisterEvents(r)
		org.RegisterEvents(r)
		client.RegisterEvents(r)
		RegisterEvents(r)
	}, slices.Concat(usertype.Migrations, org.Migrations, user.Migrations, client.Migrations, group.Migrations, Migrations),
		usertype.Projection{}, org.Projection{}, user.Projection{}, client.Projection{}, Projection{})
	var roles []string
	db := s.DB()
	err := db.InTx(ctx, func(tx *database.Tx) error {
		exec := func(q string, args ...any) error { _, err := tx.ExecContext(ctx, q, args...); return err }
		if err := exec(`INSERT INTO projects (instance_id, project_id, org_id, name, sequence, created_at) VALUES ('i', 'p', 'o0', 'p', 1, 0)`); err != nil {
			return err
		}
		if err := exec(`INSERT INTO project_settings (instance_id, project_id, assert_roles, require_authorization, require_org_access) VALUES ('i', 'p', TRUE, FALSE, FALSE)`); err != nil {
			return err
		}
		for r := range 100 {
			key := fmt.Sprintf("role%03d", r)
			roles = append(roles, key)
			if err := exec(`INSERT INTO project_roles (instance_id, project_id, role_key, display_name, role_group) VALUES ('i', 'p', $1, $1, '')`, key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// Ten users' worth of authorizations would be one user per org; a
	// user has one authorization per project, so the ten organizations
	// are ten projects' worth: the user holds 10 roles in each of 10
	// projects asked with their scopes (9 others plus its own).
	var scopes []string
	err = db.InTx(ctx, func(tx *database.Tx) error {
		exec := func(q string, args ...any) error { _, err := tx.ExecContext(ctx, q, args...); return err }
		for o := range 10 {
			p := "p"
			if o > 0 {
				p = fmt.Sprintf("p%d", o)
				scopes = append(scopes, RolesScope(p))
				for _, key := range roles {
					if err := exec(`INSERT INTO project_roles (instance_id, project_id, role_key, display_name, role_group) VALUES ('i', $1, $2, $2, '')`, p, key); err != nil {
						return err
					}
				}
			}
			mine := roles[o*10 : o*10+10]
			if err := exec(`INSERT INTO authorizations (instance_id, authorization_id, user_id, group_id, project_id, grant_id, org_id, roles, sequence, created_at, changed_at)
VALUES ('i', $1, 'u', '', $2, '', $3, $4, 1, 0, 0)`, fmt.Sprintf("a%d", o), p, fmt.Sprintf("o%d", o), rolesJSON(mine)); err != nil {
				return err
			}
			if err := authorizationRoles(ctx, tx, "i", fmt.Sprintf("a%d", o), Subject{UserID: "u"}, p, "", fmt.Sprintf("o%d", o), mine); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("header.payload"))
	var claims, sign time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		out, err := TokenClaims(ctx, db, "i", "u", "p", client.RoleClaimsNested, scopes)
		t1 := time.Now()
		if err != nil || len(out) != 10 {
			b.Fatalf("claims %d %v", len(out), err)
		}
		if _, err := ecdsa.SignASN1(rand.Reader, key, digest[:]); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		claims += t1.Sub(t0)
		sign += t2.Sub(t1)
	}
	b.ReportMetric(float64(claims.Nanoseconds())/float64(b.N), "roles-ns/op")
	b.ReportMetric(float64(sign.Nanoseconds())/float64(b.N), "es256-ns/op")
	b.ReportMetric(float64(sign)/float64(sign+claims), "with/without-bound")
}

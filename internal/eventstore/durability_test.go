package eventstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

type durableWrite struct {
	N int `json:"n"`
}

func (durableWrite) EventType() string { return "durable.write" }

func openURL(ctx context.Context, url string) (*database.DB, error) {
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		return database.OpenSQLite(path)
	}
	return database.OpenPostgres(ctx, url)
}

// TestDurabilityChild is the writer process of TestAcknowledgedWritesSurviveKill.
// It appends until it is killed and prints the id of every append it was
// told committed.
func TestDurabilityChild(t *testing.T) {
	url := os.Getenv("CASTELLAN_TEST_DURABILITY_CHILD")
	if url == "" {
		t.Skip("runs only as the child of TestAcknowledgedWritesSurviveKill")
	}
	ctx := context.Background()
	db, err := openURL(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	r := eventstore.NewRegistry()
	eventstore.Register[durableWrite](r, 1)
	store, err := eventstore.New(db, r, nil, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				_, err := store.Push(ctx, eventstore.SystemEditor, eventstore.Append{
					Aggregate: eventstore.Aggregate{InstanceID: "durable", Type: "write", ID: id},
					Events:    []eventstore.Payload{&durableWrite{N: i}},
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "push:", err)
					os.Exit(3)
				}
				out.Lock()
				fmt.Fprintln(os.Stdout, "acked", id)
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestAcknowledgedWritesSurviveKill(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := src.Open(t, eventstore.Migrations)
		child := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1")
		child.Env = append(os.Environ(), "CASTELLAN_TEST_DURABILITY_CHILD="+src.URL())
		stdout, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		child.Stderr = &stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[string]bool{}
		sc := bufio.NewScanner(stdout)
		deadline := time.Now().Add(30 * time.Second)
		for len(acked) < 400 && time.Now().Before(deadline) && sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				acked[id] = true
			}
		}
		// Kill without warning while appends are in flight.
		if err := child.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for sc.Scan() { // acknowledgements already written before the kill
			if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				acked[id] = true
			}
		}
		_ = child.Wait()
		if len(acked) < 100 {
			t.Fatalf("child acknowledged only %d appends before the deadline; stderr:\n%s", len(acked), stderr.String())
		}

		r := eventstore.NewRegistry()
		eventstore.Register[durableWrite](r, 1)
		store, err := eventstore.New(db, r, nil, eventstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		events, err := store.Query(context.Background(), eventstore.Filter{InstanceID: "durable"})
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]bool{}
		for _, e := range events {
			stored[e.Aggregate.ID] = true
		}
		for id := range acked {
			if !stored[id] {
				t.Fatalf("append %s was acknowledged but is gone after kill -9 (%d acknowledged, %d stored)", id, len(acked), len(stored))
			}
		}
		if db.Dialect == database.SQLite {
			var check string
			if err := db.Reader().QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
				t.Fatalf("integrity check after kill: %q %v", check, err)
			}
		}
		t.Logf("%d acknowledged, %d stored", len(acked), len(stored))
	})
}

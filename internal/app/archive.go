package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Archived is one archive file written by ArchiveEvents.
type Archived struct {
	InstanceID string
	File       string
	Events     int64
	From, To   time.Time
}

// ArchiveEvents moves the events of each instance (or only instanceID)
// older than audit.retention into archive files in the archive directory
// (eventstore.Store.Archive; docs/audit.md), one file per instance that has
// any, named by the range of links it holds. A file is complete before it
// gets its name: a failed archive leaves no file and every event in place.
func (a *App) ArchiveEvents(ctx context.Context, instanceID string, now time.Time) ([]Archived, error) {
	instances := []string{instanceID}
	if instanceID == "" {
		var err error
		if instances, err = a.Store.ChainInstances(ctx); err != nil {
			return nil, err
		}
	}
	before := now.Add(-a.Config.Audit.Retention)
	signer := eventstore.KeyRingSigner(a.Keys)
	var out []Archived
	for _, id := range instances {
		dir := filepath.Join(a.Config.Audit.ArchiveDirectory(a.Config.DataDir), id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return out, fmt.Errorf("archive directory: %w", err)
		}
		tmp, err := os.CreateTemp(dir, ".archive-*.tmp")
		if err != nil {
			return out, fmt.Errorf("archive file: %w", err)
		}
		res, err := a.Store.Archive(ctx, id, before, signer, tmp)
		err = joinClose(err, tmp)
		if err != nil || res.Events == 0 {
			os.Remove(tmp.Name())
			if err != nil {
				return out, fmt.Errorf("archive instance %s: %w", id, err)
			}
			continue
		}
		name := filepath.Join(dir, fmt.Sprintf("%012d-%012d.jsonl.gz", res.Header.After.Count+1, res.Header.Until.Count))
		if err := os.Rename(tmp.Name(), name); err != nil {
			// The events left the database: keep the file under its
			// temporary name rather than lose it.
			return out, fmt.Errorf("archive of instance %s is complete in %s but could not be renamed: %w", id, tmp.Name(), err)
		}
		out = append(out, Archived{InstanceID: id, File: name, Events: res.Events, From: res.Header.Range[0], To: res.Header.Range[1]})
	}
	return out, nil
}

func joinClose(err error, f *os.File) error {
	if cerr := f.Sync(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// archiveDaily archives, when audit.archive_daily is on, at most once a
// day; Maintain calls it every hour.
func (a *App) archiveDaily(ctx context.Context) {
	if !a.Config.Audit.ArchiveDaily || time.Since(a.lastArchive) < 24*time.Hour {
		return
	}
	a.lastArchive = time.Now()
	done, err := a.ArchiveEvents(ctx, "", time.Now())
	for _, d := range done {
		a.Log.Info("archived events", "instance", d.InstanceID, "events", d.Events, "file", d.File)
	}
	if err != nil && ctx.Err() == nil {
		a.Log.Warn("could not archive events", "err", err)
	}
}

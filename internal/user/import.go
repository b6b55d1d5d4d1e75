package user

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
)

// ImportUser is one user of a bulk import.
type ImportUser struct {
	New
	// ID is the source system's id of the user. It is kept when it is a
	// UUID in canonical (lower-case, hyphenated) form, as Castellan's own
	// ids are; any other value, or none, gets a new id.
	ID string
}

// ImportFailure is a user that was not imported: its index in the input,
// its login name and why. Err is a *failure.Error whose Field names the
// offending input (loginName, traits/…, passwordHash, id, …).
type ImportFailure struct {
	Index     int
	LoginName string
	Err       error
}

// ImportResult tells what an import did.
type ImportResult struct {
	Imported int
	// IDs holds each imported user's id by input index; "" where it failed.
	IDs    []string
	Failed []ImportFailure
}

// ImportOptions tune an import.
type ImportOptions struct {
	// BatchSize is the number of users stored per Push (default 500).
	BatchSize int
	// Progress, when set, is called after each batch with the number of
	// input users handled so far; the last call has done == total.
	Progress func(done, total int)
}

const defaultImportBatch = 500

// hashPending stands for a password hash while the password is hashed.
const hashPending = "$pending$"

// Import creates users in bulk, as Create would one by one: each is
// validated against the latest revision of its type (whose schema is
// compiled once per import) and its organization's login name policy, a
// plaintext Password is checked against the password policy and hashed
// with argon2id,
// and a PasswordHash from another system is stored as it is when
// password.Supported accepts it (the sign-in path upgrades it to argon2id).
//
// Valid users are stored in batches, one atomic Push each. When a batch
// clashes with stored users (a login name, a unique trait or an id taken),
// its users are pushed one by one so that only the clashing ones fail.
// Within the input, the first user claiming a unique value keeps it and
// later ones fail. Invalid users are reported in the result, not as the
// error; the error is for what stops the import (a cancelled context, the
// database), with the result of the batches stored before it.
func (c *Commands) Import(ctx context.Context, editor eventstore.Editor, instanceID string, users []ImportUser, opts ImportOptions) (ImportResult, error) {
	batch := opts.BatchSize
	if batch <= 0 {
		batch = defaultImportBatch
	}
	im := &importer{newUsers: c.newUsers(instanceID), c: c, instanceID: instanceID, claims: map[string]int{}, ids: map[string]int{},
		result: ImportResult{IDs: make([]string, len(users))}}
	for start := 0; start < len(users); start += batch {
		if err := ctx.Err(); err != nil {
			return im.result, err
		}
		end := min(start+batch, len(users))
		rows, err := im.prepare(ctx, users[start:end], start)
		if err != nil {
			return im.result, err
		}
		if err := im.store(ctx, editor, rows); err != nil {
			return im.result, err
		}
		if opts.Progress != nil {
			opts.Progress(end, len(users))
		}
	}
	if im.result.Imported >= analyzeAfterImport {
		// Statistics of a directory before its bulk load would keep
		// planning for a small one until the next hourly refresh. A
		// failure here is not the import's: the users are stored, and the
		// hourly refresh (database.DB.Optimize) tries again.
		_ = c.store.DB().AfterBulkLoad(ctx, "users", "user_traits")
	}
	return im.result, nil
}

// analyzeAfterImport is the size of an import after which the planner's
// statistics of the user tables are refreshed at once.
const analyzeAfterImport = 1000

type importRow struct {
	index     int
	loginName string
	password  string // plaintext, to hash into the PasswordSet event
	append    eventstore.Append
}

type importer struct {
	*newUsers
	c          *Commands
	instanceID string
	// claims maps each unique value claimed in this import, and ids each
	// kept id, to the index of the user claiming it.
	claims map[string]int
	ids    map[string]int
	result ImportResult
}

func (im *importer) fail(index int, loginName string, err error) {
	im.result.Failed = append(im.result.Failed, ImportFailure{Index: index, LoginName: loginName, Err: err})
}

// validID reports whether a source system's id can be kept.
func validID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// prepare validates users (input indexes from offset on), reports the
// invalid ones and returns the appends of the others, with their
// passwords hashed.
func (im *importer) prepare(ctx context.Context, users []ImportUser, offset int) ([]*importRow, error) {
	var rows []*importRow
	for i, u := range users {
		index := offset + i
		row, err := im.validate(ctx, index, u)
		if err != nil {
			if !rowProblem(err) {
				return nil, err
			}
			im.fail(index, u.LoginName, err)
			continue
		}
		rows = append(rows, row)
	}
	if err := im.hashPasswords(ctx, rows); err != nil {
		return nil, err
	}
	return rows, nil
}

// validate checks one user as Create does and claims its unique values
// within the import. Errors that are not rowProblems stop the import.
func (im *importer) validate(ctx context.Context, index int, u ImportUser) (*importRow, error) {
	n := u.New
	row := &importRow{index: index, loginName: n.LoginName}
	t, err := im.check(ctx, &n)
	if err != nil {
		return nil, err
	}
	if n.Password != "" {
		// Creation decides as for a user with a password; the hash
		// replaces the placeholder once the row is known to be valid.
		row.password, n.Password, n.PasswordHash = n.Password, "", hashPending
	}
	userID := u.ID
	if !validID(userID) {
		userID = id.New()
	} else if first, taken := im.ids[userID]; taken {
		e := failure.AlreadyExists("id %s is given to user %d of this import already", userID, first)
		e.Field = "id"
		return nil, e
	}
	if row.append, err = Creation(im.instanceID, userID, t.name, t.schema, n); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(row.append.Unique))
	for _, c := range row.append.Unique {
		value := c.Value
		if c.FoldCase {
			value = strings.ToLower(value)
		}
		key := c.Kind + "\x00" + c.Scope + "\x00" + value
		if first, taken := im.claims[key]; taken {
			e := failure.AlreadyExists("%q is claimed by user %d of this import already", c.Value, first)
			e.Field = c.Field
			return nil, e
		}
		keys = append(keys, key)
	}
	for _, k := range keys {
		im.claims[k] = index
	}
	im.ids[userID] = index
	return row, nil
}

// hashPasswords hashes the plaintext passwords of rows with at most as
// many goroutines as the hasher has slots, so that sign-ins queued behind
// an import wait for one hash, not for the whole batch.
func (im *importer) hashPasswords(ctx context.Context, rows []*importRow) error {
	var todo []*importRow
	for _, r := range rows {
		if r.password != "" {
			todo = append(todo, r)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan *importRow)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(im.c.hasher.Concurrency(), len(todo)) {
		wg.Go(func() {
			for r := range next {
				hash, err := im.c.hasher.Hash(ctx, r.password)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				r.password = ""
				for _, e := range r.append.Events {
					if p, ok := e.(*credential.PasswordSet); ok && p.Hash == hashPending {
						p.Hash = hash
					}
				}
			}
		})
	}
	for _, r := range todo {
		select {
		case next <- r:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// store pushes rows as one batch, or one by one when the batch clashes
// with stored users.
func (im *importer) store(ctx context.Context, editor eventstore.Editor, rows []*importRow) error {
	if len(rows) == 0 {
		return nil
	}
	appends := make([]eventstore.Append, len(rows))
	for i, r := range rows {
		appends[i] = r.append
	}
	_, err := im.c.store.Push(ctx, editor, appends...)
	if err == nil {
		for _, r := range rows {
			im.imported(r)
		}
		return nil
	}
	if !rowProblem(err) {
		return err
	}
	for _, r := range rows {
		_, err := im.c.store.Push(ctx, editor, r.append)
		switch {
		case err == nil:
			im.imported(r)
		case errors.Is(err, eventstore.ErrConcurrentModification):
			e := failure.AlreadyExists("a user with id %s exists", r.append.ID)
			e.Field = "id"
			im.fail(r.index, r.loginName, e)
		case rowProblem(err):
			im.fail(r.index, r.loginName, err)
		default:
			return err
		}
	}
	return nil
}

func (im *importer) imported(r *importRow) {
	im.result.Imported++
	im.result.IDs[r.index] = r.append.ID
}

// rowProblem reports whether a Push failed because of what one of its
// appends claims (a taken value or id) rather than because of the store.
func rowProblem(err error) bool {
	var fe *failure.Error
	return errors.As(err, &fe) && fe.Kind != failure.KindInternal && fe.Kind != failure.KindUnavailable
}

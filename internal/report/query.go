package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// MaxDays is the most days one query covers.
const MaxDays = 400

// Days is a range of UTC days, both ends included, in days since
// 1970-01-01.
type Days struct{ From, To int64 }

// DayOf is the day of t in UTC.
func DayOf(t time.Time) int64 { return dayOf(t) }

// FormatDay writes a day as YYYY-MM-DD.
func FormatDay(d int64) string { return time.Unix(d*86400, 0).UTC().Format(time.DateOnly) }

// ParseDays reads a range from YYYY-MM-DD strings, both ends included;
// an empty to is today, an empty from the 30 days ending at to. It is an
// invalid argument naming the field when a day does not parse, to is
// before from, or the range is longer than MaxDays.
func ParseDays(from, to string, today time.Time) (Days, error) {
	r := Days{To: dayOf(today)}
	if to != "" {
		d, err := parseDay("to", to)
		if err != nil {
			return r, err
		}
		r.To = d
	}
	r.From = r.To - 29
	if from != "" {
		d, err := parseDay("from", from)
		if err != nil {
			return r, err
		}
		r.From = d
	}
	if r.To < r.From {
		return r, failure.InvalidArgument("to", "is before from")
	}
	if r.To-r.From+1 > MaxDays {
		return r, failure.InvalidArgument("from", "the range is %d days; at most %d", r.To-r.From+1, MaxDays)
	}
	return r, nil
}

func parseDay(field, s string) (int64, error) {
	if len(s) != len(time.DateOnly) {
		return 0, failure.InvalidArgument(field, "must be a day written YYYY-MM-DD")
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, failure.InvalidArgument(field, "must be a day written YYYY-MM-DD")
	}
	return dayOf(t), nil
}

// Count is a figure of a day or month.
type Count struct {
	// Period is YYYY-MM-DD or YYYY-MM.
	Period string
	Count  int64
}

// scope is the WHERE clause of the rows of an instance's totals, or of
// one of its organizations when orgID is not empty, with its arguments
// ($1, $2).
func scope(instanceID, orgID string) (string, []any) {
	if orgID == "" {
		orgID = wholeInstance
	}
	return `instance_id = $1 AND org_id = $2`, []any{instanceID, orgID}
}

// dense reads (period, figure) rows into one Count per day of r.
func dense(rows *sql.Rows, r Days) ([]Count, error) {
	defer rows.Close()
	got := map[int64]int64{}
	for rows.Next() {
		var d, n int64
		if err := rows.Scan(&d, &n); err != nil {
			return nil, err
		}
		got[d] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Count, 0, r.To-r.From+1)
	for d := r.From; d <= r.To; d++ {
		out = append(out, Count{Period: FormatDay(d), Count: got[d]})
	}
	return out, nil
}

// dailyFigure sums a column of report_daily per day of r.
func dailyFigure(ctx context.Context, db *database.DB, column, instanceID, orgID string, r Days) ([]Count, error) {
	where, args := scope(instanceID, orgID)
	n := len(args)
	rows, err := db.Reader().QueryContext(ctx, fmt.Sprintf(`SELECT day, %s FROM report_daily WHERE %s AND day >= $%d AND day <= $%d`,
		column, where, n+1, n+2), append(args, r.From, r.To)...)
	if err != nil {
		return nil, fmt.Errorf("report: %s: %w", column, err)
	}
	return dense(rows, r)
}

// DailyActiveUsers counts, per day of r, the distinct users with a
// successful sign-in, of the instance or of one organization.
func DailyActiveUsers(ctx context.Context, db *database.DB, instanceID, orgID string, r Days) ([]Count, error) {
	return dailyFigure(ctx, db, "active_users", instanceID, orgID, r)
}

// NewUsers counts the users added per day of r.
func NewUsers(ctx context.Context, db *database.DB, instanceID, orgID string, r Days) ([]Count, error) {
	return dailyFigure(ctx, db, "new_users", instanceID, orgID, r)
}

// MonthlyActiveUsers counts, per calendar month that overlaps r, the
// distinct users with a successful sign-in in that month (all of it).
func MonthlyActiveUsers(ctx context.Context, db *database.DB, instanceID, orgID string, r Days) ([]Count, error) {
	first, last := monthOf(time.Unix(r.From*86400, 0)), monthOf(time.Unix(r.To*86400, 0))
	where, args := scope(instanceID, orgID)
	n := len(args)
	rows, err := db.Reader().QueryContext(ctx, fmt.Sprintf(`SELECT month, active_users FROM report_monthly WHERE %s AND month >= $%d AND month <= $%d`,
		where, n+1, n+2), append(args, first, last)...)
	if err != nil {
		return nil, fmt.Errorf("report: monthly active users: %w", err)
	}
	defer rows.Close()
	got := map[int64]int64{}
	for rows.Next() {
		var m, c int64
		if err := rows.Scan(&m, &c); err != nil {
			return nil, err
		}
		got[m] = c
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Count
	for m := first; m <= last; {
		out = append(out, Count{Period: fmt.Sprintf("%04d-%02d", m/100, m%100), Count: got[m]})
		if m%100 == 12 {
			m += 100 - 11
		} else {
			m++
		}
	}
	return out, nil
}

// SignIns are the sign-ins of a day through one application.
type SignIns struct {
	Day string
	// ClientID is the application's; "" for sign-ins through none.
	ClientID          string
	Succeeded, Failed int64
}

// ListSignIns lists the sign-ins per day and application in r, of the
// instance or of one organization, through one application when
// clientID is not nil; days and applications without any are left out.
func ListSignIns(ctx context.Context, db *database.DB, instanceID, orgID string, clientID *string, r Days) ([]SignIns, error) {
	where, args := scope(instanceID, orgID)
	args = append(args, r.From, r.To)
	q := fmt.Sprintf(`SELECT day, client_id, succeeded, failed FROM report_sign_ins WHERE %s AND day >= $%d AND day <= $%d`, where, len(args)-1, len(args))
	if clientID != nil {
		args = append(args, *clientID)
		q += fmt.Sprintf(` AND client_id = $%d`, len(args))
	}
	rows, err := db.Reader().QueryContext(ctx, q+` AND (succeeded <> 0 OR failed <> 0) ORDER BY day, client_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("report: sign-ins: %w", err)
	}
	defer rows.Close()
	var out []SignIns
	for rows.Next() {
		var s SignIns
		var d int64
		if err := rows.Scan(&d, &s.ClientID, &s.Succeeded, &s.Failed); err != nil {
			return nil, err
		}
		s.Day = FormatDay(d)
		out = append(out, s)
	}
	return out, rows.Err()
}

// Adoption is how many people have a second factor.
type Adoption struct {
	// Period is the day (YYYY-MM-DD); "" for the current figure.
	Period          string
	Users, MFAUsers int64
}

// MFAAdoption returns the people and those with a second factor now, and
// at the end of each day of r, of the instance or of one organization.
func MFAAdoption(ctx context.Context, db *database.DB, instanceID, orgID string, r Days) (Adoption, []Adoption, error) {
	if orgID == "" {
		orgID = wholeInstance
	}
	var now Adoption
	err := db.Reader().QueryRowContext(ctx, `SELECT users, mfa_users FROM report_mfa WHERE instance_id = $1 AND org_id = $2 ORDER BY day DESC LIMIT 1`,
		instanceID, orgID).Scan(&now.Users, &now.MFAUsers)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return now, nil, fmt.Errorf("report: MFA adoption: %w", err)
	}
	var carry Adoption
	err = db.Reader().QueryRowContext(ctx, `SELECT users, mfa_users FROM report_mfa WHERE instance_id = $1 AND org_id = $2 AND day < $3 ORDER BY day DESC LIMIT 1`,
		instanceID, orgID, r.From).Scan(&carry.Users, &carry.MFAUsers)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return now, nil, fmt.Errorf("report: MFA adoption: %w", err)
	}
	rows, err := db.Reader().QueryContext(ctx, `SELECT day, users, mfa_users FROM report_mfa WHERE instance_id = $1 AND org_id = $2 AND day >= $3 AND day <= $4`,
		instanceID, orgID, r.From, r.To)
	if err != nil {
		return now, nil, fmt.Errorf("report: MFA adoption: %w", err)
	}
	defer rows.Close()
	got := map[int64]Adoption{}
	for rows.Next() {
		var d int64
		var a Adoption
		if err := rows.Scan(&d, &a.Users, &a.MFAUsers); err != nil {
			return now, nil, err
		}
		got[d] = a
	}
	if err := rows.Err(); err != nil {
		return now, nil, err
	}
	days := make([]Adoption, 0, r.To-r.From+1)
	for d := r.From; d <= r.To; d++ {
		if a, ok := got[d]; ok {
			carry = a
		}
		days = append(days, Adoption{Period: FormatDay(d), Users: carry.Users, MFAUsers: carry.MFAUsers})
	}
	return now, days, nil
}

package authzen

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/user"
)

// Bounds of a request.
const (
	maxBody        = 256 << 10
	maxEvaluations = 100
	maxID          = 256
	pageSize       = 100
)

// Resource and subject types.
const (
	TypeUser         = "user"
	TypeProject      = "project"
	TypeOrganization = "organization"
)

// Entity is a subject or a resource.
type Entity struct {
	Type       string         `json:"type"`
	ID         string         `json:"id,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Action is what the subject would do.
type Action struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Evaluation is one question; in a batch, a missing part is the
// request's default.
type Evaluation struct {
	Subject  *Entity        `json:"subject,omitempty"`
	Action   *Action        `json:"action,omitempty"`
	Resource *Entity        `json:"resource,omitempty"`
	Context  map[string]any `json:"context,omitempty"`
}

// Evaluations is a batch.
type Evaluations struct {
	Evaluation
	Evaluations []Evaluation `json:"evaluations"`
	Options     struct {
		Semantic string `json:"evaluations_semantic,omitempty"`
	} `json:"options"`
}

// The batch semantics.
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

// Decision answers one question.
type Decision struct {
	Decision bool           `json:"decision"`
	Context  map[string]any `json:"context,omitempty"`
}

// Search is a search request: the part searched for has a type and no id.
type Search struct {
	Subject  *Entity `json:"subject,omitempty"`
	Action   *Action `json:"action,omitempty"`
	Resource *Entity `json:"resource,omitempty"`
	Page     *struct {
		Token string `json:"token,omitempty"`
	} `json:"page,omitempty"`
}

// Caller authenticates the caller of a request.
type Caller func(ctx context.Context, h http.Header) (authz.Caller, error)

// Handler serves the API.
type Handler struct {
	db          *database.DB
	caller      Caller
	externalURL string
	log         *slog.Logger
}

// New returns the handler.
func New(db *database.DB, caller Caller, externalURL string, log *slog.Logger) *Handler {
	return &Handler{db: db, caller: caller, externalURL: externalURL, log: log}
}

// Routes returns the handler's ServeMux patterns.
func (h *Handler) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /.well-known/authzen-configuration": http.HandlerFunc(h.metadata),
		"POST /access/v1/evaluation":             h.endpoint(h.evaluation),
		"POST /access/v1/evaluations":            h.endpoint(h.evaluations),
		"POST /access/v1/search/subject":         h.endpoint(h.searchSubject),
		"POST /access/v1/search/resource":        h.endpoint(h.searchResource),
		"POST /access/v1/search/action":          h.endpoint(h.searchAction),
	}
}

func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	inst, _ := instance.FromContext(r.Context())
	base := inst.Issuer(h.externalURL)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]string{
		"policy_decision_point":       base,
		"access_evaluation_endpoint":  base + "/access/v1/evaluation",
		"access_evaluations_endpoint": base + "/access/v1/evaluations",
		"search_subject_endpoint":     base + "/access/v1/search/subject",
		"search_resource_endpoint":    base + "/access/v1/search/resource",
		"search_action_endpoint":      base + "/access/v1/search/action",
	})
}

// endpoint authenticates the caller, reads the body (bounded) and writes
// what serve answers; a failure.Error is its HTTP status with the message.
func (h *Handler) endpoint(serve func(ctx context.Context, c authz.Caller, body []byte) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("X-Request-ID"); id != "" && len(id) <= maxID {
			w.Header().Set("X-Request-ID", id)
		}
		c, err := h.caller(r.Context(), r.Header)
		if err != nil {
			h.fail(w, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			h.fail(w, failure.InvalidArgument("body", "must be a JSON object of at most %d bytes", maxBody))
			return
		}
		out, err := serve(r.Context(), c, body)
		if err != nil {
			h.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Kind == failure.KindInternal || fe.Kind == failure.KindUnavailable {
		h.log.Error("authzen request failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	if fe.Kind == failure.KindUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="castellan"`)
	}
	writeJSON(w, fe.Kind.HTTPStatus(), map[string]string{"error": fe.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON object into v, naming what is wrong.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return failure.InvalidArgument(te.Field, "must be a JSON %s", te.Type.Kind())
		}
		return failure.InvalidArgument("body", "is not a JSON object: %v", err)
	}
	return nil
}

func checkEntity(field string, e *Entity, types ...string) error {
	if e == nil {
		return failure.InvalidArgument(field, "required")
	}
	if !slices.Contains(types, e.Type) {
		return failure.InvalidArgument(field+".type", "must be %s", strings.Join(types, " or "))
	}
	if e.ID == "" || len(e.ID) > maxID {
		return failure.InvalidArgument(field+".id", "must be 1 to %d bytes", maxID)
	}
	return nil
}

func checkAction(a *Action) error {
	if a == nil {
		return failure.InvalidArgument("action", "required")
	}
	if a.Name == "" || len(a.Name) > maxID {
		return failure.InvalidArgument("action.name", "must be 1 to %d bytes", maxID)
	}
	return nil
}

// check validates a complete question.
func check(e Evaluation) error {
	if err := checkEntity("subject", e.Subject, TypeUser); err != nil {
		return err
	}
	if err := checkAction(e.Action); err != nil {
		return err
	}
	return checkEntity("resource", e.Resource, TypeProject, TypeOrganization)
}

func (h *Handler) evaluation(ctx context.Context, c authz.Caller, body []byte) (any, error) {
	var e Evaluation
	if err := decode(body, &e); err != nil {
		return nil, err
	}
	if err := check(e); err != nil {
		return nil, err
	}
	ok, err := h.decide(ctx, c, e)
	if err != nil {
		return nil, err
	}
	return Decision{Decision: ok}, nil
}

func (h *Handler) evaluations(ctx context.Context, c authz.Caller, body []byte) (any, error) {
	var req Evaluations
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	switch req.Options.Semantic {
	case "", ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
	default:
		return nil, failure.InvalidArgument("options.evaluations_semantic", "must be %s, %s or %s", ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit)
	}
	if len(req.Evaluations) > maxEvaluations {
		return nil, failure.InvalidArgument("evaluations", "at most %d", maxEvaluations)
	}
	if len(req.Evaluations) == 0 {
		// Without a list the request is one evaluation (section 7.1).
		if err := check(req.Evaluation); err != nil {
			return nil, err
		}
		ok, err := h.decide(ctx, c, req.Evaluation)
		if err != nil {
			return nil, err
		}
		return Decision{Decision: ok}, nil
	}
	out := struct {
		Evaluations []Decision `json:"evaluations"`
	}{Evaluations: []Decision{}}
	for i, item := range req.Evaluations {
		e := withDefaults(item, req.Evaluation)
		d := Decision{}
		if err := check(e); err != nil {
			d.Context = map[string]any{"error": map[string]any{"status": http.StatusBadRequest, "message": fmt.Sprintf("evaluations[%d]: %v", i, err)}}
		} else {
			ok, err := h.decide(ctx, c, e)
			if err != nil {
				return nil, err
			}
			d.Decision = ok
		}
		out.Evaluations = append(out.Evaluations, d)
		if (req.Options.Semantic == DenyOnFirstDeny && !d.Decision) || (req.Options.Semantic == PermitOnFirstPermit && d.Decision) {
			break
		}
	}
	return out, nil
}

func withDefaults(e, d Evaluation) Evaluation {
	if e.Subject == nil {
		e.Subject = d.Subject
	}
	if e.Action == nil {
		e.Action = d.Action
	}
	if e.Resource == nil {
		e.Resource = d.Resource
	}
	if e.Context == nil {
		e.Context = d.Context
	}
	return e
}

// decide answers a checked question. A resource the caller may not read
// is a denial, as one that does not exist.
func (h *Handler) decide(ctx context.Context, c authz.Caller, e Evaluation) (bool, error) {
	switch e.Resource.Type {
	case TypeProject:
		p, ok, err := h.readableProject(ctx, c, e.Resource.ID)
		if err != nil || !ok {
			return false, err
		}
		if held, err := project.HasRole(ctx, h.db, c.InstanceID, e.Subject.ID, p.ID, e.Action.Name); err != nil || !held {
			return false, err
		}
		return user.Active(ctx, h.db, c.InstanceID, e.Subject.ID)
	case TypeOrganization:
		if !c.Can(authz.MemberRead, authz.Org(e.Resource.ID)) {
			return false, nil
		}
		active, err := user.Active(ctx, h.db, c.InstanceID, e.Subject.ID)
		if err != nil || !active {
			return false, err
		}
		subject, err := member.LoadCaller(ctx, h.db, c.InstanceID, e.Subject.ID)
		if err != nil {
			return false, err
		}
		return subject.Can(authz.Permission(e.Action.Name), authz.Org(e.Resource.ID)), nil
	}
	return false, nil
}

// readableProject loads a project the caller holds authorization.read
// on; ok is false for one that does not exist or that it may not read.
func (h *Handler) readableProject(ctx context.Context, c authz.Caller, id string) (client.Project, bool, error) {
	p, err := client.GetProject(ctx, h.db, c.InstanceID, id)
	if failure.Is(err, failure.KindNotFound) {
		return client.Project{}, false, nil
	}
	if err != nil {
		return client.Project{}, false, err
	}
	return p, c.Can(authz.AuthorizationRead, authz.Project(p.ID, p.OrgID)), nil
}

type result struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type searchResponse struct {
	Results []result `json:"results"`
	Page    struct {
		NextToken string `json:"next_token"`
	} `json:"page"`
}

func pageAfter(s Search) (string, error) {
	if s.Page == nil || s.Page.Token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s.Page.Token)
	if err != nil || len(b) > maxID {
		return "", failure.InvalidArgument("page.token", "is not a token this server gave")
	}
	return string(b), nil
}

func page(out *searchResponse, ids []string, typ string) {
	out.Results = []result{}
	for _, id := range ids {
		out.Results = append(out.Results, result{Type: typ, ID: id})
	}
	if len(ids) == pageSize {
		out.Page.NextToken = base64.RawURLEncoding.EncodeToString([]byte(ids[len(ids)-1]))
	}
}

// searchSubject lists the users holding a role of a project.
func (h *Handler) searchSubject(ctx context.Context, c authz.Caller, body []byte) (any, error) {
	var s Search
	if err := decode(body, &s); err != nil {
		return nil, err
	}
	if s.Subject == nil || s.Subject.Type != TypeUser {
		return nil, failure.InvalidArgument("subject.type", "must be %s", TypeUser)
	}
	if err := checkAction(s.Action); err != nil {
		return nil, err
	}
	if err := checkEntity("resource", s.Resource, TypeProject); err != nil {
		return nil, err
	}
	after, err := pageAfter(s)
	if err != nil {
		return nil, err
	}
	out := &searchResponse{Results: []result{}}
	p, ok, err := h.readableProject(ctx, c, s.Resource.ID)
	if err != nil || !ok {
		return out, err
	}
	holders, err := project.HoldersOfRole(ctx, h.db, c.InstanceID, p.ID, s.Action.Name, after, pageSize)
	if err != nil {
		return nil, err
	}
	// The project's readers are answered about any one user they name
	// (their applications enforce the roles), but list only the holders
	// they may read the authorizations of: a granted organization's
	// users are its own business.
	var ids []string
	for _, x := range holders {
		if (x.GrantID == "" || c.Can(authz.AuthorizationRead, authz.ProjectGrant(x.GrantID, x.OrgID))) && !slices.Contains(ids, x.UserID) {
			ids = append(ids, x.UserID)
		}
	}
	page(out, ids, TypeUser)
	if len(holders) == pageSize {
		out.Page.NextToken = base64.RawURLEncoding.EncodeToString([]byte(holders[len(holders)-1].UserID))
	}
	return out, nil
}

// searchResource lists the projects the caller may read where a user
// holds a role.
func (h *Handler) searchResource(ctx context.Context, c authz.Caller, body []byte) (any, error) {
	var s Search
	if err := decode(body, &s); err != nil {
		return nil, err
	}
	if err := checkEntity("subject", s.Subject, TypeUser); err != nil {
		return nil, err
	}
	if err := checkAction(s.Action); err != nil {
		return nil, err
	}
	if s.Resource == nil || s.Resource.Type != TypeProject {
		return nil, failure.InvalidArgument("resource.type", "must be %s", TypeProject)
	}
	after, err := pageAfter(s)
	if err != nil {
		return nil, err
	}
	out := &searchResponse{Results: []result{}}
	if active, err := user.Active(ctx, h.db, c.InstanceID, s.Subject.ID); err != nil || !active {
		return out, err
	}
	ids, err := project.ProjectsWithRole(ctx, h.db, c.InstanceID, s.Subject.ID, s.Action.Name, after, pageSize)
	if err != nil {
		return nil, err
	}
	var readable []string
	for _, id := range ids {
		if _, ok, err := h.readableProject(ctx, c, id); err != nil {
			return nil, err
		} else if ok {
			readable = append(readable, id)
		}
	}
	page(out, readable, TypeProject)
	if len(ids) == pageSize {
		out.Page.NextToken = base64.RawURLEncoding.EncodeToString([]byte(ids[len(ids)-1]))
	}
	return out, nil
}

// searchAction lists the roles a user holds in a project, or the
// permissions it holds on an organization.
func (h *Handler) searchAction(ctx context.Context, c authz.Caller, body []byte) (any, error) {
	var s Search
	if err := decode(body, &s); err != nil {
		return nil, err
	}
	if err := checkEntity("subject", s.Subject, TypeUser); err != nil {
		return nil, err
	}
	if err := checkEntity("resource", s.Resource, TypeProject, TypeOrganization); err != nil {
		return nil, err
	}
	out := &searchResponse{Results: []result{}}
	active, err := user.Active(ctx, h.db, c.InstanceID, s.Subject.ID)
	if err != nil || !active {
		return out, err
	}
	var names []string
	switch s.Resource.Type {
	case TypeProject:
		p, ok, err := h.readableProject(ctx, c, s.Resource.ID)
		if err != nil || !ok {
			return out, err
		}
		held, err := project.RolesOf(ctx, h.db, c.InstanceID, s.Subject.ID, []string{p.ID})
		if err != nil {
			return nil, err
		}
		for _, r := range held[p.ID] {
			names = append(names, r.Role)
		}
	case TypeOrganization:
		if !c.Can(authz.MemberRead, authz.Org(s.Resource.ID)) {
			return out, nil
		}
		subject, err := member.LoadCaller(ctx, h.db, c.InstanceID, s.Subject.ID)
		if err != nil {
			return nil, err
		}
		for _, p := range authz.Roles[authz.InstanceOwner] { // the owner holds every permission
			if subject.Can(p, authz.Org(s.Resource.ID)) {
				names = append(names, string(p))
			}
		}
	}
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		out.Results = append(out.Results, result{Name: n})
	}
	return out, nil
}

package userschema

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/castellan-iam/castellan/internal/failure"
)

// The bounds on the work of one validation; "Bounded work" in the package
// documentation explains them.
const (
	// MaxSchemaCost bounds the cost of a schema: the schema checks one value
	// of the traits may take, in the worst case over all traits of at most
	// MaxTraitsDepth levels. Compile refuses a schema above it.
	MaxSchemaCost = 1000
	// MaxValidationCost bounds the schema checks of one validation: the
	// number of values in the traits times the schema's cost.
	MaxValidationCost = 1 << 17
)

const (
	// comparisonsPerCheck is how many required names, or JSON values of an
	// "enum" or "const", count as one schema check: looking a name up or
	// comparing a value costs a small fraction of visiting a subschema.
	comparisonsPerCheck = 16
	// maxAnalysisSteps bounds the work of computing a schema's cost.
	maxAnalysisSteps = 1 << 20
	// unboundedCost is the cost of a schema whose validation has no useful
	// bound: it is above every budget, so no traits are validated with it.
	unboundedCost = math.MaxUint64
)

// costNode is a compiled subschema as the cost analysis sees it: the
// subschemas the validator applies to the same value (inPlace) and those
// it applies to the members and items of an object or array.
type costNode struct {
	schema        *jsonschema.Schema
	weight        uint64 // checks of one visit
	inPlace       []int
	properties    map[string]int
	patterns      []costPattern
	additional    int // -1 when absent, as for the other single targets
	unevalProps   int
	propertyNames int
	prefixItems   []int
	items         int
	contains      int
	unevalItems   int
}

type costPattern struct {
	re     jsonschema.Regexp
	target int
}

// costVisit is how many times a subschema is applied to one value.
type costVisit struct {
	node  int
	count uint64
}

// costError is why a schema's cost is unbounded or above MaxSchemaCost.
type costError struct {
	schemaPointer string
	message       string
}

func (e *costError) failure() *failure.Error {
	return failure.InvalidArgument(e.schemaPointer, "%s", e.message)
}

// costAnalysis computes the cost of a compiled schema: the largest number
// of schema checks the validator may make on one value of traits at most
// MaxTraitsDepth levels deep, counting every subschema visit (each "$ref",
// "allOf", "anyOf", "oneOf", "not", "if", "then", "else" and
// "dependentSchemas" branch, as if all were taken), one more per
// comparisonsPerCheck required names or JSON values of "enum" and "const",
// and one check per member or item for each subschema applied to its object
// or array (plus one per "patternProperties" regular expression, and the
// "propertyNames" checks of its name).
type costAnalysis struct {
	nodes   []costNode
	index   map[*jsonschema.Schema]int
	anchors map[string][]*jsonschema.Schema // dynamic anchors by name
	rank    []int                           // topological order of the in-place graph
	memo    map[string]costResult
	limit   uint64
	steps   int
}

type costResult struct{ own, below uint64 }

// schemaCost returns the cost of the schema compiled as root, or
// unboundedCost and the reason when it exceeds limit, when subschemas apply
// to the same value in a loop, or when the analysis itself would take more
// than maxAnalysisSteps. anchors are the compiled subschemas that declare a
// "$dynamicAnchor", which a "$dynamicRef" may reach without a static edge.
func schemaCost(root *jsonschema.Schema, anchors []*jsonschema.Schema, limit uint64) (uint64, *costError) {
	a := &costAnalysis{
		index:   map[*jsonschema.Schema]int{},
		anchors: map[string][]*jsonschema.Schema{},
		memo:    map[string]costResult{},
		limit:   limit,
	}
	for _, s := range anchors {
		a.anchors[s.DynamicAnchor] = append(a.anchors[s.DynamicAnchor], s)
	}
	if err := a.build(root); err != nil {
		return unboundedCost, err
	}
	if err := a.order(); err != nil {
		return unboundedCost, err
	}
	r, err := a.value([]costVisit{{node: 0, count: 1}}, 1, "")
	if err != nil {
		return unboundedCost, err
	}
	return max(r.own, r.below), nil
}

// build numbers every subschema reachable from root, root being 0.
func (a *costAnalysis) build(root *jsonschema.Schema) *costError {
	a.add(root)
	for i := 0; i < len(a.nodes); i++ {
		if err := a.link(i); err != nil {
			return err
		}
	}
	return nil
}

func (a *costAnalysis) add(s *jsonschema.Schema) int {
	if s == nil {
		return -1
	}
	if i, ok := a.index[s]; ok {
		return i
	}
	i := len(a.nodes)
	a.index[s] = i
	a.nodes = append(a.nodes, costNode{schema: s})
	return i
}

func (a *costAnalysis) link(i int) *costError {
	s := a.nodes[i].schema
	if s.RecursiveRef != nil || s.ContentSchema != nil || len(s.Extensions) > 0 {
		// Draft 2019-09 and content assertion are never enabled, and no
		// vocabulary is registered: a schema with these would be outside
		// what this analysis knows.
		return &costError{schemaLocation(s), "the schema uses a keyword whose cost cannot be bounded"}
	}
	n := costNode{schema: s, additional: -1, unevalProps: -1, propertyNames: -1, items: -1, contains: -1, unevalItems: -1}
	// Comparing a value with an enum value or the const stops at the
	// first difference, so it takes at most as many steps as the latter
	// holds JSON values.
	comparisons := uint64(len(s.Required))
	if s.Enum != nil {
		for _, e := range s.Enum.Values {
			comparisons += scanValues(e).values
		}
	}
	if s.Const != nil {
		comparisons += scanValues(*s.Const).values
	}
	n.weight = 1 + (comparisons+comparisonsPerCheck-1)/comparisonsPerCheck
	inPlace := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else}
	inPlace = append(inPlace, s.AllOf...)
	inPlace = append(inPlace, s.AnyOf...)
	inPlace = append(inPlace, s.OneOf...)
	if d := s.DynamicRef; d != nil {
		// At run time the reference goes to one schema: its static target
		// or, if that declares the anchor, the outermost schema in scope
		// that declares it too. Any of them may be the one, and counting
		// each distinct candidate is an upper bound.
		targets := []*jsonschema.Schema{d.Ref}
		if d.Anchor != "" && d.Ref != nil && d.Ref.DynamicAnchor == d.Anchor {
			for _, t := range a.anchors[d.Anchor] {
				if !slices.Contains(targets, t) {
					targets = append(targets, t)
				}
			}
		}
		inPlace = append(inPlace, targets...)
	}
	for _, name := range sortedKeys(s.DependentSchemas) {
		inPlace = append(inPlace, s.DependentSchemas[name])
	}
	for _, name := range sortedKeys(s.Dependencies) {
		if dep, ok := s.Dependencies[name].(*jsonschema.Schema); ok {
			inPlace = append(inPlace, dep)
		}
	}
	for _, t := range inPlace {
		if t != nil {
			n.inPlace = append(n.inPlace, a.add(t))
		}
	}

	if len(s.Properties) > 0 {
		n.properties = make(map[string]int, len(s.Properties))
		for _, name := range sortedKeys(s.Properties) {
			n.properties[name] = a.add(s.Properties[name])
		}
	}
	patterns := make([]jsonschema.Regexp, 0, len(s.PatternProperties))
	for re := range s.PatternProperties {
		patterns = append(patterns, re)
	}
	slices.SortFunc(patterns, func(x, y jsonschema.Regexp) int { return strings.Compare(x.String(), y.String()) })
	for _, re := range patterns {
		n.patterns = append(n.patterns, costPattern{re: re, target: a.add(s.PatternProperties[re])})
	}
	if ap, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		n.additional = a.add(ap)
	}
	n.unevalProps = a.add(s.UnevaluatedProperties)
	n.propertyNames = a.add(s.PropertyNames)

	for _, p := range s.PrefixItems {
		n.prefixItems = append(n.prefixItems, a.add(p))
	}
	n.items = a.add(s.Items2020)
	switch items := s.Items.(type) { // draft 2019-09 and earlier
	case *jsonschema.Schema:
		n.items = a.add(items)
	case []*jsonschema.Schema:
		for _, p := range items {
			n.prefixItems = append(n.prefixItems, a.add(p))
		}
		if ai, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			n.items = a.add(ai)
		}
	}
	n.contains = a.add(s.Contains)
	n.unevalItems = a.add(s.UnevaluatedItems)
	a.nodes[i] = n
	return nil
}

// order ranks the nodes so that every in-place edge goes from a lower rank
// to a higher one. A cycle of in-place edges applies a subschema to the
// value it is already checking; the validator then stops with a reference
// loop, but the number of paths around the loop can still be exponential,
// and no such loop ever accepts a value, so it is refused.
func (a *costAnalysis) order() *costError {
	const (
		unvisited = iota
		active
		done
	)
	state := make([]uint8, len(a.nodes))
	a.rank = make([]int, len(a.nodes))
	next := len(a.nodes)
	type frame struct{ node, edge int }
	for start := range a.nodes {
		if state[start] != unvisited {
			continue
		}
		stack := []frame{{start, 0}}
		state[start] = active
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			edges := a.nodes[top.node].inPlace
			if top.edge == len(edges) {
				state[top.node] = done
				next--
				a.rank[top.node] = next
				stack = stack[:len(stack)-1]
				continue
			}
			t := edges[top.edge]
			top.edge++
			switch state[t] {
			case active:
				return &costError{schemaLocation(a.nodes[top.node].schema), "the schema applies a subschema to the value it is already checking, in a loop of \"$ref\", \"$dynamicRef\" or applicators that never reaches a member or item; such a loop never accepts a value"}
			case unvisited:
				state[t] = active
				stack = append(stack, frame{t, 0})
			}
		}
	}
	return nil
}

// closure applies in-place edges to entries: how often each subschema is
// visited for one value. The result is in topological order.
func (a *costAnalysis) closure(entries []costVisit) []costVisit {
	counts := map[int]uint64{}
	var reached []int
	stack := make([]int, 0, len(entries))
	for _, e := range entries {
		if _, ok := counts[e.node]; !ok {
			counts[e.node] = 0
			reached = append(reached, e.node)
			stack = append(stack, e.node)
		}
	}
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, t := range a.nodes[u].inPlace {
			a.steps++
			if _, ok := counts[t]; !ok {
				counts[t] = 0
				reached = append(reached, t)
				stack = append(stack, t)
			}
		}
	}
	for _, e := range entries {
		counts[e.node] = satAdd(counts[e.node], e.count)
	}
	slices.SortFunc(reached, func(x, y int) int { return a.rank[x] - a.rank[y] })
	out := make([]costVisit, len(reached))
	for i, u := range reached {
		c := counts[u]
		for _, t := range a.nodes[u].inPlace {
			counts[t] = satAdd(counts[t], c)
		}
		out[i] = costVisit{u, c}
	}
	a.steps += len(reached)
	return out
}

func (a *costAnalysis) units(visits []costVisit) uint64 {
	var total uint64
	for _, v := range visits {
		total = satAdd(total, satMul(v.count, a.nodes[v.node].weight))
	}
	return total
}

// value returns the checks of one value reached by entries at nesting
// level (the traits object is level 1), and the most checks of any value
// below it. pointer names the value for error messages ("*" is any member
// or item).
func (a *costAnalysis) value(entries []costVisit, level int, pointer string) (costResult, *costError) {
	key := memoKey(entries, level)
	if r, ok := a.memo[key]; ok {
		return r, nil
	}
	if a.steps > maxAnalysisSteps {
		return costResult{}, &costError{"", fmt.Sprintf("the schema is too complex to bound the cost of its validation (more than %d steps of analysis)", maxAnalysisSteps)}
	}
	visits := a.closure(entries)
	r := costResult{own: a.units(visits)}
	if r.own > a.limit {
		return costResult{}, a.exceeded(entries, pointer)
	}
	if level > MaxTraitsDepth {
		a.memo[key] = r // values here are scalars
		return r, nil
	}

	child := func(entries []costVisit, incoming uint64, token string) *costError {
		a.steps++
		cr := costResult{}
		if len(entries) > 0 {
			var err *costError
			if cr, err = a.value(entries, level+1, pointer+"/"+token); err != nil {
				return err
			}
		}
		worst := max(satAdd(cr.own, incoming), cr.below)
		if worst > a.limit {
			return a.exceeded(entries, pointer+"/"+token)
		}
		r.below = max(r.below, worst)
		return nil
	}

	// Members of an object. Each subschema applied to the object looks at
	// each member once, and matches its name against every pattern.
	var memberCost uint64
	var names []string
	var propertyNames []costVisit
	for _, v := range visits {
		n := &a.nodes[v.node]
		memberCost = satAdd(memberCost, satMul(v.count, 1+uint64(len(n.patterns))))
		for name := range n.properties {
			names = append(names, name)
		}
		if n.propertyNames >= 0 {
			propertyNames = append(propertyNames, costVisit{n.propertyNames, v.count})
		}
	}
	if len(propertyNames) > 0 {
		memberCost = satAdd(memberCost, a.units(a.closure(propertyNames)))
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, name := range names {
		var next []costVisit
		a.steps += len(visits)
		for _, v := range visits {
			n := &a.nodes[v.node]
			t, declared := n.properties[name]
			if declared {
				next = append(next, costVisit{t, v.count})
			}
			matched := declared
			for _, p := range n.patterns {
				a.steps++
				if p.re.MatchString(name) {
					matched = true
					next = append(next, costVisit{p.target, v.count})
				}
			}
			if !matched && n.additional >= 0 {
				next = append(next, costVisit{n.additional, v.count})
			}
			if n.unevalProps >= 0 {
				next = append(next, costVisit{n.unevalProps, v.count})
			}
		}
		if err := child(next, memberCost, escapeToken(name)); err != nil {
			return costResult{}, err
		}
	}
	// Any other member: every pattern may match, and otherwise
	// "additionalProperties" applies; both are counted.
	var other []costVisit
	for _, v := range visits {
		n := &a.nodes[v.node]
		for _, p := range n.patterns {
			other = append(other, costVisit{p.target, v.count})
		}
		for _, t := range []int{n.additional, n.unevalProps} {
			if t >= 0 {
				other = append(other, costVisit{t, v.count})
			}
		}
	}
	if err := child(other, memberCost, "*"); err != nil {
		return costResult{}, err
	}

	// Items of an array.
	var itemCost uint64
	prefix := 0
	for _, v := range visits {
		itemCost = satAdd(itemCost, v.count)
		prefix = max(prefix, len(a.nodes[v.node].prefixItems))
	}
	for i := 0; i <= prefix; i++ { // i == prefix: every later item
		var next []costVisit
		for _, v := range visits {
			n := &a.nodes[v.node]
			targets := []int{n.contains, n.unevalItems}
			if i < len(n.prefixItems) {
				targets = append(targets, n.prefixItems[i])
			} else {
				targets = append(targets, n.items)
			}
			for _, t := range targets {
				if t >= 0 {
					next = append(next, costVisit{t, v.count})
				}
			}
		}
		token := "*"
		if i < prefix {
			token = fmt.Sprint(i)
		}
		if err := child(next, itemCost, token); err != nil {
			return costResult{}, err
		}
	}
	a.memo[key] = r
	return r, nil
}

// exceeded reports the cost limit, naming the subschema among entries that
// contributes the most checks.
func (a *costAnalysis) exceeded(entries []costVisit, pointer string) *costError {
	at, most := "", uint64(0)
	for _, e := range entries {
		if u := a.units(a.closure([]costVisit{e})); u >= most {
			at, most = schemaLocation(a.nodes[e.node].schema), u
		}
	}
	if pointer == "" {
		pointer = "/"
	}
	return &costError{at, fmt.Sprintf("checking one value of the traits (%s) could take more than %d schema checks, and a schema may take at most %d: every subschema applied to a value is a check (through \"$ref\", \"allOf\", \"anyOf\", \"oneOf\" …), and references to references multiply them; apply fewer subschemas to the same value", pointer, a.limit, MaxSchemaCost)}
}

// schemaLocation is the location of a compiled subschema in the schema document.
func schemaLocation(s *jsonschema.Schema) string {
	return fragmentOf(s.Location)
}

func memoKey(entries []costVisit, level int) string {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(x, y costVisit) int { return x.node - y.node })
	buf := binary.AppendUvarint(nil, uint64(level))
	for i := 0; i < len(sorted); {
		node, count := sorted[i].node, uint64(0)
		for ; i < len(sorted) && sorted[i].node == node; i++ {
			count = satAdd(count, sorted[i].count)
		}
		buf = binary.AppendUvarint(buf, uint64(node))
		buf = binary.AppendUvarint(buf, count)
	}
	return string(buf)
}

func satAdd(x, y uint64) uint64 {
	if s := x + y; s >= x {
		return s
	}
	return math.MaxUint64
}

func satMul(x, y uint64) uint64 {
	if x == 0 || y == 0 {
		return 0
	}
	if x > math.MaxUint64/y {
		return math.MaxUint64
	}
	return x * y
}

// Package dfa answers whether a regular expression matches a byte string
// (regexp.Regexp.Match), faster than the regexp package for the patterns
// grep is given: it runs a deterministic automaton built lazily from the
// expression's program, one state per set of the program's instructions,
// so that each input rune costs a table look-up instead of the regexp
// package's backtracking or NFA simulation over every thread. Where every
// match starts with a literal prefix, it skips to the prefix's next
// occurrence (bytes.Index) whenever no match is in progress.
//
// Measured on the bench's text (scripts/bench.sh, lines of about 100
// bytes, some non-ASCII): see BenchmarkMatch; grep on MinIO spends most of
// its workers' CPU in Match.
//
// Expressions with empty-width assertions (^, $, \A, \z, \b, \B) are
// left to the regexp package, as are long expressions and those whose
// automaton grows past its bounds (maxStates, maxSteps, maxClasses):
// Match is then regexp's.
package dfa

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"slices"
	"unicode/utf8"
)

const (
	// maxStates and maxSteps bound the automaton (its states and the
	// transitions built): past either a Matcher leaves the rest of its
	// input to the regexp package. Building a transition costs a walk
	// of the program, so maxInsts bounds the programs handled at all:
	// a Matcher spends at most about maxSteps x maxInsts steps building.
	maxStates = 4096
	maxSteps  = 1 << 14
	maxInsts  = 1000
	// maxClasses bounds the classes of runes told apart.
	maxClasses = 256
	// runeCacheSize is the number of non-ASCII runes whose class is
	// remembered (direct-mapped).
	runeCacheSize = 1024
)

// Matcher reports whether a regular expression matches a byte string. It
// is not safe for concurrent use: it builds its automaton as it reads.
type Matcher struct {
	re *regexp.Regexp
	// literal, when set, is the whole expression: a match is an
	// occurrence of it.
	literal []byte
	// prefix starts every match (nil: none is known).
	prefix []byte
	d      *automaton // nil: Match is re's
}

// New returns a Matcher of re.
func New(re *regexp.Regexp) *Matcher {
	m := &Matcher{re: re}
	if p, complete := re.LiteralPrefix(); complete {
		m.literal = []byte(p)
		return m
	} else if p != "" {
		m.prefix = []byte(p)
	}
	parsed, err := syntax.Parse(re.String(), syntax.Perl) // as regexp.Compile parses
	if err != nil {
		return m
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return m
	}
	m.d = newAutomaton(prog)
	return m
}

// Match reports whether b holds a match of the expression, as
// regexp.Regexp.Match does.
func (m *Matcher) Match(b []byte) bool {
	if m.literal != nil {
		return bytes.Contains(b, m.literal)
	}
	if m.d == nil {
		return m.re.Match(b)
	}
	match, ok := m.d.match(b, m.prefix)
	if !ok {
		m.d = nil // grew past its bounds
		return m.re.Match(b)
	}
	return match
}

// automaton is the lazily built DFA of an unanchored search for prog.
type automaton struct {
	prog *syntax.Prog
	// runeInsts are the program's rune-consuming instructions; a class of
	// runes is the set of them a rune satisfies (sig), and two runes of
	// one class lead every state to the same next state.
	runeInsts []uint32
	instBit   []int // pc -> index in runeInsts
	classes   map[string]int32
	classSig  [][]bool
	ascii     [utf8.RuneSelf]int32
	cache     [runeCacheSize]struct {
		r   rune
		cls int32
	}

	states []state
	steps  int              // transitions built
	index  map[string]int32 // a state's instruction set -> its number
	start  []uint32         // the closure of the program's start

	// scratch for step and classOf
	sigKey []byte
	seen   []bool
	set    []uint32
	key    []byte
}

type state struct {
	insts []uint32 // sorted: the rune-consuming and match instructions
	match bool
	next  []int32 // by class; -1: not built yet
}

// newAutomaton returns the automaton of prog, or nil when prog has an
// instruction it does not handle (empty-width assertions).
func newAutomaton(prog *syntax.Prog) *automaton {
	if len(prog.Inst) > maxInsts {
		return nil
	}
	d := &automaton{prog: prog, instBit: make([]int, len(prog.Inst)), classes: map[string]int32{},
		index: map[string]int32{}, seen: make([]bool, len(prog.Inst))}
	for pc, inst := range prog.Inst {
		d.instBit[pc] = -1
		switch inst.Op {
		case syntax.InstEmptyWidth:
			return nil
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			d.instBit[pc] = len(d.runeInsts)
			d.runeInsts = append(d.runeInsts, uint32(pc))
		}
	}
	for c := range rune(utf8.RuneSelf) {
		cls, ok := d.classOf(c)
		if !ok {
			return nil
		}
		d.ascii[c] = cls
	}
	for i := range d.cache {
		d.cache[i].r = -1
	}
	d.set = d.closure(d.set[:0], uint32(prog.Start))
	d.start = slices.Clone(d.set)
	if _, ok := d.intern(d.set); !ok {
		return nil
	}
	return d
}

// classOf returns r's class, adding one when r is the first of its kind.
func (d *automaton) classOf(r rune) (int32, bool) {
	key := d.sigKey[:0]
	for _, pc := range d.runeInsts {
		b := byte(0)
		if matchRune(&d.prog.Inst[pc], r) {
			b = 1
		}
		key = append(key, b)
	}
	d.sigKey = key
	if c, ok := d.classes[string(key)]; ok {
		return c, true
	}
	if len(d.classSig) >= maxClasses {
		return 0, false
	}
	sig := make([]bool, len(key))
	for i, b := range key {
		sig[i] = b == 1
	}
	c := int32(len(d.classSig))
	d.classes[string(key)] = c
	d.classSig = append(d.classSig, sig)
	return c, true
}

func matchRune(inst *syntax.Inst, r rune) bool {
	switch inst.Op {
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return r != '\n'
	}
	return inst.MatchRune(r)
}

// nonASCII returns the class of a rune past ASCII.
func (d *automaton) nonASCII(r rune) (int32, bool) {
	e := &d.cache[r&(runeCacheSize-1)]
	if e.r == r {
		return e.cls, true
	}
	cls, ok := d.classOf(r)
	if ok {
		e.r, e.cls = r, cls
	}
	return cls, ok
}

// closure adds to set the instructions reachable from pc without
// consuming input that consume a rune or match; set is sorted on return.
func (d *automaton) closure(set []uint32, pcs ...uint32) []uint32 {
	clear(d.seen)
	for _, pc := range set {
		d.seen[pc] = true
	}
	var walk func(pc uint32)
	walk = func(pc uint32) {
		if d.seen[pc] {
			return
		}
		d.seen[pc] = true
		inst := &d.prog.Inst[pc]
		switch inst.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			walk(inst.Out)
			walk(inst.Arg)
		case syntax.InstNop, syntax.InstCapture:
			walk(inst.Out)
		case syntax.InstMatch, syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			set = append(set, pc)
		}
	}
	for _, pc := range pcs {
		walk(pc)
	}
	slices.Sort(set)
	return set
}

// intern returns the number of the state of set, made if new.
func (d *automaton) intern(set []uint32) (int32, bool) {
	d.key = d.key[:0]
	for _, pc := range set {
		d.key = append(d.key, byte(pc), byte(pc>>8), byte(pc>>16), byte(pc>>24))
	}
	if s, ok := d.index[string(d.key)]; ok {
		return s, true
	}
	if len(d.states) >= maxStates {
		return 0, false
	}
	st := state{insts: slices.Clone(set)}
	for _, pc := range set {
		if d.prog.Inst[pc].Op == syntax.InstMatch {
			st.match = true
		}
	}
	s := int32(len(d.states))
	d.index[string(d.key)] = s
	d.states = append(d.states, st)
	return s, true
}

// step builds the transition of state s on class cls: the next
// instructions of those in s that cls satisfies, and the start again (an
// unanchored search may begin a match at every rune).
func (d *automaton) step(s, cls int32) (int32, bool) {
	if d.steps++; d.steps > maxSteps {
		return 0, false
	}
	sig := d.classSig[cls]
	next := d.set[:0]
	var outs []uint32
	for _, pc := range d.states[s].insts {
		if b := d.instBit[pc]; b >= 0 && sig[b] {
			outs = append(outs, d.prog.Inst[pc].Out)
		}
	}
	outs = append(outs, uint32(d.prog.Start))
	next = d.closure(next, outs...)
	d.set = next
	ns, ok := d.intern(next)
	if !ok {
		return 0, false
	}
	st := &d.states[s]
	for int(cls) >= len(st.next) {
		st.next = append(st.next, -1)
	}
	st.next[cls] = ns
	return ns, true
}

// match runs the automaton over b; ok is false when it grew past its
// bounds (the answer is then unknown). prefix, when not nil, starts every
// match.
func (d *automaton) match(b, prefix []byte) (match, ok bool) {
	if d.states[0].match {
		return true, true
	}
	s := int32(0)
	for i := 0; i < len(b); {
		if s == 0 && prefix != nil {
			j := bytes.Index(b[i:], prefix)
			if j < 0 {
				return false, true
			}
			i += j
		}
		var cls int32
		w := 1
		if c := b[i]; c < utf8.RuneSelf {
			cls = d.ascii[c]
		} else {
			var r rune
			r, w = utf8.DecodeRune(b[i:])
			if cls, ok = d.nonASCII(r); !ok {
				return false, false
			}
		}
		ns := int32(-1)
		if next := d.states[s].next; int(cls) < len(next) {
			ns = next[cls]
		}
		if ns < 0 {
			if ns, ok = d.step(s, cls); !ok {
				return false, false
			}
		}
		s = ns
		i += w
		if d.states[s].match {
			return true, true
		}
	}
	return false, true
}

package manifest

import (
	"fmt"
	"maps"
	"math/big"
	"strconv"
	"strings"
)

// RejectedDir is the directory under the output prefix that holds the
// committed rejected-record files; like _fanout/ it starts with "_", so
// that Hive, Spark and fanout's own listings skip it.
const RejectedDir = "_rejected"

// RejectedKey is the committed key of a rejected-record file.
func (l Layout) RejectedKey(file string) string { return l.Prefix + RejectedDir + "/" + file }

// check reports negative counts and bad files.
func (r *Rejections) check() error {
	if r.Rejected < 0 {
		return fmt.Errorf("rejected %d is negative", r.Rejected)
	}
	if r.Skipped < 0 {
		return fmt.Errorf("skipped %d is negative", r.Skipped)
	}
	for _, m := range []map[string]int64{r.RejectedByRule, r.RejectedByColumn, r.Counters} {
		for k, n := range m {
			if n < 0 {
				return fmt.Errorf("count %q is negative (%d)", truncate(k, 40), n)
			}
		}
	}
	for obj, d := range r.Drift {
		for _, m := range []map[string]int64{d.Filled, d.Dropped, d.AsJSON} {
			for k, n := range m {
				if n < 0 {
					return fmt.Errorf("drift of %q: count %q is negative (%d)", truncate(obj, 40), truncate(k, 40), n)
				}
			}
		}
	}
	if err := checkFiles(r.RejectedFiles); err != nil {
		return fmt.Errorf("rejected %w", err)
	}
	return nil
}

// Add adds o's counts and files to r.
func (r *Rejections) Add(o Rejections) {
	r.Rejected += o.Rejected
	r.Skipped += o.Skipped
	r.RejectedByRule = addCounts(r.RejectedByRule, o.RejectedByRule)
	r.RejectedByColumn = addCounts(r.RejectedByColumn, o.RejectedByColumn)
	r.Counters = addCounts(r.Counters, o.Counters)
	r.RejectedFiles = append(r.RejectedFiles, o.RejectedFiles...)
	for obj, d := range o.Drift {
		r.AddDrift(obj, d)
	}
}

// AddDrift adds the drift counts d of the object obj.
func (r *Rejections) AddDrift(obj string, d ObjectDrift) {
	if len(d.Filled) == 0 && len(d.Dropped) == 0 && len(d.AsJSON) == 0 {
		return
	}
	if r.Drift == nil {
		r.Drift = map[string]ObjectDrift{}
	}
	have := r.Drift[obj]
	have.Filled = addCounts(have.Filled, d.Filled)
	have.Dropped = addCounts(have.Dropped, d.Dropped)
	have.AsJSON = addCounts(have.AsJSON, d.AsJSON)
	r.Drift[obj] = have
}

func addCounts(dst, src map[string]int64) map[string]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]int64, len(src))
	}
	for k, n := range src {
		dst[k] += n
	}
	return dst
}

// Clone returns a copy of r that shares nothing with it.
func (r Rejections) Clone() Rejections {
	r.RejectedByRule = maps.Clone(r.RejectedByRule)
	r.RejectedByColumn = maps.Clone(r.RejectedByColumn)
	r.Counters = maps.Clone(r.Counters)
	r.RejectedFiles = append([]OutputFile(nil), r.RejectedFiles...)
	drift := r.Drift
	r.Drift = nil
	for obj, d := range drift {
		r.AddDrift(obj, d)
	}
	return r
}

// ParseMaxRejected turns a rejected-record tolerance into the number of
// records (out of records read) that may be rejected while the job still
// commits: "" allows any number (-1), "N" allows N, and "P%" allows
// floor(P*records/100), P being a decimal number from 0 to 100, computed
// exactly.
func ParseMaxRejected(s string, records int64) (allowed int64, err error) {
	if records < 0 {
		return 0, fmt.Errorf("manifest: max rejected: negative record count %d", records)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return -1, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		r, ok := new(big.Rat).SetString(p)
		if !isDecimal(p) || !ok {
			return 0, fmt.Errorf("manifest: max rejected %q: want N or P%% with P a decimal from 0 to 100", truncate(s, 40))
		}
		if r.Cmp(big.NewRat(100, 1)) > 0 {
			return 0, fmt.Errorf("manifest: max rejected %q: more than 100%%", truncate(s, 40))
		}
		r.Mul(r, new(big.Rat).SetInt64(records))
		r.Quo(r, big.NewRat(100, 1))
		return new(big.Int).Quo(r.Num(), r.Denom()).Int64(), nil
	}
	if !isDigits(s) {
		return 0, fmt.Errorf("manifest: max rejected %q: want N or P%% with N a non-negative integer", truncate(s, 40))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("manifest: max rejected %q: %w", truncate(s, 40), err)
	}
	return n, nil
}

// Package sketch holds the mergeable summaries an aggregating function
// can keep as its partial state: Distinct, a HyperLogLog distinct count,
// and Quantiles, a t-digest of a numeric distribution. Both are what
// fanout profile computes (functions/profile uses them), with the errors
// it states. A function's Map adds values to one sketch per group, writes
// each sketch's bytes (MarshalBinary) into a Binary column of its partial
// row, Merge unmarshals two states, merges them and writes the result back,
// and Finish turns the state into a number:
//
//	d, _ := sketch.DistinctFrom([]byte(acc[1].S))
//	in, _ := sketch.DistinctFrom([]byte(row[1].S))
//	d.Merge(in)
//	b, _ := d.MarshalBinary()
//	acc[1].S = string(b)
//
// A merge gives the same estimate whatever order and grouping the states
// are merged in (HyperLogLog registers take the maximum); a t-digest's
// centroids may differ with the order, within its error.
package sketch

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/axiomhq/hyperloglog"
	"github.com/dgryski/go-metro"
	"github.com/influxdata/tdigest"
)

const (
	// DistinctError is Distinct's relative standard error: 1.04/sqrt(2^14)
	// for its 2^14 registers. About 68% of estimates fall within it and
	// 99.7% within three times it; counts up to a few hundred are
	// estimated from the sparse representation and come out (nearly)
	// exact.
	DistinctError = 0.0081
	// Compression is Quantiles' t-digest compression: the rank error of a
	// quantile is well under 1% in the middle of the distribution and
	// smaller in the tails.
	Compression = 200
)

// Distinct estimates how many distinct values it was given: a
// HyperLogLog with 2^14 registers (github.com/axiomhq/hyperloglog),
// values hashed with metro (seed 1337, as the library's Insert does).
// It holds at most 16 KiB however many values it sees. The zero value is
// not ready: use NewDistinct or DistinctFrom.
type Distinct struct {
	h *hyperloglog.Sketch
}

// NewDistinct returns an empty sketch that starts sparse: a few bytes
// per value seen while it has few, and (nearly) exact up to a few hundred
// values. A sketch that will see thousands of values is faster built
// with NewDenseDistinct.
func NewDistinct() *Distinct { return &Distinct{h: hyperloglog.New14()} }

// NewDenseDistinct returns an empty sketch with its 2^14 registers from
// the start: no sparse phase, whose re-sorting of its temporary set costs
// time every few hundred values.
func NewDenseDistinct() *Distinct { return &Distinct{h: hyperloglog.NewNoSparse()} }

// DistinctFrom reads a sketch that MarshalBinary wrote; empty b is an
// empty sketch.
func DistinctFrom(b []byte) (*Distinct, error) {
	d := NewDistinct()
	if len(b) == 0 {
		return d, nil
	}
	if err := d.h.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("sketch: reading a distinct count's state: %w", err)
	}
	return d, nil
}

// Add counts s.
func (d *Distinct) Add(s string) { d.h.InsertHash(metro.Hash64Str(s, 1337)) }

// Merge adds the values other counted.
func (d *Distinct) Merge(other *Distinct) error {
	if err := d.h.Merge(other.h); err != nil {
		return fmt.Errorf("sketch: merging distinct counts: %w", err)
	}
	return nil
}

// Estimate is the estimated number of distinct values added (to this
// sketch and to those merged into it); see DistinctError.
func (d *Distinct) Estimate() uint64 { return d.h.Estimate() }

// MarshalBinary returns the sketch's state, for DistinctFrom.
func (d *Distinct) MarshalBinary() ([]byte, error) { return d.h.MarshalBinary() }

// Quantiles summarises a distribution of numbers: a merging t-digest
// with compression Compression (github.com/influxdata/tdigest). The zero
// value is not ready: use NewQuantiles or QuantilesFrom.
type Quantiles struct {
	d *tdigest.TDigest
}

// NewQuantiles returns an empty digest.
func NewQuantiles() *Quantiles { return &Quantiles{d: tdigest.NewWithCompression(Compression)} }

// QuantilesFrom reads a digest that MarshalBinary wrote (pairs of
// little-endian float64: a centroid's mean and weight); empty b is an
// empty digest.
func QuantilesFrom(b []byte) (*Quantiles, error) {
	if len(b)%16 != 0 {
		return nil, fmt.Errorf("sketch: a quantiles state of %d bytes (want pairs of float64)", len(b))
	}
	q := NewQuantiles()
	for i := 0; i < len(b); i += 16 {
		mean := math.Float64frombits(binary.LittleEndian.Uint64(b[i:]))
		w := math.Float64frombits(binary.LittleEndian.Uint64(b[i+8:]))
		q.d.Add(mean, w)
	}
	return q, nil
}

// Add adds x with weight w (1 for one value; a centroid's weight when a
// digest is rebuilt from its centroids). NaN and infinities are ignored.
func (q *Quantiles) Add(x, w float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	q.d.Add(x, w)
}

// Merge adds other's centroids.
func (q *Quantiles) Merge(other *Quantiles) {
	for _, c := range other.d.Centroids() {
		q.d.Add(c.Mean, c.Weight)
	}
}

// Quantile returns the estimated value below which a fraction p (0 to 1)
// of the weight lies; NaN for an empty digest.
func (q *Quantiles) Quantile(p float64) float64 { return q.d.Quantile(p) }

// CDF returns the estimated fraction of the weight at or below x.
func (q *Quantiles) CDF(x float64) float64 { return q.d.CDF(x) }

// Count is the total weight added.
func (q *Quantiles) Count() float64 { return q.d.Count() }

// Centroids returns the digest's centroids as (mean, weight) pairs.
func (q *Quantiles) Centroids() [][2]float64 {
	cs := q.d.Centroids()
	out := make([][2]float64, len(cs))
	for i, c := range cs {
		out[i] = [2]float64{c.Mean, c.Weight}
	}
	return out
}

// MarshalBinary returns the digest's centroids, for QuantilesFrom.
func (q *Quantiles) MarshalBinary() ([]byte, error) {
	cs := q.d.Centroids()
	b := make([]byte, 0, 16*len(cs))
	for _, c := range cs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.Mean))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.Weight))
	}
	return b, nil
}

package manifest

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// sizeUnits are the suffixes ParseSize accepts, lowercase, longest first
// among those that share an ending.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseSize reads a positive byte size such as "64MiB", "1.5GB", "512k"
// or "1048576", the form of every size the CLI, the Lambda function's
// environment and the scripts take (chunk sizes, record and decompression
// limits).
//
// Units follow IEC 80000-13: KiB, MiB, GiB and TiB are binary (1024^n);
// KB, MB, GB and TB are decimal (1000^n), as disk and S3 sizes are sold;
// B is one byte. The bare letters K, M, G and T are binary, the meaning
// they have had on the command line. Units are case-insensitive and may
// follow the number after spaces. A fraction is allowed ("1.5GiB") and
// rounds down to whole bytes; exponents, signs, hex and sizes of zero
// bytes or above 2^63-1 bytes are refused.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	if !isDecimal(t) {
		return 0, fmt.Errorf("%q is not a size (a number and a unit: B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, e.g. 64MiB)", s)
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok {
		return 0, fmt.Errorf("%q is not a size (e.g. 64MiB)", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // rounds toward zero: r >= 0
	switch {
	case !n.IsInt64() || n.Int64() > math.MaxInt64:
		return 0, fmt.Errorf("%q is larger than %d bytes", s, int64(math.MaxInt64))
	case n.Sign() <= 0:
		return 0, fmt.Errorf("%q is not a positive size (e.g. 64MiB)", s)
	}
	return n.Int64(), nil
}

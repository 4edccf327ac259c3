package functions

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Decimals are exact, never a float on the way. The representation is
// chosen for speed where the data is: a decimal of up to 18 digits (what
// money and most warehouse columns use) is its unscaled int64 in
// Value.I, parsed, compared and written without allocating; one of 19 to
// 38 digits is 16 bytes of big-endian two's complement in Value.S (what
// Parquet's FIXED_LEN_BYTE_ARRAY(16) holds, so the writer copies it),
// compared bytewise and converted through math/big when parsed or
// printed.

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// DecimalBig returns a decimal value's unscaled integer.
func DecimalBig(v Value) *big.Int {
	if v.Type.Precision() <= 18 {
		return big.NewInt(v.I)
	}
	return fromTwos([]byte(v.S))
}

func fromTwos(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return n
}

// DecimalFromTwos is the decimal of type t whose unscaled integer is the
// big-endian two's complement b (Parquet's BYTE_ARRAY and
// FIXED_LEN_BYTE_ARRAY decimals). It fails when the integer has more
// digits than t's precision.
func DecimalFromTwos(t Type, b []byte) (Value, error) {
	if t.Precision() > 18 && len(b) == 16 {
		v := Value{Type: t, Valid: true, S: string(b)}
		if !fitsDigits(fromTwos(b), t.Precision()) {
			return Value{}, fmt.Errorf("decimal %s has more than %d digits", fromTwos(b), t.Precision())
		}
		return v, nil
	}
	if len(b) <= 8 {
		var u int64
		for _, c := range b {
			u = u<<8 | int64(c)
		}
		if len(b) > 0 && len(b) < 8 && b[0]&0x80 != 0 {
			u -= 1 << (8 * len(b))
		}
		return DecimalFromInt64(t, u)
	}
	return DecimalFromBig(t, fromTwos(b))
}

// DecimalFromInt64 is the decimal of type t with the unscaled integer u.
func DecimalFromInt64(t Type, u int64) (Value, error) {
	p := t.Precision()
	if p <= 18 {
		if u >= pow10[p] || u <= -pow10[p] {
			return Value{}, fmt.Errorf("decimal %d has more than %d digits", u, p)
		}
		return Value{Type: t, Valid: true, I: u}, nil
	}
	return DecimalFromBig(t, big.NewInt(u))
}

// DecimalFromBig is the decimal of type t with the unscaled integer n.
func DecimalFromBig(t Type, n *big.Int) (Value, error) {
	p := t.Precision()
	if !fitsDigits(n, p) {
		return Value{}, fmt.Errorf("decimal %s has more than %d digits", n, p)
	}
	if p <= 18 {
		return Value{Type: t, Valid: true, I: n.Int64()}, nil
	}
	return Value{Type: t, Valid: true, S: string(twos16(n))}, nil
}

func fitsDigits(n *big.Int, p int) bool {
	lim := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)
	return new(big.Int).Abs(n).Cmp(lim) < 0
}

// twos16 is n (|n| < 10^38) as 16 bytes of big-endian two's complement.
func twos16(n *big.Int) []byte {
	m := n
	if n.Sign() < 0 {
		m = new(big.Int).Add(n, new(big.Int).Lsh(big.NewInt(1), 128))
	}
	return m.FillBytes(make([]byte, 16))
}

// AppendDecimal appends a decimal value with all its scale's digits
// ("-1.50" for decimal(5,2)).
func AppendDecimal(b []byte, v Value) []byte {
	var digits string
	neg := false
	if v.Type.Precision() <= 18 {
		u := v.I
		if u < 0 {
			neg, u = true, -u
		}
		digits = strconv.FormatInt(u, 10)
	} else {
		n := DecimalBig(v)
		neg = n.Sign() < 0
		digits = n.Abs(n).String()
	}
	if neg {
		b = append(b, '-')
	}
	s := v.Type.Scale()
	if s == 0 {
		return append(b, digits...)
	}
	if len(digits) <= s {
		digits = strings.Repeat("0", s-len(digits)+1) + digits
	}
	b = append(b, digits[:len(digits)-s]...)
	b = append(b, '.')
	return append(b, digits[len(digits)-s:]...)
}

// ParseDecimal reads text ("-12.5", "+3", "1e3", ".5") as a decimal of
// type t, exactly: digits beyond the scale that are not zeros, or more
// integer digits than precision-scale allow, are an error, never rounded.
func ParseDecimal(t Type, s string) (Value, error) {
	bad := func(why string) (Value, error) {
		return Value{}, fmt.Errorf("cannot parse %s as %v: %s", quoteShort(s), t, why)
	}
	str := s
	neg := false
	if str != "" && (str[0] == '-' || str[0] == '+') {
		neg, str = str[0] == '-', str[1:]
	}
	mant, exp := str, 0
	if i := strings.IndexAny(str, "eE"); i >= 0 {
		e, err := strconv.Atoi(str[i+1:])
		if err != nil || e > 100 || e < -100 {
			return bad("not a decimal number")
		}
		mant, exp = str[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" {
		return bad("not a decimal number")
	}
	digits := intPart + frac
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return bad("not a decimal number")
		}
	}
	// digits * 10^(exp - len(frac)) = unscaled * 10^-scale
	shift := t.Scale() + exp - len(frac)
	if shift < 0 {
		cut := len(digits) + shift
		if cut < 0 {
			cut = 0
		}
		if strings.Trim(digits[cut:], "0") != "" {
			return bad(fmt.Sprintf("more than %d digits after the point", t.Scale()))
		}
		digits = digits[:cut]
	} else if shift > 0 {
		digits += strings.Repeat("0", shift)
	}
	digits = strings.TrimLeft(digits, "0")
	if len(digits) > t.Precision() {
		return bad(fmt.Sprintf("more than %d digits before the point", t.Precision()-t.Scale()))
	}
	if digits == "" {
		digits = "0"
	}
	if t.Precision() <= 18 {
		u, _ := strconv.ParseInt(digits, 10, 64)
		if neg {
			u = -u
		}
		return Value{Type: t, Valid: true, I: u}, nil
	}
	n, _ := new(big.Int).SetString(digits, 10)
	if neg {
		n.Neg(n)
	}
	return Value{Type: t, Valid: true, S: string(twos16(n))}, nil
}

// quoteShort quotes s for an error message, shortening long values.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

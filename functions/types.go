package functions

import (
	"fmt"
	"strconv"
	"strings"
)

// Type is a column's type: a Kind with its parameters (a decimal's
// precision and scale, a time's unit and zone) packed in one comparable
// word, so that the flat paths keep comparing col.Type == Int64 and
// switching on constants, and a Value stays 40 bytes. Layout: bits 0-7
// the Kind, 8-9 the TimeUnit, 10 the UTC flag, 16-23 the precision,
// 24-31 the scale.
//
// Nested types (list, struct, map) are kinds too; their element and
// field types are not in the word but in the Column's Fields (see
// nested.go).
type Type uint32

// Kind is what a Type is without its parameters.
type Kind uint8

const (
	KindString Kind = iota
	KindInt64
	KindFloat64
	KindBool
	KindTimestamp // Value.I: units since 1970-01-01T00:00:00 (UTC for an instant, the wall clock's reading otherwise)
	KindBinary    // Value.S: the bytes
	KindDecimal   // Value.I: the unscaled integer (precision <= 18); Value.S: 16 bytes, big-endian two's complement (precision 19-38)
	KindDate      // Value.I: days since 1970-01-01
	KindTime      // Value.I: units since midnight
	KindFloat32   // Value.F (a float32 widened exactly)
	KindInt8      // Value.I for every integer kind
	KindInt16
	KindInt32
	KindUint8
	KindUint16
	KindUint32
	KindUint64 // Value.I holds the bits: uint64(v.I)
	KindUUID   // Value.S: the 16 bytes
	// KindList, KindStruct and KindMap are nested: their element and
	// field types are in the Column's Fields and a nested Value carries
	// its children in a slice (Value.Items; see nested.go).
	KindList
	KindStruct
	KindMap
	numKinds
)

// TimeUnit is the resolution of a timestamp or time.
type TimeUnit uint8

const (
	Micros TimeUnit = iota // the zero value: fanout's historical unit
	Millis
	Nanos
)

const (
	unitShift  = 8
	utcBit     = 1 << 10
	precShift  = 16
	scaleShift = 24
)

// The types without parameters, and the defaults of the others.
const (
	String  = Type(KindString)
	Int64   = Type(KindInt64)
	Float64 = Type(KindFloat64)
	Bool    = Type(KindBool)
	// Timestamp is an instant in microseconds (timestamptz): what CSV and
	// JSONL inference give and what fanout called timestamp before the
	// wall-clock type existed.
	Timestamp = Type(KindTimestamp) | utcBit
	// LocalTimestamp is a wall-clock reading in microseconds, without a
	// zone (DuckDB's TIMESTAMP).
	LocalTimestamp = Type(KindTimestamp)
	Binary         = Type(KindBinary)
	Date           = Type(KindDate)
	Time           = Type(KindTime) // microseconds of the day, no zone
	Float32        = Type(KindFloat32)
	Int8           = Type(KindInt8)
	Int16          = Type(KindInt16)
	Int32          = Type(KindInt32)
	Uint8          = Type(KindUint8)
	Uint16         = Type(KindUint16)
	Uint32         = Type(KindUint32)
	Uint64         = Type(KindUint64)
	UUID           = Type(KindUUID)
)

// MaxDecimalPrecision is the most digits a decimal holds.
const MaxDecimalPrecision = 38

// DecimalOf is decimal(precision, scale); it panics outside 1 <= precision
// <= 38, 0 <= scale <= precision (ParseType checks user input).
func DecimalOf(precision, scale int) Type {
	if precision < 1 || precision > MaxDecimalPrecision || scale < 0 || scale > precision {
		panic(fmt.Sprintf("functions: decimal(%d,%d) out of range", precision, scale))
	}
	return Type(KindDecimal) | Type(precision)<<precShift | Type(scale)<<scaleShift
}

// TimestampOf is a timestamp of the unit, an instant when utc (timestamptz)
// and a wall-clock reading otherwise.
func TimestampOf(unit TimeUnit, utc bool) Type { return timeType(KindTimestamp, unit, utc) }

// TimeOf is a time of day of the unit (utc: Parquet's isAdjustedToUTC).
func TimeOf(unit TimeUnit, utc bool) Type { return timeType(KindTime, unit, utc) }

func timeType(k Kind, unit TimeUnit, utc bool) Type {
	t := Type(k) | Type(unit&3)<<unitShift
	if utc {
		t |= utcBit
	}
	return t
}

// Kind is the type without its parameters.
func (t Type) Kind() Kind { return Kind(t) }

// Unit is a timestamp's or time's resolution.
func (t Type) Unit() TimeUnit { return TimeUnit(t>>unitShift) & 3 }

// UTC reports whether a timestamp is an instant (timestamptz) or a time
// is adjusted to UTC.
func (t Type) UTC() bool { return t&utcBit != 0 }

// Precision and Scale are a decimal's.
func (t Type) Precision() int { return int(uint8(t >> precShift)) }
func (t Type) Scale() int     { return int(uint8(t >> scaleShift)) }

// IsInteger reports whether t is one of the integer kinds (signed or
// unsigned, any width).
func (t Type) IsInteger() bool {
	k := t.Kind()
	return k == KindInt64 || (k >= KindInt8 && k <= KindUint64)
}

// IsNumeric reports whether values of t are numbers (integers, floats,
// decimals).
func (t Type) IsNumeric() bool {
	k := t.Kind()
	return t.IsInteger() || k == KindFloat64 || k == KindFloat32 || k == KindDecimal
}

// IntRange is the range of an integer type other than uint64 (whose
// values above MaxInt64 do not fit int64).
func (t Type) IntRange() (lo, hi int64) {
	switch t.Kind() {
	case KindInt8:
		return -1 << 7, 1<<7 - 1
	case KindInt16:
		return -1 << 15, 1<<15 - 1
	case KindInt32:
		return -1 << 31, 1<<31 - 1
	case KindUint8:
		return 0, 1<<8 - 1
	case KindUint16:
		return 0, 1<<16 - 1
	case KindUint32:
		return 0, 1<<32 - 1
	}
	return -1 << 63, 1<<63 - 1
}

var kindNames = [numKinds]string{
	KindString: "string", KindInt64: "int64", KindFloat64: "float64", KindBool: "bool",
	KindTimestamp: "timestamp", KindBinary: "binary", KindDecimal: "decimal", KindDate: "date",
	KindTime: "time", KindFloat32: "float32", KindInt8: "int8", KindInt16: "int16", KindInt32: "int32",
	KindUint8: "uint8", KindUint16: "uint16", KindUint32: "uint32", KindUint64: "uint64", KindUUID: "uuid",
	KindList: "list", KindStruct: "struct", KindMap: "map",
}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// String names the type as ParseType reads it: string, int64, float64,
// float32, bool, int8..int32, uint8..uint64, decimal(p,s), date, time
// (time_ns, timetz), timestamp (wall clock; timestamp_ms, timestamp_ns),
// timestamptz (instant; timestamptz_ms, timestamptz_ns), binary, uuid.
func (t Type) String() string {
	k := t.Kind()
	switch k {
	case KindDecimal:
		return "decimal(" + strconv.Itoa(t.Precision()) + "," + strconv.Itoa(t.Scale()) + ")"
	case KindTimestamp, KindTime:
		n := k.String()
		if t.UTC() {
			n += "tz"
		}
		switch t.Unit() {
		case Millis:
			n += "_ms"
		case Nanos:
			n += "_ns"
		}
		return n
	}
	if k < numKinds && t == Type(k) {
		return k.String()
	}
	return fmt.Sprintf("type(%#x)", uint32(t))
}

// ParseType reads a type name: the names String returns and DuckDB's
// spellings and common aliases, case-insensitively:
//
//	string text varchar str        int64 int bigint long integer(=int32, as DuckDB)
//	float64 double float8          float32 float real float4 (4 bytes, as DuckDB)
//	bool boolean                   int8 tinyint  int16 smallint  int32 int4 integer
//	uint8 utinyint  uint16 usmallint  uint32 uinteger  uint64 ubigint
//	decimal(p,s) numeric(p,s) (decimal alone is decimal(18,3), as DuckDB)
//	date  time time_ns timetz  timestamp timestamp_ms timestamp_ns timestamp_s(refused)
//	timestamptz "timestamp with time zone" datetime(=timestamp)
//	binary blob bytea bytes varbinary  uuid
func ParseType(s string) (Type, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	if open := strings.IndexByte(n, '('); open > 0 && strings.HasSuffix(n, ")") {
		head, args := strings.TrimSpace(n[:open]), n[open+1:len(n)-1]
		switch head {
		case "decimal", "numeric":
			ps, ss, ok := strings.Cut(args, ",")
			p, err1 := strconv.Atoi(strings.TrimSpace(ps))
			sc, err2 := 0, error(nil)
			if ok {
				sc, err2 = strconv.Atoi(strings.TrimSpace(ss))
			}
			if err1 != nil || err2 != nil || p < 1 || p > MaxDecimalPrecision || sc < 0 || sc > p {
				return 0, fmt.Errorf("type %q: want decimal(p,s) with 1 <= p <= 38 and 0 <= s <= p", s)
			}
			return DecimalOf(p, sc), nil
		case "list", "struct", "map":
			return 0, fmt.Errorf("type %q: a nested type is a column's (ParseColumnType), not a Type", s)
		}
	}
	if strings.HasSuffix(n, "[]") {
		return 0, fmt.Errorf("type %q: a nested type is a column's (ParseColumnType), not a Type", s)
	}
	switch n {
	case "string", "text", "varchar", "str":
		return String, nil
	case "int64", "int", "bigint", "long":
		return Int64, nil
	case "float64", "double", "float8":
		return Float64, nil
	case "float32", "float", "real", "float4":
		return Float32, nil
	case "bool", "boolean":
		return Bool, nil
	case "int8", "tinyint":
		return Int8, nil
	case "int16", "smallint", "int2", "short":
		return Int16, nil
	case "int32", "integer", "int4", "signed":
		return Int32, nil
	case "uint8", "utinyint":
		return Uint8, nil
	case "uint16", "usmallint":
		return Uint16, nil
	case "uint32", "uinteger":
		return Uint32, nil
	case "uint64", "ubigint":
		return Uint64, nil
	case "decimal", "numeric":
		return DecimalOf(18, 3), nil
	case "date":
		return Date, nil
	case "time":
		return Time, nil
	case "time_ms":
		return TimeOf(Millis, false), nil
	case "time_ns":
		return TimeOf(Nanos, false), nil
	case "timetz", "time with time zone":
		return TimeOf(Micros, true), nil
	case "timetz_ms":
		return TimeOf(Millis, true), nil
	case "timetz_ns":
		return TimeOf(Nanos, true), nil
	case "timestamp", "datetime", "timestamp_us", "timestamp without time zone":
		return LocalTimestamp, nil
	case "timestamp_ms":
		return TimestampOf(Millis, false), nil
	case "timestamp_ns":
		return TimestampOf(Nanos, false), nil
	case "timestamptz", "timestamp with time zone", "timestamptz_us":
		return Timestamp, nil
	case "timestamptz_ms":
		return TimestampOf(Millis, true), nil
	case "timestamptz_ns":
		return TimestampOf(Nanos, true), nil
	case "binary", "blob", "bytea", "bytes", "varbinary":
		return Binary, nil
	case "uuid":
		return UUID, nil
	}
	return 0, fmt.Errorf("unknown type %q (want string, int8..int64, uint8..uint64, float32, float64, decimal(p,s), bool, date, time, timestamp, timestamptz, binary or uuid)", s)
}

func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Field is where a Value of a type keeps its content.
type Field uint8

const (
	FieldS Field = iota // Value.S
	FieldI              // Value.I
	FieldF              // Value.F
	FieldN              // nested: Value.Items
)

// Field says which of Value's fields holds a value of t: code that
// copies, hashes or serialises values without caring what they mean
// (shuffles, sorts, partial aggregates) switches on it.
func (t Type) Field() Field {
	switch t.Kind() {
	case KindString, KindBinary, KindUUID:
		return FieldS
	case KindFloat64, KindFloat32:
		return FieldF
	case KindList, KindStruct, KindMap:
		return FieldN
	case KindDecimal:
		if t.Precision() > 18 {
			return FieldS
		}
	}
	return FieldI
}

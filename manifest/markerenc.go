package manifest

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendMarker appends m's JSON as Encode writes it with encoding/json
// (compact, fields in the struct's order, omitempty as tagged, map keys
// sorted, strings escaped as encoding/json escapes them without HTML
// escaping) and a newline: the same bytes, written by hand. Every attempt
// writes a marker and the commit reads each, and encoding/json's
// reflection was 10-15 µs of a chunk's CPU in the scale simulation
// (BenchmarkEncodeMarker, scripts/bench.sh BENCH_ONLY=matcher, keeps it;
// TestMarkerEncodingIsEncodingJSONs and FuzzEncodeMarker hold it to
// encoding/json's bytes). ok is false when a time cannot be written
// (a year outside 0-9999): Encode then leaves the error to encoding/json.
func appendMarker(b []byte, m *ChunkMarker) (_ []byte, ok bool) {
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(m.Version), 10)
	b = appendKey(b, "job")
	b = appendJSONString(b, m.Job)
	b = appendKey(b, "chunk")
	b = appendJSONString(b, m.Chunk)
	b = appendKey(b, "epoch")
	b = strconv.AppendInt(b, m.Epoch, 10)
	if m.Worker != "" {
		b = appendKey(b, "worker")
		b = appendJSONString(b, m.Worker)
	}
	b = appendKey(b, "state")
	b = appendJSONString(b, m.State)
	if m.Reason != "" {
		b = appendKey(b, "reason")
		b = appendJSONString(b, m.Reason)
	}
	if len(m.Files) > 0 {
		b = appendKey(b, "files")
		b = appendFiles(b, m.Files)
	}
	b = appendKey(b, "records_in")
	b = strconv.AppendInt(b, m.RecordsIn, 10)
	b = appendKey(b, "records_out")
	b = strconv.AppendInt(b, m.RecordsOut, 10)
	b = appendKey(b, "bytes_in")
	b = strconv.AppendInt(b, m.BytesIn, 10)
	if len(m.Inputs) > 0 {
		b = appendKey(b, "inputs")
		b = appendStringMap(b, m.Inputs)
	}
	b = appendKey(b, "started")
	if b, ok = appendTime(b, m.Started); !ok {
		return nil, false
	}
	b = appendKey(b, "finished")
	if b, ok = appendTime(b, m.Finished); !ok {
		return nil, false
	}
	if m.Attempts != 0 {
		b = appendKey(b, "attempts")
		b = strconv.AppendInt(b, int64(m.Attempts), 10)
	}
	if m.Backup {
		b = append(b, `,"backup":true`...)
	}
	if m.Generation != 0 {
		b = appendKey(b, "generation")
		b = strconv.AppendInt(b, m.Generation, 10)
	}
	if m.MemoryMB != 0 {
		b = appendKey(b, "memory_mb")
		b = strconv.AppendInt(b, int64(m.MemoryMB), 10)
	}
	if m.Shuffle != "" {
		b = appendKey(b, "shuffle")
		b = appendJSONString(b, m.Shuffle)
	}
	if m.Plan != "" {
		b = appendKey(b, "plan")
		b = appendJSONString(b, m.Plan)
	}
	r := &m.Rejections
	if r.Rejected != 0 {
		b = appendKey(b, "rejected")
		b = strconv.AppendInt(b, r.Rejected, 10)
	}
	if r.Skipped != 0 {
		b = appendKey(b, "skipped")
		b = strconv.AppendInt(b, r.Skipped, 10)
	}
	if len(r.RejectedByRule) > 0 {
		b = appendKey(b, "rejected_by_rule")
		b = appendCountMap(b, r.RejectedByRule)
	}
	if len(r.RejectedByColumn) > 0 {
		b = appendKey(b, "rejected_by_column")
		b = appendCountMap(b, r.RejectedByColumn)
	}
	if len(r.RejectedFiles) > 0 {
		b = appendKey(b, "rejected_files")
		b = appendFiles(b, r.RejectedFiles)
	}
	if len(r.Counters) > 0 {
		b = appendKey(b, "counters")
		b = appendCountMap(b, r.Counters)
	}
	if len(r.Drift) > 0 {
		b = appendKey(b, "drift")
		b = append(b, '{')
		for i, k := range sortedKeys(r.Drift) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendDrift(b, r.Drift[k])
		}
		b = append(b, '}')
	}
	return append(b, '}', '\n'), true
}

// appendKey appends a comma and a field's key (a name that needs no
// escaping) with its colon.
func appendKey(b []byte, name string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

func appendFiles(b []byte, files []OutputFile) []byte {
	b = append(b, '[')
	for i := range files {
		if i > 0 {
			b = append(b, ',')
		}
		f := &files[i]
		b = append(b, `{"key":`...)
		b = appendJSONString(b, f.Key)
		b = appendKey(b, "size")
		b = strconv.AppendInt(b, f.Size, 10)
		if f.ETag != "" {
			b = appendKey(b, "etag")
			b = appendJSONString(b, f.ETag)
		}
		b = appendKey(b, "rows")
		b = strconv.AppendInt(b, f.Rows, 10)
		if f.Partition != "" {
			b = appendKey(b, "partition")
			b = appendJSONString(b, f.Partition)
		}
		if len(f.Partitions) > 0 {
			b = appendKey(b, "partitions")
			b = append(b, '[')
			for j, p := range f.Partitions {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, p, 10)
			}
			b = append(b, ']')
		}
		if f.SHA256 != "" {
			b = appendKey(b, "sha256")
			b = appendJSONString(b, f.SHA256)
		}
		if u := f.Upload; u != nil {
			b = append(b, `,"upload":{"id":`...)
			b = appendJSONString(b, u.ID)
			b = appendKey(b, "parts")
			if u.Parts == nil {
				b = append(b, "null"...)
			} else {
				b = append(b, '[')
				for j, p := range u.Parts {
					if j > 0 {
						b = append(b, ',')
					}
					b = append(b, `{"n":`...)
					b = strconv.AppendInt(b, int64(p.Number), 10)
					b = appendKey(b, "etag")
					b = appendJSONString(b, p.ETag)
					b = appendKey(b, "size")
					b = strconv.AppendInt(b, p.Size, 10)
					b = append(b, '}')
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendDrift(b []byte, d ObjectDrift) []byte {
	b = append(b, '{')
	first := true
	for _, f := range []struct {
		name string
		m    map[string]int64
	}{{"filled", d.Filled}, {"dropped", d.Dropped}, {"as_json", d.AsJSON}} {
		if len(f.m) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		b = appendCountMap(b, f.m)
	}
	return append(b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendStringMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	if len(m) == 1 { // a chunk of one object: no sorting
		for k, v := range m {
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, v)
		}
		return append(b, '}')
	}
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

func appendCountMap(b []byte, m map[string]int64) []byte {
	b = append(b, '{')
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, m[k], 10)
	}
	return append(b, '}')
}

// appendTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, quoted); ok is false where MarshalJSON fails.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return nil, false
	}
	return append(b, '"'), true
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes a string
// without HTML escaping: '"' and '\\' escaped, control characters as
// \b, \f, \n, \r, \t or \u00XX, each invalid UTF-8 byte as \ufffd, and
// U+2028 and U+2029 as \u2028 and \u2029.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

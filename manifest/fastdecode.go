package manifest

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeMarkerFast decodes a marker written as this package writes one
// (appendMarker: compact, each field once, in any order) by hand, and
// reports false for anything else: a key it does not know (the
// Rejections' fields, a field of a later release, a key in another
// case), a key given twice, null, whitespace inside, a string escape
// other than \" \\ \/, invalid UTF-8, a number that is not a plain
// integer in range. The caller then decodes with encoding/json, so
// whatever this accepts it must decode as encoding/json does
// (FuzzDecodeMarkerFast holds it to that). The commit reads every
// chunk's marker: encoding/json took ~10 µs a marker of the scale
// simulation (BenchmarkDecodeMarker).
func decodeMarkerFast(b []byte) (*ChunkMarker, bool) {
	r := &fastReader{b: bytes.TrimRight(b, " \t\r\n"), ok: true}
	m := &ChunkMarker{}
	var seen uint32
	ok := r.object(func(key []byte) bool {
		var bit uint32
		switch string(key) {
		case "version":
			bit, m.Version = 1<<0, r.int()
		case "job":
			bit, m.Job = 1<<1, r.str()
		case "chunk":
			bit, m.Chunk = 1<<2, r.str()
		case "epoch":
			bit, m.Epoch = 1<<3, r.int64()
		case "worker":
			bit, m.Worker = 1<<4, r.str()
		case "state":
			bit, m.State = 1<<5, r.str()
		case "reason":
			bit, m.Reason = 1<<6, r.str()
		case "files":
			bit, m.Files = 1<<7, r.files()
		case "records_in":
			bit, m.RecordsIn = 1<<8, r.int64()
		case "records_out":
			bit, m.RecordsOut = 1<<9, r.int64()
		case "bytes_in":
			bit, m.BytesIn = 1<<10, r.int64()
		case "inputs":
			bit, m.Inputs = 1<<11, r.stringMap()
		case "started":
			bit, m.Started = 1<<12, r.time()
		case "finished":
			bit, m.Finished = 1<<13, r.time()
		case "attempts":
			bit, m.Attempts = 1<<14, r.int()
		case "backup":
			bit, m.Backup = 1<<15, r.boolean()
		case "generation":
			bit, m.Generation = 1<<16, r.int64()
		case "memory_mb":
			bit, m.MemoryMB = 1<<17, r.int()
		case "shuffle":
			bit, m.Shuffle = 1<<18, r.str()
		case "plan":
			bit, m.Plan = 1<<19, r.str()
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return r.ok
	})
	if !ok || !r.ok || r.i != len(r.b) {
		return nil, false
	}
	return m, true
}

// fastReader reads the JSON of decodeMarkerFast. Once ok is false every
// read returns a zero value and the decode gives up.
type fastReader struct {
	b  []byte
	i  int
	ok bool
}

func (r *fastReader) fail() { r.ok = false }

// next consumes c, or fails.
func (r *fastReader) next(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	r.fail()
	return false
}

func (r *fastReader) peek(c byte) bool { return r.i < len(r.b) && r.b[r.i] == c }

// object reads an object, calling field with each key (unquoted, no
// escapes) with the reader at its value; field returns false to give up.
func (r *fastReader) object(field func(key []byte) bool) bool {
	if !r.next('{') {
		return false
	}
	if r.peek('}') {
		r.i++
		return true
	}
	for {
		if !r.next('"') {
			return false
		}
		start := r.i
		for r.i < len(r.b) && r.b[r.i] != '"' {
			if c := r.b[r.i]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				r.fail()
				return false
			}
			r.i++
		}
		key := r.b[start:r.i]
		if !r.next('"') || !r.next(':') || !field(key) || !r.ok {
			r.fail()
			return false
		}
		if r.peek(',') {
			r.i++
			continue
		}
		return r.next('}')
	}
}

// array reads an array, calling elem with the reader at each element.
func (r *fastReader) array(elem func() bool) bool {
	if !r.next('[') {
		return false
	}
	if r.peek(']') {
		r.i++
		return true
	}
	for {
		if !elem() || !r.ok {
			r.fail()
			return false
		}
		if r.peek(',') {
			r.i++
			continue
		}
		return r.next(']')
	}
}

// quoted returns a string's bytes between its quotes, escapes and all,
// and whether it has escapes.
func (r *fastReader) quoted() (s []byte, escaped bool) {
	if !r.next('"') {
		return nil, false
	}
	start := r.i
	ascii := true
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			s = r.b[start:r.i]
			r.i++
			if !ascii && !utf8.Valid(s) {
				r.fail() // encoding/json replaces invalid bytes
				return nil, false
			}
			return s, escaped
		case c == '\\':
			if r.i+1 >= len(r.b) {
				r.fail()
				return nil, false
			}
			switch r.b[r.i+1] {
			case '"', '\\', '/':
			default:
				r.fail() // \n, \u...: left to encoding/json
				return nil, false
			}
			escaped = true
			r.i += 2
		case c < 0x20:
			r.fail()
			return nil, false
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			r.i++
		}
	}
	r.fail()
	return nil, false
}

func (r *fastReader) str() string {
	s, escaped := r.quoted()
	if !r.ok {
		return ""
	}
	if !escaped {
		return string(s)
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		out = append(out, s[i])
	}
	return string(out)
}

// int64 reads an integer as encoding/json reads one into an int64: no
// fraction or exponent, no leading zero, in range.
func (r *fastReader) int64() int64 {
	start := r.i
	if r.peek('-') {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	if r.i == digits || (r.b[digits] == '0' && r.i-digits > 1) {
		r.fail()
		return 0
	}
	if r.i < len(r.b) {
		if c := r.b[r.i]; c == '.' || c == 'e' || c == 'E' {
			r.fail()
			return 0
		}
	}
	n, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	if err != nil {
		r.fail()
		return 0
	}
	return n
}

func (r *fastReader) int() int {
	n := r.int64()
	if int64(int(n)) != n {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *fastReader) boolean() bool {
	switch {
	case bytes.HasPrefix(r.b[r.i:], []byte("true")):
		r.i += 4
		return true
	case bytes.HasPrefix(r.b[r.i:], []byte("false")):
		r.i += 5
		return false
	}
	r.fail()
	return false
}

// time reads a time as encoding/json does, by time.Time.UnmarshalJSON
// on the quoted text.
func (r *fastReader) time() time.Time {
	start := r.i
	_, escaped := r.quoted()
	if !r.ok || escaped {
		r.fail()
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalJSON(r.b[start:r.i]); err != nil {
		r.fail()
		return time.Time{}
	}
	return t
}

// stringMap reads an object of strings; its keys are strings like any
// other (escapes and UTF-8 as str takes them).
func (r *fastReader) stringMap() map[string]string {
	m := map[string]string{}
	if !r.next('{') {
		return nil
	}
	if r.peek('}') {
		r.i++
		return m
	}
	for {
		k := r.str()
		if !r.ok || !r.next(':') {
			r.fail()
			return nil
		}
		m[k] = r.str()
		if !r.ok {
			return nil
		}
		if r.peek(',') {
			r.i++
			continue
		}
		r.next('}')
		return m
	}
}

func (r *fastReader) files() []OutputFile {
	files := []OutputFile{}
	r.array(func() bool {
		var f OutputFile
		var seen uint8
		r.object(func(key []byte) bool {
			var bit uint8
			switch string(key) {
			case "key":
				bit, f.Key = 1<<0, r.str()
			case "size":
				bit, f.Size = 1<<1, r.int64()
			case "etag":
				bit, f.ETag = 1<<2, r.str()
			case "rows":
				bit, f.Rows = 1<<3, r.int64()
			case "partition":
				bit, f.Partition = 1<<4, r.str()
			case "partitions":
				bit, f.Partitions = 1<<5, r.int64s()
			case "sha256":
				bit, f.SHA256 = 1<<6, r.str()
			case "upload":
				bit, f.Upload = 1<<7, r.upload()
			default:
				return false
			}
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			return r.ok
		})
		files = append(files, f)
		return r.ok
	})
	return files
}

func (r *fastReader) int64s() []int64 {
	s := []int64{}
	r.array(func() bool {
		s = append(s, r.int64())
		return r.ok
	})
	return s
}

func (r *fastReader) upload() *Upload {
	u := &Upload{}
	var seen uint8
	r.object(func(key []byte) bool {
		var bit uint8
		switch string(key) {
		case "id":
			bit, u.ID = 1<<0, r.str()
		case "parts":
			bit = 1 << 1
			if bytes.HasPrefix(r.b[r.i:], []byte("null")) { // no parts (appendMarker)
				r.i += 4
				u.Parts = nil
				break
			}
			u.Parts = []UploadPart{}
			r.array(func() bool {
				var p UploadPart
				var pseen uint8
				r.object(func(key []byte) bool {
					var bit uint8
					switch string(key) {
					case "n":
						bit, p.Number = 1<<0, r.int()
					case "etag":
						bit, p.ETag = 1<<1, r.str()
					case "size":
						bit, p.Size = 1<<2, r.int64()
					default:
						return false
					}
					if pseen&bit != 0 {
						return false
					}
					pseen |= bit
					return r.ok
				})
				u.Parts = append(u.Parts, p)
				return r.ok
			})
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return r.ok
	})
	return u
}

// decodeChunkFast decodes a chunk's JSON as the planner writes it (one
// of a shard's, compact) by hand, under the rules of decodeMarkerFast:
// false for anything it does not take, which encoding/json then decodes.
// A worker decodes the chunk of each task it runs (DecodeChunk).
func decodeChunkFast(b []byte) (Chunk, bool) {
	r := &fastReader{b: b, ok: true}
	var c Chunk
	var seen uint8
	ok := r.object(func(key []byte) bool {
		var bit uint8
		switch string(key) {
		case "id":
			bit, c.ID = 1<<0, r.str()
		case "parts":
			bit = 1 << 1
			c.Parts = []Part{}
			r.array(func() bool {
				p, ok := r.part()
				c.Parts = append(c.Parts, p)
				return ok
			})
		case "bytes":
			bit, c.Bytes = 1<<2, r.int64()
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return r.ok
	})
	if !ok || !r.ok || r.i != len(r.b) {
		return Chunk{}, false
	}
	return c, true
}

func (r *fastReader) part() (Part, bool) {
	var p Part
	var seen uint8
	r.object(func(key []byte) bool {
		var bit uint8
		switch string(key) {
		case "object":
			bit = 1 << 0
			var oseen uint8
			r.object(func(key []byte) bool {
				var bit uint8
				o := &p.Object
				switch string(key) {
				case "store":
					bit, o.Store = 1<<0, r.str()
				case "key":
					bit, o.Key = 1<<1, r.str()
				case "size":
					bit, o.Size = 1<<2, r.int64()
				case "etag":
					bit, o.ETag = 1<<3, r.str()
				case "version_id":
					bit, o.VersionID = 1<<4, r.str()
				case "format":
					bit, o.Format = 1<<5, r.str()
				case "compression":
					bit, o.Compression = 1<<6, r.str()
				default:
					return false
				}
				if oseen&bit != 0 {
					return false
				}
				oseen |= bit
				return r.ok
			})
		case "start":
			bit, p.Start = 1<<1, r.int64()
		case "end":
			bit, p.End = 1<<2, r.int64()
		case "first_row_group":
			bit, p.FirstRowGroup = 1<<3, r.int()
		case "last_row_group":
			bit, p.LastRowGroup = 1<<4, r.int()
		case "header":
			bit = 1 << 5
			p.Header = []string{}
			r.array(func() bool {
				p.Header = append(p.Header, r.str())
				return r.ok
			})
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return r.ok
	})
	return p, r.ok
}

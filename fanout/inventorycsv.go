package fanout

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// csvLines reads the records of a CSV file whose fields hold no line
// breaks, as S3 Inventory reports are (their keys are URL-encoded), one
// line a record, without encoding/csv's allocations per record: a field
// is a slice of the line, valid until the next call. Planning from a
// report of a million objects spent a fifth of its CPU in encoding/csv.
// Empty lines are skipped and a line may end in CRLF, as encoding/csv
// reads them; a quote inside an unquoted field, text after a closing
// quote and a quoted field left open at the end of its line are errors.
type csvLines struct {
	br     *bufio.Reader
	line   int64    // lines read
	fields [][]byte // the last record's fields
	long   []byte   // a line longer than br's buffer
}

func newCSVLines(r io.Reader) *csvLines {
	return &csvLines{br: bufio.NewReaderSize(r, 256<<10)}
}

// next returns the next record's fields, io.EOF after the last.
func (r *csvLines) next() ([][]byte, error) {
	for {
		b, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			r.long = append(r.long[:0], b...)
			for err == bufio.ErrBufferFull {
				b, err = r.br.ReadSlice('\n')
				r.long = append(r.long, b...)
			}
			b = r.long
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(b) == 0 && err == io.EOF {
			return nil, io.EOF
		}
		r.line++
		b = bytes.TrimSuffix(b, []byte{'\n'})
		b = bytes.TrimSuffix(b, []byte{'\r'})
		if len(b) == 0 {
			continue
		}
		return r.split(b)
	}
}

// split cuts a line into its fields, unquoting the quoted ones.
func (r *csvLines) split(b []byte) ([][]byte, error) {
	fields := r.fields[:0]
	for {
		if len(b) > 0 && b[0] == '"' {
			b = b[1:]
			i, doubled := 0, false
			for {
				j := bytes.IndexByte(b[i:], '"')
				if j < 0 {
					return nil, errors.New("a quoted field is not closed on its line (an inventory report's fields hold no line breaks)")
				}
				i += j
				if i+1 < len(b) && b[i+1] == '"' {
					doubled = true
					i += 2
					continue
				}
				break
			}
			f := b[:i]
			if doubled {
				f = bytes.ReplaceAll(f, []byte(`""`), []byte(`"`))
			}
			fields = append(fields, f)
			b = b[i+1:]
			if len(b) == 0 {
				break
			}
			if b[0] != ',' {
				return nil, fmt.Errorf("field %d: %q after its closing quote", len(fields), b[0])
			}
			b = b[1:]
			continue
		}
		j := bytes.IndexByte(b, ',')
		f := b
		if j >= 0 {
			f = b[:j]
		}
		if bytes.IndexByte(f, '"') >= 0 {
			return nil, fmt.Errorf("field %d: a quote inside a field that does not start with one", len(fields)+1)
		}
		fields = append(fields, f)
		if j < 0 {
			break
		}
		b = b[j+1:]
	}
	r.fields = fields
	return fields, nil
}

// parseSize reads a non-negative decimal integer of at most 18 digits.
func parseSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

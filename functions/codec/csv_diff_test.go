package codec

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCSVReaderAgainstEncodingCSV reads whole objects with fanout's CSV
// reader and with encoding/csv (LazyQuotes off, FieldsPerRecord 0: every
// record as long as the first, TrimLeadingSpace off, no comments), and on
// the inputs both accept wants the same header and records.
//
// What "both accept" leaves out, and what is compared as equal, because the
// two differ on purpose:
//
//   - Invalid UTF-8: fanout refuses a record that is not valid UTF-8 (a
//     string column holds text); encoding/csv passes the bytes through.
//     Inputs that are not valid UTF-8 are skipped.
//
//   - A UTF-8 byte-order mark at the start of the object: fanout drops it;
//     encoding/csv keeps it in the first field. encoding/csv is given the
//     input without it.
//
//   - Nulls: fanout reads an unquoted empty field as null (a quoted one,
//     "", as the empty string); encoding/csv has no nulls. A null compares
//     equal to "".
//
//   - Errors: encoding/csv's field-count error still returns the record;
//     any error from encoding/csv makes the input one it does not accept,
//     and the test then only checks that fanout does not accept it either
//     (fanout must not read as good what encoding/csv calls malformed).
//
//   - The delimiter: encoding/csv takes one rune, not '"', '\r', '\n' or
//     U+FFFD; the fuzzer's delimiter is mapped into that set, so a multi-byte
//     delimiter is tried too.
//
//   - "\r\n" inside quotes: fanout keeps it (RFC 4180, as DuckDB and
//     Python's csv module do); encoding/csv turns it into "\n". fanout's
//     fields are compared with their "\r\n" turned into "\n".
//
// Line ends are not excluded otherwise: both end records at "\n" or
// "\r\n", keep a lone "\r" as data, drop a final "\r" before the end of
// the input, and skip blank lines.
func FuzzCSVReaderAgainstEncodingCSV(f *testing.F) {
	f.Add([]byte("a,b\n1,\"x\ny\"\n"), ",")
	f.Add([]byte("\xef\xbb\xbfa;b\r\n1;2\r\n\r\n\"3\"\";\"\r"), ";")
	f.Add([]byte("a\tb\n\"q\r\n\"\t\"\"\n\n x\t\r\n"), "\t")
	f.Add([]byte("a¦b\n1¦2¦3\n"), "¦")
	f.Add([]byte("a,b\n\"x\"y,2\n"), ",")
	f.Add([]byte("a,b\nx\r,y\r\r\n"), ",")
	f.Add([]byte("a\n\"x\r\ny\"\n\"z\r\"\n\r\r\n\"w\"\r"), ",")
	f.Add([]byte("\ufeff\na©b¦c\n\"1\"¦2©\n"), "¦")
	f.Add([]byte("a,b\n1\n\r\n"), ",")
	f.Fuzz(func(t *testing.T, data []byte, delim string) {
		if !utf8.Valid(data) {
			return
		}
		d, _ := utf8.DecodeRuneInString(delim)
		if d == '"' || d == '\r' || d == '\n' || d == utf8.RuneError || d == 0 {
			d = ','
		}
		want, wantErr := readEncodingCSV(bytes.TrimPrefix(data, []byte(utf8BOM)), d)
		got, gotErr := readFanoutCSV(data, d)
		for _, rec := range got {
			for i, f := range rec {
				rec[i] = strings.ReplaceAll(f, "\r\n", "\n")
			}
		}
		switch {
		case wantErr != nil && gotErr == nil:
			t.Fatalf("encoding/csv: %v; fanout read it without an error as %q", wantErr, got)
		case wantErr != nil:
			return // neither accepts it
		case gotErr != nil:
			t.Fatalf("fanout: %v; encoding/csv read it as %q", gotErr, want)
		case !slices.EqualFunc(got, want, slices.Equal):
			t.Fatalf("fanout read\n%q\nencoding/csv read\n%q", got, want)
		}
	})
}

// readEncodingCSV returns every record encoding/csv reads from data, the
// header first, or its first error.
func readEncodingCSV(data []byte, delim rune) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = delim
	var out [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
}

// readFanoutCSV returns every record fanout's reader reads from data as
// strings (a null as ""), the header first, or its first error.
func readFanoutCSV(data []byte, delim rune) ([][]string, error) {
	in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "csv", Object: "fuzz", End: -1, CSVOptions: CSVOptions{Delimiter: delim}})
	if err != nil {
		return nil, err
	}
	schema := in.Schema()
	var out [][]string
	for i := 0; ; i++ {
		rec, err := in.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if i == 0 {
			header := make([]string, len(schema.Columns))
			for c, col := range schema.Columns {
				header[c] = col.Name
			}
			out = append(out, header)
		}
		row := make([]string, len(rec.Row))
		for c, v := range rec.Row {
			if v.Valid {
				row[c] = v.S
			}
		}
		out = append(out, row)
		if i > len(data) {
			return nil, errors.New("more records than bytes")
		}
	}
	if len(out) == 0 && len(schema.Columns) > 0 {
		// A header and no records.
		header := make([]string, len(schema.Columns))
		for c, col := range schema.Columns {
			header[c] = col.Name
		}
		out = append(out, header)
	}
	return out, nil
}

package fanout

import (
	"encoding/csv"
	"io"
	"strings"
	"testing"
)

// TestCSVLinesReadsWhatEncodingCSVReads reads inputs without line breaks
// in fields with csvLines and with encoding/csv (the oracle): the same
// records, and errors where encoding/csv has them (wider than needed:
// a line break inside quotes is one here).
func TestCSVLinesReadsWhatEncodingCSVReads(t *testing.T) {
	long := strings.Repeat("k", 300<<10) // past the reader's buffer
	for _, tc := range []struct {
		name, in string
		wantErr  bool
	}{
		{"aws rows", `"b","in%2Fa+b.txt","12","""e1"""` + "\n" + `"b","k2","0","e2"` + "\n", false},
		{"unquoted", "b,k,1,e\nb,k2,2,e2\n", false},
		{"no final newline", "b,k,1,e\nb,k2,2,e2", false},
		{"crlf", "b,k,1,e\r\nb,k2,2,e2\r\n", false},
		{"empty lines", "\nb,k,1,e\n\n\nb,k2,2,e2\n", false},
		{"doubled quotes", "\"a \"\"quoted\"\" key\",\"\",x,\"y\"\"\"\n", false},
		{"empty fields", ",,,\n\"\",,\"\",\n", false},
		{"commas in quotes", "\"a,b\",\"c,,d\",e,f\n", false},
		{"a long line", "b," + long + ",1,e\n", false},
		{"bare quote", "b,k\"x,1,e\n", true},
		{"text after a closing quote", "\"b\"x,k,1,e\n", true},
		{"open quote", "\"b,k,1,e\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newCSVLines(strings.NewReader(tc.in))
			var got [][]string
			var err error
			for {
				var rec [][]byte
				if rec, err = r.next(); err != nil {
					break
				}
				row := make([]string, len(rec))
				for i, f := range rec {
					row[i] = string(f)
				}
				got = append(got, row)
			}
			if err == io.EOF {
				err = nil
			}
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %q and no error, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v", err)
			}
			cr := csv.NewReader(strings.NewReader(tc.in))
			cr.FieldsPerRecord = -1
			want, err := cr.ReadAll()
			if err != nil {
				t.Fatalf("encoding/csv: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d records, want %d", len(got), len(want))
			}
			for i := range want {
				if strings.Join(got[i], "\x00") != strings.Join(want[i], "\x00") {
					t.Errorf("record %d: got %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "12": 12, "5497558138880": 5497558138880, "999999999999999999": 999999999999999999} {
		if got, ok := parseSize([]byte(in)); !ok || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "+1", "1.5", "12kB", " 1", "1000000000000000000"} {
		if got, ok := parseSize([]byte(in)); ok {
			t.Errorf("parseSize(%q) = %d, want refused", in, got)
		}
	}
}

package codec

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
)

// TestCSVOptionsMatchDuckDB reads files in several dialects with fanout's
// reader and with DuckDB's read_csv given the same options (all_varchar,
// allow_quoted_nulls=false: fanout reads only an unquoted nullstr as
// null), and wants the same column names and values, nulls included.
func TestCSVOptionsMatchDuckDB(t *testing.T) {
	tests := []struct {
		name string
		opts CSVOptions
		sql  string // read_csv options
		data string
	}{
		{
			name: "semicolon, no header, \\N, CRLF in quotes, 11 columns",
			opts: CSVOptions{Delimiter: ';', NoHeader: true, NullStr: []string{`\N`}},
			sql:  `delim=';', header=false, nullstr='\N'`,
			data: "1;\"a\r\nb\";\\N;\"\\N\";x;x;x;x;x;x;x\r\n2;\"q;\"\"r\"\"\";s;t;x;x;x;x;x;x;\\N\r\n",
		},
		{
			name: "pipe, quote ', escape \\, several nullstr",
			opts: CSVOptions{Delimiter: '|', Quote: '\'', Escape: '\\', NullStr: []string{"NULL", "-"}},
			sql:  `delim='|', quote='''', escape='\', header=true, nullstr=['NULL', '-']`,
			data: "id|text|n\n1|'it\\'s|ok'|NULL\n2|'back\\\\slash'|-\n3|plain|'NULL'\n",
		},
		{
			name: "tab, header",
			opts: CSVOptions{Delimiter: '\t'},
			sql:  `delim='\t', header=true`,
			data: "a\tb\n\"x\ty\"\t2\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d.csv")
			if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			sqlOpts := strings.ReplaceAll(tt.sql, `'\t'`, "E'\\t'")
			rows := localstack.DuckDB(t, fmt.Sprintf("SELECT * FROM read_csv('%s', %s, all_varchar=true, allow_quoted_nulls=false)", path, sqlOpts))
			in, err := NewInput(strings.NewReader(tt.data), InputOptions{Format: "csv", Object: "d.csv", End: -1, CSVOptions: tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			names := in.Schema().Names()
			recs, err := readAll(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(rows) {
				t.Fatalf("fanout read %d records, DuckDB %d: %v", len(recs), len(rows), rows)
			}
			for i, r := range recs {
				var duckNames []string
				for k := range rows[i] {
					duckNames = append(duckNames, k)
				}
				slices.Sort(duckNames)
				if sorted := slices.Sorted(slices.Values(names)); !slices.Equal(sorted, duckNames) {
					t.Fatalf("columns %q, DuckDB %q", sorted, duckNames)
				}
				for c, name := range names {
					want, got := rows[i][name], any(nil)
					if r.Row[c].Valid {
						got = r.Row[c].S
					}
					if got != want {
						t.Errorf("record %d column %s: fanout %q, DuckDB %q", i, name, got, want)
					}
				}
			}
		})
	}
}

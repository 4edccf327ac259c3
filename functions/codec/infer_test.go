package codec

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestInferSchema(t *testing.T) {
	tests := []struct {
		name    string
		format  string
		data    string
		header  []string
		maxRows int
		want    string
		wantErr string
	}{
		{
			name: "csv types", format: "csv",
			data: "i,f,b,t,s,code,empty,mixed\n1,1.5,true,2024-01-01,x,007,,1\n-2,2,FALSE,2024-01-01 10:00:00,y,008,,true\n,,,,,,,\n",
			want: "i:int64,f:float64,b:bool,t:timestamptz,s:string,code:string,empty:string,mixed:string",
		},
		{
			name: "csv nan and inf stay strings", format: "csv",
			data: "a,b\nNaN,1e5\n1,Inf\n",
			want: "a:string,b:string",
		},
		{
			name: "maxRows limits the sample", format: "csv",
			data: "a\n1\n2\nx\n", maxRows: 2,
			want: "a:int64",
		},
		{
			name: "given header skips an equal first record", format: "csv",
			data: "a,b\n1,2\n", header: []string{"a", "b"},
			want: "a:int64,b:int64",
		},
		{
			name: "given header and a first record that is data", format: "csv",
			data: "1,2\n3,4\n", header: []string{"a", "b"},
			want: "a:int64,b:int64",
		},
		{
			name: "sample cut inside the last record", format: "csv",
			data: "a,b\n1,2\n3,\"unterminated",
			want: "a:int64,b:int64",
		},
		{
			name: "tsv", format: "tsv",
			data: "a\tb\n1\tx\n",
			want: "a:int64,b:string",
		},
		{name: "duplicate header", format: "csv", data: "a,a\n1,2\n", wantErr: `names column "a" twice (columns 1 and 2)`},
		{name: "empty header name", format: "csv", data: "a,\n1,2\n", wantErr: "no name"},
		{name: "ragged rows are skipped", format: "csv", data: "a,b\n1\n2,3\n", want: "a:int64,b:int64"},
		{name: "only ragged rows", format: "csv", data: "a,b\n1\n2\n", wantErr: "1 fields"},
		{
			name: "jsonl union of keys in order", format: "jsonl",
			data: `{"a":1,"b":"x"}` + "\n" + `{"c":true,"a":2.5,"d":{"x":1}}` + "\n" + `{"e":"2024-05-01T00:00:00Z","f":null,"g":[1]}` + "\n" + `{"h":1.0}`,
			want: "a:float64,b:string,c:bool,d:struct(x int64),e:timestamptz,f:string,g:list(int64),h:float64",
		},
		{
			name: "integers beyond int64 are exact decimals", format: "jsonl",
			data: `{"a":1,"b":18446744073709551615,"c":1,"d":1}` + "\n" + `{"a":-99999999999999999999999999999999999999,"b":2,"c":1.5,"d":1234567890123456789012345678901234567890}`,
			want: "a:decimal(38,0),b:decimal(38,0),c:float64,d:string",
		},
		{
			name: "csv integers beyond int64 are exact decimals", format: "csv",
			data: "a,d\n1,1\n18446744073709551616,1234567890123456789012345678901234567890\n",
			want: "a:decimal(38,0),d:string",
		},
		{
			name: "jsonl quoted numbers stay strings", format: "jsonl",
			data: `{"zip":"01234","n":"5"}`,
			want: "zip:string,n:string",
		},
		{
			name: "jsonl mixed types", format: "jsonl",
			data: `{"a":1}` + "\n" + `{"a":"x"}` + "\n" + `{"a":true}`,
			want: "a:string",
		},
		{
			name: "jsonl sample cut mid line", format: "jsonl",
			data: `{"a":1}` + "\n" + `{"a":"cut`,
			want: "a:int64",
		},
		{name: "jsonl bad line is skipped", format: "jsonl", data: "{\"a\":1}\nnot json\n", want: "a:int64"},
		{name: "jsonl only bad lines", format: "jsonl", data: "not json\n[1]\n", wantErr: "not a JSON object"},
		{name: "jsonl nothing", format: "jsonl", data: "\n\n", wantErr: "no keys"},
		{name: "parquet is not inferred", format: "parquet", data: "", wantErr: "cannot infer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := InferSchema(strings.NewReader(tt.data), tt.format, tt.header, tt.maxRows)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", s, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.String() != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

func TestInferSchemaEmptyCSV(t *testing.T) {
	_, err := InferSchema(strings.NewReader(""), "csv", nil, 10)
	if !errors.Is(err, io.EOF) {
		t.Errorf("got %v, want an error wrapping io.EOF", err)
	}
}

// TestInferJSONLUnterminatedLastLineAndEmptyKey: a complete last line
// without "\n" is sampled (its key and type count); a key "" is a column.
func TestInferJSONLUnterminatedLastLineAndEmptyKey(t *testing.T) {
	s, err := InferSchema(strings.NewReader("{\"\":1,\"a\":1}\n{\"a\":2.5,\"late\":true}"), "jsonl", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), `"":int64,a:float64,late:bool`; got != want {
		t.Fatalf("schema %s, want %s", got, want)
	}
	// A last line cut short (the sample ends inside it) is ignored.
	s, err = InferSchema(strings.NewReader("{\"a\":1}\n{\"a\":2.5,\"b"), "jsonl", nil, 0)
	if err != nil || s.String() != "a:int64" {
		t.Fatalf("cut-short sample: %v, %v; want a:int64", s, err)
	}
}

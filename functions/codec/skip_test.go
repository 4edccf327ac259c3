package codec_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
)

// TestMalformedRecordsCanBeSkipped checks that a RecordError carrying Raw
// leaves the reader on the next record, so that a function such as
// validate can reject the record and go on.
func TestMalformedRecordsCanBeSkipped(t *testing.T) {
	str := &functions.Schema{Columns: []functions.Column{{Name: "a"}, {Name: "b"}}}
	typed := &functions.Schema{Columns: []functions.Column{{Name: "a", Type: functions.Int64}, {Name: "b"}}}
	tests := []struct {
		name   string
		format string
		schema *functions.Schema
		input  string
		want   []string // "ok:<raw>" or "bad:<raw>"
	}{
		{"csv field count", "csv", str, "a,b\n1,x\n2\n3,z\n", []string{"ok:1,x", "bad:2", "ok:3,z"}},
		{"csv invalid utf-8", "csv", str, "a,b\n1,x\n2,\xff\n3,z\n", []string{"ok:1,x", "bad:2,\xff", "ok:3,z"}},
		{"csv bare quote", "csv", str, "a,b\n1,x\"y\n3,z\n", []string{"bad:1,x\"y", "ok:3,z"}},
		{"csv bad quoting", "csv", str, "a,b\n1,\"x\"y\n3,z", []string{"bad:1,\"x\"y", "ok:3,z"}},
		{"csv wrong type", "csv", typed, "a,b\nx,1\n2,y\n", []string{"bad:x,1", "ok:2,y"}},
		{"jsonl not an object", "jsonl", str, "{\"a\":\"1\"}\n[1]\n{\"a\":\"3\"}\n", []string{"ok:{\"a\":\"1\"}", "bad:[1]", "ok:{\"a\":\"3\"}"}},
		{"jsonl invalid utf-8", "jsonl", str, "{\"a\":\"\xff\"}\n{\"a\":\"3\"}\n", []string{"bad:{\"a\":\"\xff\"}", "ok:{\"a\":\"3\"}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := codec.NewInput(strings.NewReader(tt.input), codec.InputOptions{Format: tt.format, Object: "o", End: -1, Schema: tt.schema})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for range 10 {
				rec, err := in.Next()
				if err == io.EOF {
					break
				}
				var re *functions.RecordError
				switch {
				case errors.As(err, &re) && re.Raw != nil:
					got = append(got, "bad:"+string(re.Raw))
				case err != nil:
					t.Fatalf("after %q: %v (no Raw: the reader cannot go on)", got, err)
				default:
					got = append(got, "ok:"+string(rec.Raw))
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBrokenHeaderIsNotSkippable checks that a header error has no Raw:
// every later record depends on the header.
func TestBrokenHeaderIsNotSkippable(t *testing.T) {
	in, err := codec.NewInput(strings.NewReader("a,\xff\n1,2\n"), codec.InputOptions{Format: "csv", Object: "o", End: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = in.Next()
	var re *functions.RecordError
	if !errors.As(err, &re) || re.Raw != nil {
		t.Fatalf("got %#v, want a RecordError without Raw", err)
	}
}

package codec_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
)

// A chunk [Start, End) of a CSV object owns the records that begin inside
// it; it is given the bytes from Start-1 and the object's header.
func ExampleNewInput() {
	object := "id,name\n1,ann\n2,bob\n3,cy\n"
	start, end := int64(10), int64(18) // cuts through "1,ann" and "2,bob"
	schema := &functions.Schema{Columns: []functions.Column{{Name: "id", Type: functions.Int64}, {Name: "name", Type: functions.String}}}
	in, err := codec.NewInput(strings.NewReader(object[start-1:]), codec.InputOptions{
		Format: "csv", Object: "people.csv",
		Base: start - 1, Start: start, End: end,
		Schema: schema, Header: []string{"id", "name"},
	})
	if err != nil {
		panic(err)
	}
	for {
		rec, err := in.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(rec.Offset, rec.Row[0].I, rec.Row[1].S)
	}
	// Output:
	// 14 2 bob
}

func ExamplePartitionPath() {
	fmt.Println(codec.PartitionPath(
		[]string{"country", "city"},
		[]functions.Value{functions.StringValue("PL"), functions.StringValue("../etc/passwd")}))
	fmt.Println(codec.PartitionPath([]string{"day"}, []functions.Value{functions.Null(functions.String)}))
	// Output:
	// country=PL/city=%2E.%2Fetc%2Fpasswd
	// day=__HIVE_DEFAULT_PARTITION__
}

func ExampleNewWriter() {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "word", Type: functions.String}, {Name: "n", Type: functions.Int64}}}
	var out bytes.Buffer
	w, err := codec.NewWriter(&out, "jsonl", schema, codec.WriterOptions{})
	if err != nil {
		panic(err)
	}
	w.Write(functions.Row{functions.StringValue("fan"), functions.IntValue(2)})
	w.Write(functions.Row{functions.StringValue("out"), functions.Null(functions.Int64)})
	if err := w.Close(); err != nil {
		panic(err)
	}
	fmt.Print(out.String())
	// Output:
	// {"word":"fan","n":2}
	// {"word":"out","n":null}
}

func ExampleInferSchema() {
	sample := "id,price,when,code\n1,9.5,2024-05-01,007\n2,10,2024-05-02 10:00:00,008\n"
	s, err := codec.InferSchema(strings.NewReader(sample), "csv", nil, 1000)
	if err != nil {
		panic(err)
	}
	fmt.Println(s)
	// Output:
	// id:int64,price:float64,when:timestamptz,code:string
}

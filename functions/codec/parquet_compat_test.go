package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/pierrec/lz4/v4"

	"github.com/fanout-dev/fanout/functions"
)

const corpusData = "../../testdata/parquet-testing/data/"

// sparkInt96 encodes a microsecond timestamp as Spark's writer does
// (DateTimeUtils.toJulianDay): in 64-bit arithmetic that wraps.
func sparkInt96(micros int64) deprecated.Int96 {
	const julianEpochDay, microsPerDay = 2440588, 86400e6
	julianUs := micros + julianEpochDay*microsPerDay
	day, us := julianUs/microsPerDay, julianUs%microsPerDay
	nanos := uint64(us * 1000)
	return deprecated.Int96{uint32(nanos), uint32(nanos >> 32), uint32(int32(day))}
}

func TestParquetInt96ReadsWhatSparkWrote(t *testing.T) {
	type row struct {
		T deprecated.Int96 `parquet:"t"`
	}
	micros := []int64{0, -1, 1704141296123456, 253402225200000000, 9089380393200000000, math.MaxInt64, math.MinInt64, -62135596800000000}
	var rows []row
	for _, m := range micros {
		rows = append(rows, row{sparkInt96(m)})
	}
	data := writeStructs(t, rows)
	in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "spark.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range micros {
		if got := recs[i].Row[0]; got.Type != int96Type || got.I != m {
			t.Errorf("row %d: got %v %d, want %v %d", i, got.Type, got.I, int96Type, m)
		}
	}

	// Nanoseconds: an error naming timestamp_ns by default; exact when a
	// schema asks for timestamp_ns.
	day := deprecated.Int96{1001, 0, 2440588 + 1}
	data = writeStructs(t, []row{{day}})
	in, err = NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "impala.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(in); !errors.Is(err, ErrInexactValue) || !strings.Contains(err.Error(), "timestamp_ns") || !strings.Contains(err.Error(), "impala.parquet") {
		t.Errorf("INT96 with nanoseconds: got %v, want an inexact-value error naming timestamp_ns and the object", err)
	}
	schema, err := functions.ParseSchema("t:timestamp_ns")
	if err != nil {
		t.Fatal(err)
	}
	in, err = NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "impala.parquet", Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := readAll(in); err != nil || recs[0].Row[0].I != 86400e9+1001 || recs[0].Row[0].Type != int96NanosType {
		t.Errorf("INT96 as timestamp_ns: got %v, %v; want %d ns", recs, err, int64(86400e9+1001))
	}
}

func TestLZ4HadoopAndRaw(t *testing.T) {
	page := bytes.Repeat([]byte("fanout reads the deprecated LZ4 codec. "), 300)
	block := func(b []byte) []byte {
		dst := make([]byte, lz4.CompressBlockBound(len(b)))
		n, err := lz4.CompressBlock(b, dst, nil)
		if err != nil || n == 0 {
			t.Fatalf("compress: %d, %v", n, err)
		}
		return dst[:n]
	}
	frame := func(b []byte) []byte {
		c := block(b)
		return append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(len(b))), uint32(len(c))), c...)
	}
	hadoop := append(frame(page[:5000]), frame(page[5000:])...) // two frames, as Hadoop cuts big pages
	for _, tc := range []struct {
		name string
		src  []byte
		size int
		ok   bool
	}{
		{"hadoop, two frames", hadoop, len(page), true},
		{"raw block", block(page), len(page), true},
		{"hadoop, one byte short of the header", hadoop, len(page) + 1, false},
		{"hadoop, cut", hadoop[:len(hadoop)-3], len(page), false},
		{"raw block, header says more", block(page), len(page) + 1, false},
		{"garbage", []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff"), 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, tc.size)
			err := lz4Decode(dst, tc.src)
			if tc.ok && (err != nil || !bytes.Equal(dst, page)) {
				t.Errorf("got %v (equal: %v), want the page", err, bytes.Equal(dst, page))
			}
			if !tc.ok && err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}

// The corpus's files that parquet-go cannot read alone read with the
// values parquet-testing documents (TestParquetCorpus compares them with
// DuckDB through the whole engine).
func TestParquetCompatCorpusFiles(t *testing.T) {
	read := func(name string) []rec {
		t.Helper()
		data, err := os.ReadFile(corpusData + name)
		if err != nil {
			t.Fatal(err)
		}
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: name})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readAll(in)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	for _, name := range []string{"hadoop_lz4_compressed.parquet", "non_hadoop_lz4_compressed.parquet"} {
		var got []string
		for _, r := range read(name) {
			got = append(got, r.Row[0].Text()+" "+r.Row[1].S+" "+r.Row[2].Text())
		}
		want := []string{"1593604800 abc 42.0", "1593604800 def 7.7", "1593604801 abc 42.125", "1593604801 def 7.7"}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	hadoop, raw := read("hadoop_lz4_compressed_larger.parquet"), read("lz4_raw_compressed_larger.parquet")
	if len(hadoop) != 10000 || len(raw) != 10000 {
		t.Fatalf("%d and %d rows, want 10,000", len(hadoop), len(raw))
	}
	for i := range hadoop {
		if hadoop[i].Row[0] != raw[i].Row[0] || len(hadoop[i].Row[0].S) != 36 {
			t.Fatalf("row %d: hadoop LZ4 %q, LZ4_RAW %q", i, hadoop[i].Row[0].S, raw[i].Row[0].S)
		}
	}
	if got := read("datapage_v2_empty_datapage.snappy.parquet"); len(got) != 1 || got[0].Row[0].Valid {
		t.Errorf("empty V2 page: got %v, want one null", got)
	}
	if got := read("column_chunk_key_value_metadata.parquet"); len(got) != 0 {
		t.Errorf("column_chunk_key_value_metadata: got %d rows, want 0", len(got))
	}
	// PARQUET-816: parquet-mr without a version left the dictionary
	// page header out of the chunk's size; the TPC-H nations read.
	if got := read("nation.dict-malformed.parquet"); len(got) != 25 || got[0].Row[1].S != "ALGERIA" || got[24].Row[1].S != "UNITED STATES" {
		t.Errorf("nation.dict-malformed: got %d rows (%v ... %v), want the 25 nations", len(got), got[0].Row, got[len(got)-1].Row)
	}
	// GEOMETRY and GEOGRAPHY read as their WKB bytes: a point is byte
	// order 1, type 1, then two doubles.
	for _, name := range []string{"geospatial/geography-points.parquet", "geospatial/crs-srid.parquet"} {
		for _, r := range read(name) {
			for _, v := range r.Row {
				if v.Type == functions.Binary && v.Valid && (len(v.S) < 5 || v.S[0] != 1) {
					t.Fatalf("%s: %q is not little-endian WKB", name, v.S)
				}
			}
		}
	}
	// Each BYTE_STREAM_SPLIT column holds its PLAIN twin's values.
	recs := read("byte_stream_split_extended.gzip.parquet")
	if len(recs) != 200 {
		t.Fatalf("byte_stream_split_extended: %d rows, want 200", len(recs))
	}
	for _, r := range recs {
		for c := 0; c < len(r.Row); c += 2 {
			if r.Row[c] != r.Row[c+1] {
				t.Fatalf("byte_stream_split_extended: column %d is %v, its BYTE_STREAM_SPLIT twin %v", c, r.Row[c], r.Row[c+1])
			}
		}
	}
}

// A footer whose KeyValue lacks its value gets an empty one, and LZ4
// chunks are declared uncompressed; other footers are left alone.
func TestRepairFooter(t *testing.T) {
	data, err := os.ReadFile(corpusData + "column_chunk_key_value_metadata.parquet")
	if err != nil {
		t.Fatal(err)
	}
	footer := data[len(data)-8-int(binary.LittleEndian.Uint32(data[len(data)-8:])) : len(data)-8]
	out, rep, changed, err := repairFooter(footer)
	if err != nil || !changed || rep.lz4 != nil || len(out) <= len(footer) {
		t.Fatalf("got %d bytes (from %d), %+v, changed %v, %v", len(out), len(footer), rep, changed, err)
	}
	// Repairing the repaired footer changes nothing, and parsing and
	// writing it gives its bytes back.
	if _, _, changed, err := repairFooter(out); changed || err != nil {
		t.Errorf("second repair: changed %v, %v", changed, err)
	}
	tc := thriftCheck{b: out}
	fields, err := tc.parseStruct(0)
	if err != nil || !bytes.Equal(appendStruct(nil, fields), out) {
		t.Errorf("parse and append do not round-trip: %v", err)
	}
	data, err = os.ReadFile(corpusData + "hadoop_lz4_compressed.parquet")
	if err != nil {
		t.Fatal(err)
	}
	footer = data[len(data)-8-int(binary.LittleEndian.Uint32(data[len(data)-8:])) : len(data)-8]
	if _, rep, changed, err := repairFooter(footer); err != nil || !changed || len(rep.lz4) != 3 {
		t.Errorf("hadoop_lz4_compressed: %+v, changed %v, %v; want its 3 chunks", rep, changed, err)
	}
}

// A column of the NULL logical type reads as int32 nulls (DuckDB's
// INTEGER); a value in one is corruption, not a null.
func TestParquetNullTypeColumn(t *testing.T) {
	write := func(nullType bool) []byte {
		var buf bytes.Buffer
		var n parquet.Node = parquet.Leaf(parquet.Int32Type)
		if nullType {
			n = parquet.Leaf(parquet.NullType)
		}
		schema := parquet.NewSchema("t", parquet.Group{"i": parquet.Leaf(parquet.Int32Type), "n": parquet.Optional(n)})
		w := parquet.NewWriter(&buf, schema)
		for i := range 3 {
			var nv parquet.Value
			if !nullType {
				nv = parquet.Int32Value(int32(i))
			}
			if _, err := w.WriteRows([]parquet.Row{{parquet.Int32Value(int32(i)).Level(0, 0, 0), nv.Level(0, map[bool]int{true: 0, false: 1}[nullType], 1)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	read := func(data []byte) ([]rec, *functions.Schema, error) {
		schema, _, err := ParquetSchema(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, nil, err
		}
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "null.parquet"})
		if err != nil {
			return nil, nil, err
		}
		recs, err := readAll(in)
		return recs, schema, err
	}
	recs, schema, err := read(write(true))
	if err != nil || schema.String() != "i:int32,n:int32" || len(recs) != 3 {
		t.Fatalf("NULL column: %v, %d rows, %v; want i:int32,n:int32 and 3 rows", schema, len(recs), err)
	}
	for i, r := range recs {
		if r.Row[0].I != int64(i) || r.Row[1].Valid || r.Row[1].Type != functions.Int32 {
			t.Errorf("row %d: %v, want %d and an int32 null", i, r.Row, i)
		}
	}

	// The same file with values in n, its footer saying NULL.
	data := write(false)
	footerLen := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	tc := thriftCheck{b: data[len(data)-8-footerLen : len(data)-8]}
	fields, err := tc.parseStruct(0)
	if err != nil {
		t.Fatal(err)
	}
	els := fieldOf(fields, 2)
	last := &els.elems[len(els.elems)-1]
	*last = slices.DeleteFunc(*last, func(f tfield) bool { return f.id == 10 }) // parquet-go wrote INT(32)
	*last = append(*last, tfield{id: 10, typ: 12, st: []tfield{{id: 11, typ: 12}}})
	footer := appendStruct(nil, fields)
	bad := append(append([]byte{}, data[:len(data)-8-footerLen]...), footer...)
	bad = binary.LittleEndian.AppendUint32(bad, uint32(len(footer)))
	bad = append(bad, "PAR1"...)
	if _, schema, err := read(bad); !errors.Is(err, ErrCorruptParquet) || !strings.Contains(err.Error(), "NULL") {
		t.Errorf("values in a NULL column: got %v, %v; want a corrupt-file error naming the NULL type", schema, err)
	}
}

func TestParquetMRBefore129(t *testing.T) {
	for createdBy, want := range map[string]bool{
		"parquet-mr": true, "parquet-mr version 1.2.8 (build abc)": true, "parquet-mr version 1.2.9 (build abc)": false,
		"parquet-mr version 1.12.3 (build f8dced)": false, "parquet-mr version 1.1.0-SNAPSHOT": true, "parquet-mr version 2.0.0": false,
		"parquet-cpp-arrow version 14.0.0": false, "impala version 1.0": false, "": false,
	} {
		if got := parquetMRBefore129(createdBy); got != want {
			t.Errorf("%q: got %v, want %v", createdBy, got, want)
		}
	}
}

// Every byte of the files that take the translations, flipped in turn:
// reading fails or gives rows, and never panics (the footer repair and
// the chunk translation run on what a corrupt file says).
func TestParquetCompatCorruptionNeverPanics(t *testing.T) {
	for _, name := range []string{"hadoop_lz4_compressed.parquet", "non_hadoop_lz4_compressed.parquet", "column_chunk_key_value_metadata.parquet",
		"datapage_v2_empty_datapage.snappy.parquet", "nation.dict-malformed.parquet"} {
		orig, err := os.ReadFile(corpusData + name)
		if err != nil {
			t.Fatal(err)
		}
		var failed int
		for i := range orig {
			for _, flip := range []byte{0xff} {
				data := slices.Clone(orig)
				data[i] ^= flip
				in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: name})
				if err == nil {
					_, err = readAll(in)
				}
				if err != nil {
					failed++
				}
			}
		}
		if failed == 0 {
			t.Errorf("%s: no flipped byte made reading fail", name)
		}
	}
}

// nation.dict-malformed.parquet's overrunning chunk reads because
// parquet-mr without a version wrote it; said to come from a fixed
// parquet-mr, the same bytes are corruption.
func TestParquet816OnlyForOldParquetMR(t *testing.T) {
	data, err := os.ReadFile(corpusData + "nation.dict-malformed.parquet")
	if err != nil {
		t.Fatal(err)
	}
	footerLen := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	tc := thriftCheck{b: data[len(data)-8-footerLen : len(data)-8]}
	fields, err := tc.parseStruct(0)
	if err != nil {
		t.Fatal(err)
	}
	by := "parquet-mr version 1.12.3 (build f8dced182c4c1fbdec6ccb3185537b5a01e6ed6b)"
	fieldOf(fields, 6).raw = append(binary.AppendUvarint(nil, uint64(len(by))), by...)
	footer := appendStruct(nil, fields)
	fixed := append(slices.Clone(data[:len(data)-8-footerLen]), footer...)
	fixed = binary.LittleEndian.AppendUint32(fixed, uint32(len(footer)))
	fixed = append(fixed, "PAR1"...)
	in, err := NewParquetInput(bytes.NewReader(fixed), int64(len(fixed)), ParquetOptions{Object: "nation.parquet"})
	if err == nil {
		_, err = readAll(in)
	}
	if !errors.Is(err, ErrCorruptParquet) || !strings.Contains(err.Error(), "runs past the column chunk's end") {
		t.Errorf("got %v, want the page that runs past its chunk refused", err)
	}
}

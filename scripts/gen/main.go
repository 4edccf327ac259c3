// Command gen writes deterministic test and benchmark data:
//
//	go run ./scripts/gen text  -size 1GiB -files 16 -out DIR   text corpus (word count, grep)
//	go run ./scripts/gen sales -size 300MiB -files 8 -out DIR  sales-like CSV (group-by, convert)
//	go run ./scripts/gen small -count 100000 -out DIR          many small text objects
//	go run ./scripts/gen events -size 64MiB -files 8 -out DIR  nested JSONL events (EventsSchema)
//	go run ./scripts/gen events-schema                         prints EventsSchema
//	go run ./scripts/gen orders -size 1GiB -files 16 -out DIR  orders CSV with a 100-value store column
//	                                                           (right-sized and sorted output: bench.sh's file-sizing row)
//
// The same flags always give the same bytes (a seeded PRNG), so a test can
// regenerate what it compares against.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/fanout-dev/fanout/manifest"
	"unicode"
	"unicode/utf8"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gen text|sales|small|events|orders [flags]")
		os.Exit(2)
	}
	if os.Args[1] == "events-schema" {
		fmt.Println(EventsSchema)
		return
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	size := fs.String("size", "64MiB", "total bytes to write (text, sales)")
	files := fs.Int("files", 8, "number of objects (text, sales)")
	count := fs.Int("count", 1000, "number of objects (small)")
	out := fs.String("out", "", "output directory")
	seed := fs.Uint64("seed", 1, "PRNG seed")
	fs.Parse(os.Args[2:])
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen: -out is required")
		os.Exit(2)
	}
	n, err := manifest.ParseSize(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "text":
		err = writeFiles(*out, *files, n, "txt", *seed, textFile)
	case "sales":
		err = writeFiles(*out, *files, n, "csv", *seed, salesFile)
	case "small":
		err = smallFiles(*out, *count, *seed)
	case "events":
		err = writeFiles(*out, *files, n, "jsonl", *seed, eventsFile)
	case "orders":
		err = writeFiles(*out, *files, n, "csv", *seed, ordersFile)
	default:
		err = fmt.Errorf("unknown kind %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func writeFiles(dir string, files int, total int64, ext string, seed uint64, body func(w *bufio.Writer, r *rand.Rand, size int64)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range files {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("part-%04d.%s", i, ext)))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		body(w, rand.New(rand.NewPCG(seed, uint64(i))), total/int64(files))
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// vocabulary is a list of words, some with Unicode letters, digits and
// capitals, so that word boundaries and lowercasing matter.
var vocabulary = func() []string {
	r := rand.New(rand.NewPCG(42, 42))
	syll := []string{"ka", "lo", "mi", "ne", "ru", "ta", "ve", "zo", "ß", "é", "ü", "ø", "日", "本", "x9", "7"}
	words := make([]string, 50000)
	for i := range words {
		var b strings.Builder
		for range 1 + r.IntN(4) {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		w := b.String()
		if r.IntN(10) == 0 {
			first, size := utf8.DecodeRuneInString(w)
			w = string(unicode.ToUpper(first)) + w[size:]
		}
		words[i] = w
	}
	return words
}()

var separators = []string{" ", " ", " ", " ", ", ", ". ", " - ", "\t", " (", ") ", "'s ", "! "}

// textFile writes Zipf-distributed words in lines of 60 to 140 bytes.
func textFile(w *bufio.Writer, r *rand.Rand, size int64) {
	zipf := rand.NewZipf(r, 1.1, 2, uint64(len(vocabulary)-1))
	var written int64
	col, limit := 0, 60+r.IntN(80)
	for written < size {
		n, _ := w.WriteString(vocabulary[zipf.Uint64()])
		col += n
		written += int64(n)
		if col > limit {
			w.WriteByte('\n')
			written++
			col, limit = 0, 60+r.IntN(80)
			continue
		}
		n, _ = w.WriteString(separators[r.IntN(len(separators))])
		col += n
		written += int64(n)
	}
	w.WriteByte('\n')
}

var regions = []string{"eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast", "sa-east", "af-south"}

// salesFile writes sales-like CSV rows.
func salesFile(w *bufio.Writer, r *rand.Rand, size int64) {
	n, _ := w.WriteString("order_id,region,product,quantity,price,discount,ordered_at\n")
	written := int64(n)
	id := r.Int64N(1 << 40)
	for written < size {
		id++
		price := math.Round(r.Float64()*50000) / 100
		n, _ := fmt.Fprintf(w, "%d,%s,p%04d,%d,%.2f,%.2f,2026-%02d-%02dT%02d:%02d:%02dZ\n", id, regions[r.IntN(len(regions))],
			r.IntN(5000), 1+r.IntN(20), price, math.Round(r.Float64()*30)/100, 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
		written += int64(n)
	}
}

// EventsSchema is the schema of the events kind, in fanout's --arg
// schema= syntax (bench.sh gives it to fanout and, spelt DuckDB's way,
// to DuckDB's read_json).
const EventsSchema = "id:int64,ts:string,user:struct(id int64, name string, tags list(string), geo struct(country string, lat float64, lon float64))," +
	"items:list(struct(sku string, qty int64, price float64)),attrs:map(string, string)"

// eventsFile writes nested JSONL events: a struct with a list and a
// nested struct (sometimes null), a list of structs (sometimes empty or
// null), a map of a few attributes, nulls inside.
func eventsFile(w *bufio.Writer, r *rand.Rand, size int64) {
	var written int64
	id := r.Int64N(1 << 40)
	keys := []string{"browser", "os", "campaign", "ref", "lang", "plan"}
	vals := []string{"chrome", "linux", "spring-sale", "newsletter", "en", "pro", "de", "free"}
	var b strings.Builder
	for written < size {
		id++
		b.Reset()
		fmt.Fprintf(&b, `{"id":%d,"ts":"2026-%02d-%02dT%02d:%02d:%02dZ","user":`, id, 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
		if r.IntN(20) == 0 {
			b.WriteString("null")
		} else {
			fmt.Fprintf(&b, `{"id":%d,"name":"user%d","tags":[`, r.IntN(1e6), r.IntN(1e5))
			for i := range r.IntN(4) {
				if i > 0 {
					b.WriteByte(',')
				}
				if r.IntN(10) == 0 {
					b.WriteString("null")
				} else {
					fmt.Fprintf(&b, `"t%d"`, r.IntN(50))
				}
			}
			b.WriteString(`],"geo":`)
			if r.IntN(5) == 0 {
				b.WriteString("null")
			} else {
				fmt.Fprintf(&b, `{"country":"%s","lat":%.4f,"lon":%.4f}`, regions[r.IntN(len(regions))], r.Float64()*180-90, r.Float64()*360-180)
			}
			b.WriteByte('}')
		}
		b.WriteString(`,"items":`)
		if r.IntN(10) == 0 {
			b.WriteString("null")
		} else {
			b.WriteByte('[')
			for i := range r.IntN(5) {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"sku":"p%04d","qty":%d,"price":%.2f}`, r.IntN(5000), 1+r.IntN(9), math.Round(r.Float64()*50000)/100)
			}
			b.WriteByte(']')
		}
		b.WriteString(`,"attrs":{`)
		for i, k := range r.Perm(len(keys))[:r.IntN(4)] { // distinct keys: DuckDB refuses a MAP with one twice
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%s":"%s"`, keys[k], vals[r.IntN(len(vals))])
		}
		b.WriteString("}}\n")
		n, _ := w.WriteString(b.String())
		written += int64(n)
	}
}

// ordersStores is the number of values of the orders' store column.
const ordersStores = 100

// ordersFile writes orders CSV: order_id rises through each file (files
// start far apart), store takes 100 values (s000 to s099) evenly, customer
// about a million, ordered_at is spread over 2026 in no order, so that a
// query selective on customer or ordered_at gains only from sorted files.
func ordersFile(w *bufio.Writer, r *rand.Rand, size int64) {
	n, _ := w.WriteString("order_id,store,customer,product,quantity,amount,ordered_at\n")
	written := int64(n)
	id := r.Int64N(1 << 40)
	for written < size {
		id++
		amount := math.Round(r.Float64()*50000) / 100
		n, _ := fmt.Fprintf(w, "%d,s%03d,c%07d,p%04d,%d,%.2f,2026-%02d-%02dT%02d:%02d:%02dZ\n", id, r.IntN(ordersStores),
			r.IntN(1_000_000), r.IntN(5000), 1+r.IntN(20), amount, 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
		written += int64(n)
	}
}

// smallFiles writes count small text objects spread over 1,000 directories.
func smallFiles(dir string, count int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range count {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", i%1000))
		if i < 1000 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		var b strings.Builder
		for range 1 + r.IntN(8) {
			fmt.Fprintf(&b, "%s %s\n", vocabulary[r.IntN(len(vocabulary))], vocabulary[r.IntN(len(vocabulary))])
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("obj-%06d.txt", i)), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Command ref holds the straightforward single-process Go implementations
// that scripts/bench.sh measures fanout against. Each reads every file of a
// local directory with one goroutine per core, and prints one line:
// "<bytes> <seconds> <result summary>".
//
//	ref wordcount DIR       words (maximal runs of letters or digits, lowercased)
//	ref grep PATTERN DIR [OUT]  lines matching a regexp, written to a file
//	                        per input under OUT (default a temporary directory), as
//	                        fanout's grep writes them
//	ref groupby DIR         sales CSV: count, sum(quantity), avg(price) by region, quantity
package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: ref wordcount|grep|groupby ...")
		os.Exit(2)
	}
	start := time.Now()
	var summary string
	var bytes int64
	var err error
	switch os.Args[1] {
	case "wordcount":
		bytes, summary, err = wordcount(os.Args[2])
	case "grep":
		out := ""
		if len(os.Args) > 4 {
			out = os.Args[4]
		}
		bytes, summary, err = grep(os.Args[2], os.Args[3], out)
	case "groupby":
		bytes, summary, err = groupby(os.Args[2])
	default:
		err = fmt.Errorf("unknown workload %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ref:", err)
		os.Exit(1)
	}
	fmt.Printf("%d %.3f %s\n", bytes, time.Since(start).Seconds(), summary)
}

// eachFile runs fn over every regular file under dir, one goroutine per
// core, and returns the bytes read.
func eachFile(dir string, fn func(r io.Reader) error) (int64, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	var mu sync.Mutex
	var total int64
	var firstErr error
	next := make(chan string)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				f, err := os.Open(p)
				if err == nil {
					st, _ := f.Stat()
					err = fn(bufio.NewReaderSize(f, 1<<20))
					f.Close()
					mu.Lock()
					total += st.Size()
					mu.Unlock()
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range paths {
		next <- p
	}
	close(next)
	wg.Wait()
	return total, firstErr
}

func wordcount(dir string) (int64, string, error) {
	var mu sync.Mutex
	total := map[string]int64{}
	n, err := eachFile(dir, func(r io.Reader) error {
		counts := map[string]int64{}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<30)
		for sc.Scan() {
			line := sc.Bytes()
			start := -1
			for i := 0; i <= len(line); {
				var c rune = ' '
				size := 1
				if i < len(line) {
					c, size = utf8.DecodeRune(line[i:])
				}
				if unicode.IsLetter(c) || unicode.IsDigit(c) {
					if start < 0 {
						start = i
					}
				} else if start >= 0 {
					counts[strings.ToLower(string(line[start:i]))]++
					start = -1
				}
				i += size
			}
		}
		mu.Lock()
		for w, c := range counts {
			total[w] += c
		}
		mu.Unlock()
		return sc.Err()
	})
	return n, fmt.Sprintf("%d distinct words", len(total)), err
}

func grep(pattern, dir, out string) (int64, string, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return 0, "", err
	}
	if out == "" {
		if out, err = os.MkdirTemp("", "ref-grep-"); err != nil {
			return 0, "", err
		}
		defer os.RemoveAll(out)
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, "", err
	}
	var mu sync.Mutex
	var matches, files int64
	n, err := eachFile(dir, func(r io.Reader) error {
		mu.Lock()
		files++
		name := filepath.Join(out, fmt.Sprintf("part-%05d.txt", files))
		mu.Unlock()
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		defer f.Close()
		w := bufio.NewWriterSize(f, 1<<16)
		var m int64
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<30)
		for sc.Scan() {
			if line := sc.Bytes(); re.Match(line) {
				m++
				w.Write(line)
				w.WriteByte('\n')
			}
		}
		mu.Lock()
		matches += m
		mu.Unlock()
		if err := sc.Err(); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return f.Close()
	})
	return n, fmt.Sprintf("%d matching lines", matches), err
}

type group struct {
	count, sumQty int64
	sumPrice      float64
}

func groupby(dir string) (int64, string, error) {
	var mu sync.Mutex
	total := map[[2]string]*group{}
	n, err := eachFile(dir, func(r io.Reader) error {
		groups := map[[2]string]*group{}
		cr := csv.NewReader(r)
		cr.ReuseRecord = true
		header := true
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			if header {
				header = false
				continue
			}
			qty, _ := strconv.ParseInt(rec[3], 10, 64)
			price, _ := strconv.ParseFloat(rec[4], 64)
			k := [2]string{rec[1], rec[3]}
			g := groups[k]
			if g == nil {
				g = &group{}
				groups[k] = g
			}
			g.count++
			g.sumQty += qty
			g.sumPrice += price
		}
		mu.Lock()
		for k, g := range groups {
			t := total[k]
			if t == nil {
				t = &group{}
				total[k] = t
			}
			t.count += g.count
			t.sumQty += g.sumQty
			t.sumPrice += g.sumPrice
		}
		mu.Unlock()
		return nil
	})
	return n, fmt.Sprintf("%d groups", len(total)), err
}

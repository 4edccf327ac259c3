package codec

import (
	"hash/maphash"
	"unsafe"
)

// StringTable interns the values of Parquet string columns for writers
// that run on one goroutine: the files a task writes at once (one per
// partition) then look each string up in one table, which stays in the
// processor's cache, rather than each in its own (with eight partitions,
// eight tables cost four times as much per row on the bench's CSV, in
// cache misses). Each column chunk still gets a dictionary of only the
// values it holds. A table that fills up is replaced: writers move to the
// new one at their next row group, and until then write new values plain.
// The writers also share the buffers they encode pages in. The zero value
// is not usable; NewStringTable makes one. It is not safe for concurrent
// use.
type StringTable struct {
	cur *strTable
	// maxBytes and maxEntries bound each table: its strings' bytes and
	// their number (strTableMaxBytes and strTableMaxEntries; tests make
	// them small).
	maxBytes, maxEntries int
	// scratch is where the writers encode pages: one per goroutine, not
	// one per open file (a dictionary page may take megabytes).
	scratch pqScratch
}

// NewStringTable returns an empty table.
func NewStringTable() *StringTable {
	t := &StringTable{maxBytes: strTableMaxBytes, maxEntries: strTableMaxEntries}
	t.cur = t.newTable()
	return t
}

// newTable returns an empty strTable with t's bounds.
func (t *StringTable) newTable() *strTable {
	return &strTable{slots: make([]uint64, 1024), seed: maphash.MakeSeed(), maxBytes: t.maxBytes, maxEntries: t.maxEntries}
}

// current is the table a column starting a row group uses.
func (t *StringTable) current() *strTable { return t.cur }

// full replaces tab, which has filled up, unless that was done already.
func (t *StringTable) full(tab *strTable) {
	if t.cur == tab {
		t.cur = t.newTable()
	}
}

// Bounds of one strTable: its strings' bytes and their number.
const (
	strTableMaxBytes   = 16 << 20
	strTableMaxEntries = 1 << 20
)

// strTable is an open-addressing hash table of distinct strings stored
// end to end in one arena. A slot holds a 32-bit tag of the string's hash
// and its id+1, so that most probes of other strings end without reading
// the arena.
type strTable struct {
	slots []uint64
	arena []byte
	ends  []uint32 // string i is arena[ends[i-1]:ends[i]] (from 0 for i = 0)
	seed  maphash.Seed
	// maxBytes and maxEntries bound arena and ends (StringTable's).
	maxBytes, maxEntries int
	// recent holds id+1 of a string recently looked up, by recentSlot:
	// a repeated value (a low-cardinality column's) is found by one
	// comparison with the arena, without hashing all its bytes and
	// probing the slots.
	recent [recentSlots]int32
}

const recentSlots = 1024

// recentSlot is s's place in strTable.recent: a cheap mix of its length
// and last four bytes. Any string may be in any slot; lookup compares.
func recentSlot(s string) uint32 {
	n := len(s)
	h := uint32(n)
	for i := max(0, n-4); i < n; i++ {
		h = h<<8 | uint32(s[i])
	}
	h ^= uint32(n) << 24
	return (h * 0x9E3779B1) >> 22 // 10 bits: recentSlots
}

// lookup returns s's id, adding s when it is new; false when s is new
// and the table is full.
func (t *strTable) lookup(s string) (int32, bool) {
	r := &t.recent[recentSlot(s)]
	if id := *r - 1; id >= 0 && string(t.bytes(id)) == s {
		return id, true
	}
	id, ok := t.lookupSlow(s)
	if ok {
		*r = id + 1
	}
	return id, ok
}

// lookupSlow is lookup past strTable.recent.
func (t *strTable) lookupSlow(s string) (int32, bool) {
	h := maphash.String(t.seed, s)
	tag := h >> 32 << 32
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := t.slots[i]
		if v == 0 {
			if len(t.arena)+len(s) > t.maxBytes || len(t.ends) >= t.maxEntries {
				return 0, false
			}
			id := len(t.ends)
			t.arena = append(t.arena, s...)
			t.ends = append(t.ends, uint32(len(t.arena)))
			t.slots[i] = tag | uint64(id+1)
			if 4*len(t.ends) > 3*len(t.slots) {
				t.grow()
			}
			return int32(id), true
		}
		if v&^0xffffffff == tag {
			id := int32(v&0xffffffff) - 1
			if string(t.bytes(id)) == s {
				return id, true
			}
		}
	}
}

// bytes returns string id's bytes (valid until the next lookup).
func (t *strTable) bytes(id int32) []byte {
	start := uint32(0)
	if id > 0 {
		start = t.ends[id-1]
	}
	return t.arena[start:t.ends[id]]
}

// str returns string id as a string sharing the arena's memory; it is
// valid until the next lookup (which may move the arena).
func (t *strTable) str(id int32) string {
	b := t.bytes(id)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (t *strTable) grow() {
	t.slots = make([]uint64, 2*len(t.slots))
	mask := uint64(len(t.slots) - 1)
	for id := range t.ends {
		h := maphash.Bytes(t.seed, t.bytes(int32(id)))
		i := h & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = h>>32<<32 | uint64(id+1)
	}
}

// colDict is one column chunk's dictionary over a strTable: the table's
// ids of the values the chunk holds, in the order they came, and the map
// back from table id to chunk id. The map is an array indexed by table id
// for the first denseIDs ids (cache-friendly: a lookup per row) and a Go
// map past them, so that a column of few values does not hold an array as
// long as a table a high-cardinality column filled.
type colDict struct {
	tab    *strTable
	dense  []int32         // by table id < denseIDs: chunk id + 1, or 0
	sparse map[int32]int32 // table id >= denseIDs -> chunk id
	used   []int32         // table ids by chunk id
	bytes  int             // PLAIN-encoded size of the dictionary
}

// denseIDs bounds colDict.dense (64 KiB).
const denseIDs = 1 << 14

// id returns s's id in the chunk's dictionary, adding it when new; false
// when the table is full.
func (d *colDict) id(s string) (int32, bool) {
	g, ok := d.tab.lookup(s)
	if !ok {
		return 0, false
	}
	if g < denseIDs {
		if int(g) >= len(d.dense) {
			d.dense = append(d.dense, make([]int32, int(g)+1-len(d.dense))...)
		}
		if l := d.dense[g]; l > 0 {
			return l - 1, true
		}
		d.dense[g] = int32(len(d.used)) + 1
	} else {
		if l, ok := d.sparse[g]; ok {
			return l, true
		}
		if d.sparse == nil {
			d.sparse = make(map[int32]int32)
		}
		d.sparse[g] = int32(len(d.used))
	}
	d.used = append(d.used, g)
	d.bytes += 4 + len(s)
	return int32(len(d.used) - 1), true
}

// size is the memory the dictionary's maps hold (roughly, for the map).
func (d *colDict) size() int { return 4*cap(d.dense) + 4*cap(d.used) + 16*len(d.sparse) }

// held is the memory of the dictionary's entries, which ending the row
// group gives back. The dense index is left out: at most 64 KiB, it is
// kept (cleared) for the next row group. Counting it made a file beside a
// hundred others look over its share of the row-group budget at every
// check and end a row group every 512 rows, whatever it held.
func (d *colDict) held() int { return 4*len(d.used) + 16*len(d.sparse) + d.bytes }

// value returns the dictionary's entry i.
func (d *colDict) value(i int) string { return d.tab.str(d.used[i]) }

// reset empties the dictionary for the next chunk, over tab.
func (d *colDict) reset(tab *strTable) {
	if tab != d.tab {
		clear(d.dense)
	} else {
		for _, g := range d.used {
			if g < denseIDs {
				d.dense[g] = 0
			}
		}
	}
	d.tab = tab
	clear(d.sparse)
	d.used, d.bytes = d.used[:0], 0
}

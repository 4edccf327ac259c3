package functions

import (
	"slices"
	"testing"
)

func TestSchemaStringRoundTrips(t *testing.T) {
	names := []string{"plain", "c_customer_sk:", "a,b", `say "hi"`, " padded ", ":", `"`, "ünï", ""}
	s := &Schema{}
	for i, n := range names {
		s.Columns = append(s.Columns, Column{Name: n, Type: Type(i % 5)})
	}
	text := s.String()
	got, err := ParseSchema(text)
	if err != nil {
		t.Fatalf("ParseSchema(%q): %v", text, err)
	}
	if !slices.EqualFunc(got.Columns, s.Columns, Column.Equal) {
		t.Errorf("ParseSchema(%q) = %v, want %v", text, got.Columns, s.Columns)
	}
	for spec, want := range map[string]string{
		"a:int64, b":             "a:int64,b:string",
		`"x:y":int64,"q""":bool`: `"x:y":int64,"q""":bool`,
		`"":int64,a`:             `"":int64,a:string`,
	} {
		s, err := ParseSchema(spec)
		if err != nil || s.String() != want {
			t.Errorf("ParseSchema(%q) = %v, %v; want %s", spec, s, err, want)
		}
	}
	for _, bad := range []string{`"open:int64`, `"a"x:int64`, "a:nope", "", ":int64", `"":int64,"":string`} {
		if _, err := ParseSchema(bad); err == nil {
			t.Errorf("ParseSchema(%q) succeeded, want an error", bad)
		}
	}
}

func TestParseNames(t *testing.T) {
	for _, tc := range []struct {
		list    string
		want    []string
		wantErr bool
	}{
		{list: "", want: nil},
		{list: "a, b ,c", want: []string{"a", "b", "c"}},
		{list: " , a,,", want: []string{"a"}},
		{list: `"a,b", " name" ,c`, want: []string{"a,b", " name", "c"}},
		{list: `"say ""hi""",x`, want: []string{`say "hi"`, "x"}},
		{list: `""`, want: []string{""}},
		{list: `user name`, want: []string{"user name"}},
		{list: `"a`, wantErr: true},
		{list: `"a"b,c`, wantErr: true},
	} {
		t.Run(tc.list, func(t *testing.T) {
			got, err := ParseNames(tc.list)
			if (err != nil) != tc.wantErr || !tc.wantErr && !slices.Equal(got, tc.want) {
				t.Errorf("ParseNames(%q) = %q, %v; want %q (error: %v)", tc.list, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// FuzzParseNames checks that any names, each written as Schema.String
// writes a column's name and joined by commas, read back as themselves,
// and that ParseNames takes any text without panicking.
func FuzzParseNames(f *testing.F) {
	for _, s := range []string{"a", `a,b`, ` name`, `say "hi"`, "", "(", ":"} {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ParseNames(a) // no panic, whatever the text
		want := []string{a, b}
		list := quoteName(a) + " , " + quoteName(b)
		got, err := ParseNames(list)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("ParseNames(%q) = %q, %v; want %q", list, got, err, want)
		}
	})
}

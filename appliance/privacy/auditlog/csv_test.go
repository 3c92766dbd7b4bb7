package auditlog

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"slices"
	"strconv"
	"testing"
	"time"
)

func readCSV(t *testing.T, data []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not valid CSV: %v\n%s", err, data)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], CSVHeader()) {
		t.Fatalf("header = %v, want %v", rows[0], CSVHeader())
	}
	return rows[1:]
}

func TestWriteCSV(t *testing.T) {
	_, l := newLog(t)
	written := appendN(t, l, 6)
	formulas := []string{"=1,2", "-2", "=hyperlink", "-"}
	for i, d := range formulas {
		e := sample(i)
		e.Detail = d
		if _, err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}

	var buf bytes.Buffer
	if err := l.WriteCSV(&buf, Query{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(buf.Bytes(), []byte("\r\n"), nil), []byte("\n")) {
		t.Error("lines do not end in CRLF (RFC 4180)")
	}
	rows := readCSV(t, buf.Bytes())
	if len(rows) != 10 {
		t.Fatalf("%d rows, want 10", len(rows))
	}
	for i, e := range written {
		r := rows[i]
		want := []string{
			strconv.FormatUint(e.Seq, 10), e.Time.Format(time.RFC3339Nano),
			strconv.FormatUint(e.ActorID, 10), e.ActorRole,
			strconv.FormatUint(e.SubjectID, 10), strconv.FormatUint(e.UnitID, 10),
			e.Action, e.Detail, hex.EncodeToString(e.PrevHash[:]), hex.EncodeToString(e.Hash[:]),
		}
		if !slices.Equal(r, want) {
			t.Errorf("row %d = %v\nwant    %v", i, r, want)
		}
	}
	for i, d := range formulas {
		if got := rows[6+i][7]; got != "'"+d {
			t.Errorf("detail %q exported as %q, want it prefixed with '", d, got)
		}
	}
	for _, r := range rows {
		for _, cell := range r {
			if cell != "" && bytes.ContainsAny([]byte{cell[0]}, "=+-@\t\r") {
				t.Errorf("cell %q starts a formula", cell)
			}
		}
	}

	// A query and a limit select rows as Find does.
	buf.Reset()
	if err := l.WriteCSV(&buf, Query{SubjectID: 2, NewestFirst: true, Limit: 1}); err != nil {
		t.Fatal(err)
	}
	rows = readCSV(t, buf.Bytes())
	found, _ := l.Find(Query{SubjectID: 2, NewestFirst: true, Limit: 1})
	if len(rows) != 1 || rows[0][0] != strconv.FormatUint(found[0].Seq, 10) {
		t.Errorf("rows %v, want entry %d only", rows, found[0].Seq)
	}
}

// TestWriteCSVPages: exports longer than a page come out whole and in
// order, and a limit that ends mid-page is kept.
func TestWriteCSVPages(t *testing.T) {
	db, l := newLog(t)
	const n = 2*csvPage + 17
	fill(t, db, l, n)
	for _, tt := range []struct {
		q     Query
		first uint64
		rows  int
	}{
		{Query{}, 1, n},
		{Query{NewestFirst: true}, n, n},
		{Query{Limit: csvPage + 5}, 1, csvPage + 5},
		{Query{Limit: csvPage}, 1, csvPage},
		{Query{AfterSeq: 10, Limit: 2 * csvPage}, 11, 2 * csvPage},
	} {
		var buf bytes.Buffer
		if err := l.WriteCSV(&buf, tt.q); err != nil {
			t.Fatal(err)
		}
		rows := readCSV(t, buf.Bytes())
		if len(rows) != tt.rows {
			t.Fatalf("%+v: %d rows, want %d", tt.q, len(rows), tt.rows)
		}
		for i, r := range rows {
			want := tt.first + uint64(i)
			if tt.q.NewestFirst {
				want = tt.first - uint64(i)
			}
			if r[0] != strconv.FormatUint(want, 10) {
				t.Fatalf("%+v: row %d is entry %s, want %d", tt.q, i, r[0], want)
			}
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

var errWrite = bytes.ErrTooLarge

func TestWriteCSVReportsWriteErrors(t *testing.T) {
	_, l := newLog(t)
	appendN(t, l, 2)
	if err := l.WriteCSV(failWriter{}, Query{}); err == nil {
		t.Fatal("WriteCSV to a failing writer succeeded")
	}
}

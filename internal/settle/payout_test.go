package settle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseReturns(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Return
		err      string // substring naming file, line and field
	}{
		{name: "ok", in: "batch_id,bank_ref,status\nstb_1,B1,paid\nstb_2,,failed\n",
			want: []Return{{Line: 2, BatchID: "stb_1", BankRef: "B1", Paid: true, Status: "paid"}, {Line: 3, BatchID: "stb_2", Status: "failed"}}},
		{name: "columns in any order, case, spaces", in: "Status, Batch_ID ,bank_ref\n OK ,stb_1, B1 \n",
			want: []Return{{Line: 2, BatchID: "stb_1", BankRef: "B1", Paid: true, Status: "ok"}}},
		{name: "same line twice is one", in: "batch_id,bank_ref,status\nstb_1,B1,paid\nstb_1,B1,success\n",
			want: []Return{{Line: 2, BatchID: "stb_1", BankRef: "B1", Paid: true, Status: "paid"}}},
		{name: "empty file", in: "", err: "r.csv:1: empty file"},
		{name: "missing column", in: "batch_id,status\n", err: "r.csv:1: bank_ref: missing column"},
		{name: "paid without ref", in: "batch_id,bank_ref,status\nstb_1,,paid\n", err: "r.csv:2: bank_ref: empty"},
		{name: "unknown status", in: "batch_id,bank_ref,status\nstb_1,B,maybe\n", err: `r.csv:2: status: "maybe"`},
		{name: "empty batch", in: "batch_id,bank_ref,status\n,B,paid\n", err: "r.csv:2: batch_id: empty"},
		{name: "contradiction", in: "batch_id,bank_ref,status\nstb_1,B1,paid\nstb_1,,failed\n", err: "r.csv:3: batch_id: stb_1 listed on line 2"},
		{name: "bad quoting", in: "batch_id,bank_ref,status\n\"stb_1,B1,paid\n", err: "r.csv:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReturns(strings.NewReader(tt.in), "r.csv")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("line %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseReturnsTestdata(t *testing.T) {
	for name, want := range map[string]int{"ok.csv": 3, "bom_crlf.csv": 2} {
		f, err := os.Open(filepath.Join("testdata", "returns", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseReturns(f, name)
		f.Close()
		if err != nil || len(got) != want {
			t.Errorf("%s: %d returns, err %v; want %d", name, len(got), err, want)
		}
	}
	f, _ := os.Open(filepath.Join("testdata", "returns", "bad_ref.csv"))
	defer f.Close()
	var re *ReturnError
	if _, err := ParseReturns(f, "bad_ref.csv"); !errors.As(err, &re) || re.Line != 2 || re.Field != "bank_ref" {
		t.Errorf("bad_ref.csv: %v", err)
	}
}

func FuzzParseReturns(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "returns", "*.csv"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rets, err := ParseReturns(strings.NewReader(string(data)), "fuzz.csv")
		if err != nil {
			var re *ReturnError
			if !errors.As(err, &re) && !strings.HasPrefix(err.Error(), "fuzz.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range rets {
			if r.BatchID == "" || (r.Paid && r.BankRef == "") || seen[r.BatchID] {
				t.Fatalf("bad return accepted: %+v", r)
			}
			seen[r.BatchID] = true
		}
	})
}

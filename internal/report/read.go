package report

import (
	"archive/zip"
	"fmt"
	"html"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// ReadSheet returns the raw cell values of one sheet of the workbook at path, row by row (no
// number formatting applied: a money cell reads "1234.5"). Trailing empty cells are omitted.
// It is meant for tests of the commands that write reports.
func ReadSheet(path, sheet string) ([][]string, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		return nil, fmt.Errorf("read %s sheet %q: %w", path, sheet, err)
	}
	return rows, nil
}

// Dump renders the workbook at path as stable text for golden tests: per sheet its frozen
// pane, autofilter and column widths, then one line per non-empty cell with its reference,
// type, raw value, number format and formula; then the data ranges every chart plots. It
// compares what a reader sees, never zip bytes.
func Dump(path string) (string, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return "", fmt.Errorf("dump %s: %w", path, err)
	}
	defer f.Close()
	var b strings.Builder
	filters := map[string]string{}
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm._FilterDatabase" {
			filters[dn.Scope] = dn.RefersTo
		}
	}
	for _, sheet := range f.GetSheetList() {
		fmt.Fprintf(&b, "== sheet %s\n", sheet)
		if p, err := f.GetPanes(sheet); err == nil && p.Freeze {
			fmt.Fprintf(&b, "frozen %s\n", p.TopLeftCell)
		}
		if r, ok := filters[sheet]; ok {
			fmt.Fprintf(&b, "autofilter %s\n", r)
		}
		rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
		if err != nil {
			return "", fmt.Errorf("dump %s sheet %q: %w", path, sheet, err)
		}
		width := 0
		for _, r := range rows {
			width = max(width, len(r))
		}
		var ws []string
		for c := 1; c <= width; c++ {
			w, err := f.GetColWidth(sheet, colName(c))
			if err != nil {
				return "", err
			}
			ws = append(ws, colName(c)+"="+strconv.FormatFloat(w, 'f', -1, 64))
		}
		fmt.Fprintf(&b, "widths %s\n", strings.Join(ws, " "))
		for r := range rows {
			for c := range width {
				ref, _ := excelize.CoordinatesToCellName(c+1, r+1)
				val := ""
				if c < len(rows[r]) {
					val = rows[r][c]
				}
				formula, err := f.GetCellFormula(sheet, ref)
				if err != nil {
					return "", err
				}
				if val == "" && formula == "" {
					continue
				}
				line, err := dumpCell(f, sheet, ref, val, formula)
				if err != nil {
					return "", err
				}
				b.WriteString(line)
			}
		}
	}
	charts, err := chartRanges(path)
	if err != nil {
		return "", err
	}
	b.WriteString(charts)
	return b.String(), nil
}

var cellTypes = map[excelize.CellType]string{
	excelize.CellTypeUnset: "n", excelize.CellTypeNumber: "n", excelize.CellTypeBool: "b",
	excelize.CellTypeDate: "d", excelize.CellTypeError: "e", excelize.CellTypeFormula: "f",
	excelize.CellTypeInlineString: "s", excelize.CellTypeSharedString: "s",
}

func dumpCell(f *excelize.File, sheet, ref, val, formula string) (string, error) {
	t, err := f.GetCellType(sheet, ref)
	if err != nil {
		return "", err
	}
	typ := cellTypes[t]
	if formula != "" && typ == "s" {
		typ = "n" // excelize marks a formula cell t="str" only when its cached value is a string
	}
	id, err := f.GetCellStyle(sheet, ref)
	if err != nil {
		return "", err
	}
	nf := ""
	if id != 0 {
		st, err := f.GetStyle(id)
		if err != nil {
			return "", err
		}
		switch {
		case st.CustomNumFmt != nil:
			nf = *st.CustomNumFmt
		case st.NumFmt != 0:
			nf = "#" + strconv.Itoa(st.NumFmt)
		}
	}
	line := ref + "\t" + typ + "\t" + strconv.Quote(val) + "\t" + nf
	if formula != "" {
		line += "\t=" + formula
	}
	return line + "\n", nil
}

var chartRef = regexp.MustCompile(`<(?:c:)?f>([^<]*)</(?:c:)?f>`)

// chartRanges lists, per chart part, the ranges its series refer to.
func chartRanges(path string) (string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return "", fmt.Errorf("dump %s: %w", path, err)
	}
	defer zr.Close()
	var names []string
	files := map[string]*zip.File{}
	for _, zf := range zr.File {
		if strings.HasPrefix(zf.Name, "xl/charts/chart") {
			names = append(names, zf.Name)
			files[zf.Name] = zf
		}
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		rc, err := files[n].Open()
		if err != nil {
			return "", err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "== chart %s\n", strings.TrimPrefix(n, "xl/charts/"))
		for _, m := range chartRef.FindAllStringSubmatch(string(data), -1) {
			fmt.Fprintf(&b, "%s\n", html.UnescapeString(m[1]))
		}
	}
	return b.String(), nil
}

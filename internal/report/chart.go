package report

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/xuri/excelize/v2"

	"github.com/paygw/paygw/internal/money"
)

// chartTop is how many merchants a per-merchant chart shows; the rest are summed into one
// "Other merchants" column so the chart stays readable with thousands of merchants.
const chartTop = 20

// merchantValue is one merchant's amount in one currency.
type merchantValue struct {
	id, name string
	value    int64
}

// byMerchant sums values per merchant and currency.
type byMerchant map[money.Currency]map[string]*merchantValue

func (b byMerchant) add(cur money.Currency, id, name string, v int64) error {
	m := b[cur]
	if m == nil {
		m = map[string]*merchantValue{}
		b[cur] = m
	}
	mv := m[id]
	if mv == nil {
		mv = &merchantValue{id: id, name: name}
		m[id] = mv
	}
	return sum64(&mv.value, v)
}

// merchantCharts writes, from row on sheet, one block per currency: a two-column table
// (merchant, value) of the chartTop largest values plus "Other merchants", and a column
// chart of it to the right. It returns the first free row below the blocks.
func merchantCharts(f *excelize.File, st *styles, g *grid, row int, title, valueTitle string, data byMerchant) (int, error) {
	curs := make([]money.Currency, 0, len(data))
	for c := range data {
		curs = append(curs, c)
	}
	slices.Sort(curs)
	for _, cur := range curs {
		list := make([]merchantValue, 0, len(data[cur]))
		for _, mv := range data[cur] {
			list = append(list, *mv)
		}
		slices.SortFunc(list, func(a, b merchantValue) int {
			return cmp.Or(cmp.Compare(b.value, a.value), cmp.Compare(a.id, b.id))
		})
		if len(list) > chartTop {
			other := merchantValue{name: fmt.Sprintf("Other merchants (%d)", len(list)-chartTop)}
			for _, mv := range list[chartTop:] {
				if err := sum64(&other.value, mv.value); err != nil {
					return 0, err
				}
			}
			list = append(list[:chartTop], other)
		}
		top := row
		g.set(1, top, excelize.Cell{StyleID: st.label, Value: fmt.Sprintf("%s, %s", title, cur)})
		g.row(top+1, hdr(st, "Merchant", valueTitle+" ("+string(cur)+")")...)
		for i, mv := range list {
			name := mv.name
			if name == "" {
				name = mv.id
			}
			c, err := st.moneyCell(mv.value, cur, false)
			if err != nil {
				return 0, fmt.Errorf("%s %s: %w", title, cur, err)
			}
			g.row(top+2+i, name, c)
		}
		if g.err != nil {
			return 0, g.err
		}
		first, last := top+2, top+1+len(list)
		chart := &excelize.Chart{
			Type: excelize.Col,
			Series: []excelize.ChartSeries{{
				Name:       absRef(g.sheet, 2, top+1),
				Categories: absRange(g.sheet, 1, first, last),
				Values:     absRange(g.sheet, 2, first, last),
			}},
			Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: fmt.Sprintf("%s, %s", title, cur)}}},
			Legend:    excelize.ChartLegend{Position: "none"},
			Dimension: excelize.ChartDimension{Width: 720, Height: 320},
		}
		if err := addChart(f, g.sheet, "D"+fmt.Sprint(top), chart, "Merchant", valueTitle+" ("+string(cur)+")"); err != nil {
			return 0, fmt.Errorf("chart %s %s: %w", title, cur, err)
		}
		// A 320-pixel chart spans about 17 default rows; keep blocks from overlapping.
		row = max(last, top+17) + 2
	}
	return row, nil
}

// axisNumFmt labels value axes: whole numbers with thousands separators (21,549 not 21549).
const axisNumFmt = "#,##0"

// addChart adds chart to sheet at cell with axes a finance reader can trust: the value axis
// starts at zero (a bar of 21,549 beside one of 18,719 must not look three times as long, as it
// does when the axis starts near the smallest value), its labels have thousands separators and
// gridlines, and both axes carry a title (category: what the bars are; value: what and in which
// unit). Every chart of every workbook goes through it.
func addChart(f *excelize.File, sheet, cell string, chart *excelize.Chart, category, value string) error {
	zero := 0.0
	chart.YAxis.Minimum = &zero
	chart.YAxis.NumFmt = excelize.ChartNumFmt{CustomNumFmt: axisNumFmt}
	chart.YAxis.MajorGridLines = true
	chart.YAxis.Title = excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: value}}}
	chart.XAxis.Title = excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: category}}}
	return f.AddChart(sheet, cell, chart)
}

// sumIfs is the formula and cached value of a per-currency total of column col over data rows
// 2..last, where the currency sits in column curCol.
func sumIfs(col, curCol, last int, cur money.Currency) string {
	c, k := colName(col), colName(curCol)
	return fmt.Sprintf(`SUMIFS(%s$2:%s$%d,$%s$2:$%s$%d,"%s")`, c, c, last, k, k, last, cur)
}

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// A curve is how one scaling benchmark's cost grew: the time per item at
// each number of items. A cost that grows linearly with the items is a
// flat line (after the fixed cost of the smallest size has been spread);
// one that grows faster rises to the right.
type curve struct {
	item    string    // "process", "thread", ...
	sizes   []int     // numbers of items measured
	perItem []float64 // median milliseconds per item at each size
}

// A scalingPlot gathers the curves of one run, in two panels named by the
// last words of their benchmarks' names ("checkpoint", "restart").
type scalingPlot struct {
	panels []string
	curves map[string][]namedCurve
}

type namedCurve struct {
	label string
	curve
}

// add files benchmark name's curve c under its panel.
func (p *scalingPlot) add(name string, c *curve) {
	if c == nil {
		return
	}
	panel := name
	if i := strings.LastIndex(name, ", "); i >= 0 {
		panel = name[i+2:]
	}
	if p.curves == nil {
		p.curves = map[string][]namedCurve{}
	}
	if _, ok := p.curves[panel]; !ok {
		p.panels = append(p.panels, panel)
	}
	label := strings.TrimPrefix(strings.TrimSuffix(name, ", "+panel), "scaling: ")
	p.curves[panel] = append(p.curves[panel], namedCurve{label, *c})
}

// write renders the panels side by side, log-log, to file: PNG or SVG by
// its extension.
func (p *scalingPlot) write(file, machine string) error {
	if len(p.panels) == 0 {
		return fmt.Errorf("no scaling benchmark ran: nothing to plot to %s", file)
	}
	row := make([]*plot.Plot, len(p.panels))
	for i, panel := range p.panels {
		pl := plot.New()
		pl.Title.Text = panel + ": time per item"
		pl.X.Label.Text = "items (processes, threads, mappings, descriptors)"
		pl.Y.Label.Text = "ms per item (median)"
		pl.X.Scale, pl.Y.Scale = plot.LogScale{}, plot.LogScale{}
		pl.X.Tick.Marker, pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
		pl.Legend.Top = true
		for j, c := range p.curves[panel] {
			pts := make(plotter.XYs, len(c.sizes))
			for k := range c.sizes {
				pts[k].X, pts[k].Y = float64(c.sizes[k]), c.perItem[k]
			}
			l, s, err := plotter.NewLinePoints(pts)
			if err != nil {
				return fmt.Errorf("plot %s, %s: %w", panel, c.label, err)
			}
			l.Color, s.Color = plotutil.Color(j), plotutil.Color(j)
			l.Dashes, s.Shape = plotutil.Dashes(j), plotutil.Shape(j)
			pl.Add(l, s)
			pl.Legend.Add(c.label, l, s)
		}
		row[i] = pl
	}
	for _, pl := range row {
		pl.Title.Text += "\n" + machine
	}

	w, h := vg.Length(len(row))*12*vg.Centimeter, 11*vg.Centimeter
	var c vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(file)) {
	case ".svg":
		c = vgsvg.New(w, h)
	case ".png":
		c = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	default:
		return fmt.Errorf("plot %s: the name must end in .png or .svg", file)
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Centimeter,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, draw.New(c))
	for i, pl := range row {
		pl.Draw(canvases[0][i])
	}
	return writeFileAtomic(file, c)
}

// writeFileAtomic writes what c draws to file through a temporary file in
// the same directory, so that an interrupted run leaves the old plot.
func writeFileAtomic(file string, c io.WriterTo) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".plot-*")
	if err != nil {
		return fmt.Errorf("plot %s: %w", file, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := c.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("plot %s: %w", file, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("plot %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("plot %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("plot %s: %w", file, err)
	}
	return nil
}

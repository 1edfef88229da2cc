package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/locale"
)

// bar is one bar of a horizontal bar chart, laid out in the SVG's units.
type bar struct {
	Label string
	Count int
	Y     int // top of the bar
	W     int // length of the bar
	Class string
	Link  string // the parcel list filtered to these parcels, or ""
}

// chart is a horizontal bar chart: one row per bar.
type chart struct {
	Bars   []bar
	Height int
}

// Chart geometry: the labels take the left, the bars the rest.
const (
	chartLabelW = 260
	chartBarW   = 380
	chartRow    = 34
)

func newChart(bars []bar) chart {
	most := 0
	for _, b := range bars {
		most = max(most, b.Count)
	}
	for i := range bars {
		bars[i].Y = i*chartRow + 6
		if most > 0 {
			bars[i].W = bars[i].Count * chartBarW / most
		}
		if bars[i].Count > 0 {
			bars[i].W = max(bars[i].W, 3) // a parcel is never an invisible bar
		}
	}
	return chart{Bars: bars, Height: len(bars)*chartRow + 6}
}

// dashboardPage is the content of the dashboard.
type dashboardPage struct {
	From, To   string // the week, in words
	Prev, Next string // links to the weeks around it, Next "" for the current week
	Total      int
	ByStatus   chart
	OTP        chart
	OTPParcels int
	Mean       string // mean attempts per attempted passcode parcel, in the page's language
	Attempted  int
}

// dashboard shows a week of the shipper's parcels (by label date, Monday to
// Sunday, UTC): how many are in each status, and how the passcode parcels
// fared — delivered at the first attempt, after a re-attempt, or returned —
// with their mean attempts. ?week= is any date of the week.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	now := s.Now()
	day := now
	if v := r.URL.Query().Get("week"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil || t.Year() < 2000 || t.Year() > 9998 {
			s.fail(w, r, handoff.Invalid(handoff.FieldError{Field: "week", Message: "must be a date like 2026-11-30"}))
			return
		}
		day = t
	}
	from, to := handoff.WeekOf(day)
	d, err := s.Shipments.Dashboard(r.Context(), visitorFrom(r.Context()).principal.ID, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := newView(r, "Dashboard", "dashboard", nil)
	lang := v.Lang
	page := dashboardPage{
		From: locale.Day(lang, from), To: locale.Day(lang, to.AddDate(0, 0, -1)),
		Prev: "/dashboard?week=" + from.AddDate(0, 0, -7).Format(time.DateOnly), Total: d.Total(),
		OTPParcels: d.OTP.Parcels, Attempted: d.OTP.Attempted,
		Mean: locale.FormatDecimal(lang, strconv.FormatFloat(d.OTP.MeanAttempts(), 'f', 1, 64)),
	}
	if to.Before(now) {
		page.Next = "/dashboard?week=" + to.Format(time.DateOnly)
	}
	period := "&from=" + from.Format(time.DateOnly) + "&to=" + to.AddDate(0, 0, -1).Format(time.DateOnly)
	var bars []bar
	for _, st := range handoff.Statuses {
		bars = append(bars, bar{Label: v.T(statusWords(st)), Count: d.ByStatus[st], Class: "st-" + st, Link: "/shipments?status=" + st + period})
	}
	page.ByStatus = newChart(bars)
	page.OTP = newChart([]bar{
		{Label: v.T("Delivered at the first attempt"), Count: d.OTP.FirstTime, Class: "otp-first"},
		{Label: v.T("Delivered after a re-attempt"), Count: d.OTP.AfterReattempt, Class: "otp-again"},
		{Label: v.T("Returned"), Count: d.OTP.Returned, Class: "otp-returned"},
	})
	v.Data = page
	s.render(w, r, http.StatusOK, "dashboard", v)
}

package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Alert kinds (SPEC §4).
const (
	KindSurge        = "surge"
	KindDrop         = "drop"
	KindEntered      = "entered"
	KindExited       = "exited"
	KindRemoved      = "removed"
	KindMultiCountry = "multi_country_surge"
)

// Severities.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is one sudden move (SPEC §4). Its JSON is the backtest output, the
// data of the json webhook and the stored alert.
type Alert struct {
	// ID is stable for the same event, so replays and retries can be
	// de-duplicated.
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Time     time.Time `json:"time"`
	Store    string    `json:"store"`
	// Country is null for a multi-country surge (see Countries).
	Country  *string `json:"country"`
	Chart    string  `json:"chart"`
	Category string  `json:"category"`
	AppID    string  `json:"app_id"`
	AppName  string  `json:"app_name"`
	// Watch is the watch-list name, null for apps not watched.
	Watch *string `json:"watch"`
	// FromRank is null when the app was below the chart (or n/a); ToRank is
	// null when it is below the chart now.
	FromRank  *int     `json:"from_rank"`
	ToRank    *int     `json:"to_rank"`
	Countries []string `json:"countries"`
	Summary   string   `json:"summary"`
	// Revision counts updates of a multi-country surge as more countries
	// join (0, absent from the JSON, for the first notice). Updates keep the
	// event's ID.
	Revision int `json:"revision,omitempty"`
}

// CountryCode returns the alert's country, or "" for a multi-country surge.
func (a *Alert) CountryCode() string {
	if a.Country == nil {
		return ""
	}
	return *a.Country
}

// WatchName returns the watch-list name, or "".
func (a *Alert) WatchName() string {
	if a.Watch == nil {
		return ""
	}
	return *a.Watch
}

// AlertID derives a stable id from the parts that identify an event.
func AlertID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x1f")))
	return hex.EncodeToString(h[:10])
}

// Ptr returns a pointer to v (for the nullable alert fields).
func Ptr[T any](v T) *T { return &v }

// StoreName is a store's display name.
func StoreName(store string) string {
	if store == GooglePlay {
		return "Google Play"
	}
	return "App Store"
}

// ChartName is a chart's display name ("top free").
func ChartName(c string) string { return strings.ReplaceAll(c, "-", " ") }

// appStoreGenres are Apple's genre names (ws/genres).
var appStoreGenres = map[string]string{
	"36": "", "6000": "Business", "6001": "Weather", "6002": "Utilities", "6003": "Travel", "6004": "Sports",
	"6005": "Social Networking", "6006": "Reference", "6007": "Productivity", "6008": "Photo & Video",
	"6009": "News", "6010": "Navigation", "6011": "Music", "6012": "Lifestyle", "6013": "Health & Fitness",
	"6014": "Games", "6015": "Finance", "6016": "Entertainment", "6017": "Education", "6018": "Books",
	"6020": "Medical", "6021": "Magazines & Newspapers", "6022": "Catalogs", "6023": "Food & Drink",
	"6024": "Shopping", "6025": "Stickers", "6026": "Developer Tools", "6027": "Graphics & Design",
	"7001": "Action Games", "7002": "Adventure Games", "7003": "Arcade Games", "7004": "Board Games",
	"7005": "Card Games", "7006": "Casino Games", "7009": "Family Games", "7011": "Music Games",
	"7012": "Puzzle Games", "7013": "Racing Games", "7014": "Role Playing Games", "7015": "Simulation Games",
	"7016": "Sports Games", "7017": "Strategy Games", "7018": "Trivia Games", "7019": "Word Games",
}

// CategoryName is a category's display name: "" for the overall chart,
// "Social Networking" for App Store 6005, "Communication" for Play's
// COMMUNICATION.
func CategoryName(store, category string) string {
	if category == All {
		return ""
	}
	if store == AppStore {
		if n, ok := appStoreGenres[category]; ok {
			return n
		}
		return "genre " + category
	}
	words := strings.Split(strings.ToLower(category), "_")
	for i, w := range words {
		if w == "and" {
			words[i] = "&"
			continue
		}
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// Describe names a chart for people: "US top free Social Networking
// (App Store)".
func (k Key) Describe() string {
	return strings.ToUpper(k.Country) + " " + k.ChartTitle() + " (" + StoreName(k.Store) + ")"
}

// ChartTitle names the chart without country or store: "top free Social
// Networking".
func (k Key) ChartTitle() string {
	s := ChartName(k.Chart)
	if c := CategoryName(k.Store, k.Category); c != "" {
		s += " " + c
	}
	return s
}

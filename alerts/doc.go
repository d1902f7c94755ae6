// Package alerts is rankpulse's alert engine: it reads each slot's chart
// snapshots and flags sudden rank moves.
//
// # Ranks and what is known
//
// An app's position in a chart is a rank: #1 is the top. An app absent from
// a snapshot read in full (complete) is below the chart: for the engine it
// sits at depth+1. An app absent from a snapshot that was not read in full
// is unknown, and an unknown reading changes nothing: it neither confirms an
// exit nor starts a move. Moves are judged as rank ratios, because ranks are
// ordinal: #150 → #50 and #3 → #1 are both a 3× move, #12 ↔ #9 is not news.
//
// # Surges and drops: a move completed within the window
//
// For each app of each chart the engine keeps its known readings of the last
// few days (every reading, whatever the sampling: hourly, daily, or uneven
// after an outage). At every new reading it asks one question: looking back
// over the move window (alerts.window, 72h), is the app now at least
// min_ratio times better (surge) or worse (drop) than the worst (best) rank
// it held in that window? That is the whole move rule; it treats a one-hour
// step and a three-day log-linear climb the same, and it fires while the
// move is under way — at the first reading past min_ratio — not at its end.
// The move is described from where it started: the latest reading still
// near the window's extreme, so a summary reads "rose from #93 to #4 in
// 19h".
//
// Four checks keep ordinary movement quiet:
//
//   - The daily cycle. In a chart read more often than daily, if the app
//     stood within 1.3× (and a place) of the new rank at about the same
//     time of day (±90 minutes) on either of the two days before, the move
//     is its daily pattern, not news: an app swinging 15 ↔ 60 every day
//     never alerts, while a steady 3× slide over three days still changes
//     1.44× a day. A chart read daily shows no daily cycle; there the
//     previous reading is "yesterday", and a jump overnight counts.
//   - The end of a spike. A drop back to where the app stood in the day
//     before its high is the spike fading, not a fall: #94 → #6 → #36 raises
//     the surge and not a drop.
//   - The chart's own churn. Each chart keeps a decayed histogram of how
//     far its apps move from one complete read to the next, per rank band
//     (1–10, 11–30, 31–100, beyond), apps coming in from below the chart or
//     falling out of it included. A move must be min_z times the chart's
//     typical move at the rank it started from and beat the largest 1 % of
//     its moves there:
//     the middle of a paid Business chart reshuffles threefold every day,
//     and that is not news. A jump from #30 or below into the top 10 always
//     is. Exits are judged the same way, as a move to just below the chart.
//   - Size and persistence. A move of fewer than three places never alerts
//     (#3 → #1 is 3×, and how a crowded top reshuffles), and in a chart read
//     more often than daily the move must hold for two reads.
//   - History. A move needs min_history readings covering min_span before it
//     started, so that the first day of a chart cannot look like a surge.
//
// After an alert, the same chart and app alert again within cooldown only
// for a bigger move: escalation times better (worse) than the last alerted
// rank, so a climb reports #31, then #15, #7, #3.
//
// # Entries, exits and removals
//
// entered: an app below the chart (absent from the chart's last complete
// snapshots, or new to a chart read before) appears at entered.top or
// better. exited: an app that was in the top exited.top is absent from
// exited.confirmations consecutive complete snapshots. removed: an app in
// the top removed.top of at least removed.min_charts charts of one country
// is gone from every chart of that country — each read in full — for
// removed.confirmations slots while still listed in another country: a
// possible ban; its exits are folded into it.
//
// # Multi-country surges
//
// When one app surges or enters in multi_country.min_countries countries of
// a store within multi_country.window, the engine raises one critical
// multi_country_surge naming every such country — all countries of the
// sweep that opens it go into the first notice — and later countries update
// it (same id, a growing revision, at most one update per evaluation)
// instead of alerting one by one.
//
// # Determinism and restarts
//
// The engine is deterministic: the same snapshots in the same order give the
// same alerts with the same ids. Its whole state can be written with
// MarshalBinary and read back with UnmarshalBinary, so a daemon restarts
// from a checkpoint instead of replaying days of history.
package alerts

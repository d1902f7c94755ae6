package config

import "time"

// DefaultCountries are the ~40 major markets the built-in job watches.
var DefaultCountries = []string{
	"us", "gb", "de", "fr", "it", "es", "nl", "se", "no", "pl",
	"tr", "ru", "ua", "br", "mx", "ar", "co", "cl", "in", "id",
	"th", "vn", "ph", "my", "sg", "jp", "kr", "cn", "tw", "hk",
	"au", "ca", "za", "ng", "eg", "sa", "ae", "il", "pk", "kz",
}

// DefaultWatch are the major messengers, with their App Store ids and
// Google Play packages.
var DefaultWatch = []Watch{
	{Name: "whatsapp", AppStore: "310633997", GooglePlay: "com.whatsapp"},
	{Name: "telegram", AppStore: "686449807", GooglePlay: "org.telegram.messenger"},
	{Name: "signal", AppStore: "874139669", GooglePlay: "org.thoughtcrime.securesms"},
	{Name: "messenger", AppStore: "454638411", GooglePlay: "com.facebook.orca"},
	{Name: "viber", AppStore: "382617920", GooglePlay: "com.viber.voip"},
	{Name: "line", AppStore: "443904275", GooglePlay: "jp.naver.line.android"},
	{Name: "wechat", AppStore: "414478124", GooglePlay: "com.tencent.mm"},
	{Name: "bip", AppStore: "583274826", GooglePlay: "com.turkcell.bip"},
	{Name: "discord", AppStore: "985746746", GooglePlay: "com.discord"},
	{Name: "snapchat", AppStore: "447188370", GooglePlay: "com.snapchat.android"},
	{Name: "threema", AppStore: "578665578", GooglePlay: "ch.threema.app"},
	{Name: "kakaotalk", AppStore: "362057947", GooglePlay: "com.kakao.talk"},
	{Name: "zalo", AppStore: "579523206", GooglePlay: "com.zing.zalo"},
	{Name: "imo", AppStore: "336435697", GooglePlay: "com.imo.android.imoim"},
}

// Default returns the built-in configuration: the major messengers in ~40
// major countries, hourly, top-free overall and Social Networking
// (App Store 6005) / Communication (Google Play), embedded store only.
func Default() *Config {
	job := defaultJob()
	job.Name = "messaging"
	job.Countries = append([]string(nil), DefaultCountries...)
	job.Categories = Categories{
		AppStore:   []string{"all", "6005"},
		GooglePlay: []string{"all", "COMMUNICATION"},
	}
	return &Config{
		DataDir:   "./rankpulse-data",
		Listen:    "127.0.0.1:9580",
		Retention: Duration(90 * 24 * time.Hour),
		Log:       Log{Level: "info", Format: "text"},
		Stores: Stores{
			AppStore: AppStore{
				Endpoints: AppStoreEndpoints{
					ITunes:    "https://itunes.apple.com",
					Marketing: "https://rss.applemarketingtools.com",
				},
				Sources: []string{"charts", "rss", "marketing"},
				Fetch: Fetch{
					Rate:        4,
					Concurrency: 4,
					Timeout:     Duration(20 * time.Second),
					Retries:     3,
					UserAgent:   DefaultUserAgent,
					// The largest real App Store answer is a 200-app lookup,
					// ~0.5 MB built from the recorded one (arrays cut) and
					// ~2 MB with full arrays and descriptions: 8× headroom.
					MaxBodyBytes: DefaultMaxBodyBytes,
				},
			},
			GooglePlay: GooglePlay{
				Endpoints:      GooglePlayEndpoints{Play: "https://play.google.com"},
				Language:       "en",
				BlockedBackoff: Duration(30 * time.Minute),
				Fetch: Fetch{
					Rate:        1,
					Concurrency: 2,
					Timeout:     Duration(20 * time.Second),
					Retries:     2,
					UserAgent:   DefaultUserAgent,
					// Google's real 100-app answer is 853 KB, a 200-app one
					// ~1.6 MB: 10× headroom.
					MaxBodyBytes: DefaultMaxBodyBytes,
				},
			},
		},
		Jobs:    []Job{job},
		Watch:   append([]Watch(nil), DefaultWatch...),
		Alerts:  DefaultAlerts(),
		Cluster: DefaultCluster(),
	}
}

// DefaultMaxBodyBytes is the default stores.*.max_body_bytes: 16 MiB.
const DefaultMaxBodyBytes = 16 << 20

// DefaultUserAgent identifies rankpulse to the stores.
const DefaultUserAgent = "Mozilla/5.0 (compatible; rankpulse/1; +https://github.com/rankpulse/rankpulse)"

// DefaultAlerts are the alert engine's defaults, chosen on the scenario
// evaluation in internal/scenario and the real history in internal/fixtures
// (see README "Alerts").
func DefaultAlerts() Alerts {
	return Alerts{
		WatchOnly:    true,
		Window:       Duration(72 * time.Hour),
		Lookback:     Duration(7 * 24 * time.Hour),
		MinHistory:   1,
		MinSpan:      Duration(20 * time.Hour),
		Cooldown:     Duration(24 * time.Hour),
		Escalation:   2,
		Surge:        MoveRule{MinRatio: 3, MinZ: 4, MaxRank: 100},
		Drop:         MoveRule{MinRatio: 4, MinZ: 4, MaxRank: 50},
		Entered:      EnteredRule{Top: 10},
		Exited:       AbsenceRule{Top: 25, Confirmations: 2},
		Removed:      RemovedRule{Top: 50, MinCharts: 2, Confirmations: 2},
		MultiCountry: MultiCountry{MinCountries: 3, Window: Duration(48 * time.Hour)},
	}
}

// StatusURL is the status page's address for links in alerts.
func (c *Config) StatusURL() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	if c.Listen == "" {
		return ""
	}
	return "http://" + c.Listen + "/"
}

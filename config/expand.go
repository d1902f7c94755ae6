package config

import "github.com/rankpulse/rankpulse/chart"

// Keys expands the job into the charts it fetches from one store, in a
// stable order: country by country, then chart, then category. Countries the
// store does not serve are left out; "all" means every country it serves.
func (j Job) Keys(store string) []chart.Key {
	if !j.HasStore(store) {
		return nil
	}
	var countries []string
	if len(j.Countries) == 1 && j.Countries[0] == "all" {
		for _, c := range chart.Countries(store) {
			countries = append(countries, c.Code)
		}
	} else {
		for _, cc := range j.Countries {
			if chart.HasCountry(store, cc) {
				countries = append(countries, cc)
			}
		}
	}
	cats := j.Categories.For(store)
	keys := make([]chart.Key, 0, len(countries)*len(j.Charts)*len(cats))
	for _, cc := range countries {
		for _, ch := range j.Charts {
			for _, cat := range cats {
				keys = append(keys, chart.Key{Store: store, Country: cc, Chart: ch, Category: cat})
			}
		}
	}
	return keys
}

// HasStore reports whether the job sweeps the store.
func (j Job) HasStore(store string) bool {
	for _, s := range j.Stores {
		if s == store {
			return true
		}
	}
	return false
}

// WatchIndex maps store → app id → watch name.
func (c *Config) WatchIndex() map[string]map[string]string {
	idx := map[string]map[string]string{}
	for _, s := range chart.Stores {
		idx[s] = map[string]string{}
	}
	for _, w := range c.Watch {
		for _, s := range chart.Stores {
			if id := w.ID(s); id != "" {
				idx[s][id] = w.Name
			}
		}
	}
	return idx
}

// Job returns the job with the given name.
func (c *Config) Job(name string) (Job, bool) {
	for _, j := range c.Jobs {
		if j.Name == name {
			return j, true
		}
	}
	return Job{}, false
}

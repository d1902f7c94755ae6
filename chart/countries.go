package chart

import "sort"

// Country is a storefront or market: its lowercase ISO 3166 code and English name.
type Country struct {
	Code string
	Name string
}

// AppStoreCountries are Apple's 175 App Store storefronts (Media API
// /v1/storefronts, as listed by tweaselORG/parse-tunes). "xk" is Kosovo.
var AppStoreCountries = []Country{
	{"af", "Afghanistan"},
	{"al", "Albania"},
	{"dz", "Algeria"},
	{"ao", "Angola"},
	{"ai", "Anguilla"},
	{"ag", "Antigua and Barbuda"},
	{"ar", "Argentina"},
	{"am", "Armenia"},
	{"au", "Australia"},
	{"at", "Austria"},
	{"az", "Azerbaijan"},
	{"bs", "Bahamas"},
	{"bh", "Bahrain"},
	{"bb", "Barbados"},
	{"by", "Belarus"},
	{"be", "Belgium"},
	{"bz", "Belize"},
	{"bj", "Benin"},
	{"bm", "Bermuda"},
	{"bt", "Bhutan"},
	{"bo", "Bolivia"},
	{"ba", "Bosnia and Herzegovina"},
	{"bw", "Botswana"},
	{"br", "Brazil"},
	{"vg", "British Virgin Islands"},
	{"bn", "Brunei"},
	{"bg", "Bulgaria"},
	{"bf", "Burkina Faso"},
	{"kh", "Cambodia"},
	{"cm", "Cameroon"},
	{"ca", "Canada"},
	{"cv", "Cape Verde"},
	{"ky", "Cayman Islands"},
	{"td", "Chad"},
	{"cl", "Chile"},
	{"cn", "China"},
	{"co", "Colombia"},
	{"cr", "Costa Rica"},
	{"hr", "Croatia"},
	{"cy", "Cyprus"},
	{"cz", "Czechia"},
	{"ci", "Côte d'Ivoire"},
	{"cd", "Congo (DRC)"},
	{"dk", "Denmark"},
	{"dm", "Dominica"},
	{"do", "Dominican Republic"},
	{"ec", "Ecuador"},
	{"eg", "Egypt"},
	{"sv", "El Salvador"},
	{"ee", "Estonia"},
	{"sz", "Eswatini"},
	{"fj", "Fiji"},
	{"fi", "Finland"},
	{"fr", "France"},
	{"ga", "Gabon"},
	{"gm", "Gambia"},
	{"ge", "Georgia"},
	{"de", "Germany"},
	{"gh", "Ghana"},
	{"gr", "Greece"},
	{"gd", "Grenada"},
	{"gt", "Guatemala"},
	{"gw", "Guinea-Bissau"},
	{"gy", "Guyana"},
	{"hn", "Honduras"},
	{"hk", "Hong Kong"},
	{"hu", "Hungary"},
	{"is", "Iceland"},
	{"in", "India"},
	{"id", "Indonesia"},
	{"iq", "Iraq"},
	{"ie", "Ireland"},
	{"il", "Israel"},
	{"it", "Italy"},
	{"jm", "Jamaica"},
	{"jp", "Japan"},
	{"jo", "Jordan"},
	{"kz", "Kazakhstan"},
	{"ke", "Kenya"},
	{"kr", "South Korea"},
	{"xk", "Kosovo"},
	{"kw", "Kuwait"},
	{"kg", "Kyrgyzstan"},
	{"la", "Laos"},
	{"lv", "Latvia"},
	{"lb", "Lebanon"},
	{"lr", "Liberia"},
	{"ly", "Libya"},
	{"lt", "Lithuania"},
	{"lu", "Luxembourg"},
	{"mo", "Macao"},
	{"mg", "Madagascar"},
	{"mw", "Malawi"},
	{"my", "Malaysia"},
	{"mv", "Maldives"},
	{"ml", "Mali"},
	{"mt", "Malta"},
	{"mr", "Mauritania"},
	{"mu", "Mauritius"},
	{"mx", "Mexico"},
	{"fm", "Micronesia"},
	{"md", "Moldova"},
	{"mn", "Mongolia"},
	{"me", "Montenegro"},
	{"ms", "Montserrat"},
	{"ma", "Morocco"},
	{"mz", "Mozambique"},
	{"mm", "Myanmar"},
	{"na", "Namibia"},
	{"nr", "Nauru"},
	{"np", "Nepal"},
	{"nl", "Netherlands"},
	{"nz", "New Zealand"},
	{"ni", "Nicaragua"},
	{"ne", "Niger"},
	{"ng", "Nigeria"},
	{"mk", "North Macedonia"},
	{"no", "Norway"},
	{"om", "Oman"},
	{"pk", "Pakistan"},
	{"pw", "Palau"},
	{"pa", "Panama"},
	{"pg", "Papua New Guinea"},
	{"py", "Paraguay"},
	{"pe", "Peru"},
	{"ph", "Philippines"},
	{"pl", "Poland"},
	{"pt", "Portugal"},
	{"qa", "Qatar"},
	{"cg", "Congo (Republic)"},
	{"ro", "Romania"},
	{"ru", "Russia"},
	{"rw", "Rwanda"},
	{"sa", "Saudi Arabia"},
	{"sn", "Senegal"},
	{"rs", "Serbia"},
	{"sc", "Seychelles"},
	{"sl", "Sierra Leone"},
	{"sg", "Singapore"},
	{"sk", "Slovakia"},
	{"si", "Slovenia"},
	{"sb", "Solomon Islands"},
	{"za", "South Africa"},
	{"es", "Spain"},
	{"lk", "Sri Lanka"},
	{"kn", "St. Kitts and Nevis"},
	{"lc", "St. Lucia"},
	{"vc", "St. Vincent and the Grenadines"},
	{"sr", "Suriname"},
	{"se", "Sweden"},
	{"ch", "Switzerland"},
	{"st", "São Tomé and Príncipe"},
	{"tw", "Taiwan"},
	{"tj", "Tajikistan"},
	{"tz", "Tanzania"},
	{"th", "Thailand"},
	{"to", "Tonga"},
	{"tt", "Trinidad and Tobago"},
	{"tn", "Tunisia"},
	{"tr", "Türkiye"},
	{"tm", "Turkmenistan"},
	{"tc", "Turks and Caicos Islands"},
	{"ae", "United Arab Emirates"},
	{"ug", "Uganda"},
	{"ua", "Ukraine"},
	{"gb", "United Kingdom"},
	{"us", "United States"},
	{"uy", "Uruguay"},
	{"uz", "Uzbekistan"},
	{"vu", "Vanuatu"},
	{"ve", "Venezuela"},
	{"vn", "Vietnam"},
	{"ye", "Yemen"},
	{"zm", "Zambia"},
	{"zw", "Zimbabwe"},
}

// GooglePlayCountries are the markets whose Google Play top charts rankpulse
// fetches (the gl parameter). Google publishes no list of chart countries:
// this is Apple's storefront list without China (no Play there) and Kosovo
// (no ISO code), plus Bangladesh, where Play charts are known to be served.
// A country Play does not serve answers 404, recorded as a failed chart.
var GooglePlayCountries = []Country{
	{"af", "Afghanistan"},
	{"al", "Albania"},
	{"dz", "Algeria"},
	{"ao", "Angola"},
	{"ai", "Anguilla"},
	{"ag", "Antigua and Barbuda"},
	{"ar", "Argentina"},
	{"am", "Armenia"},
	{"au", "Australia"},
	{"at", "Austria"},
	{"az", "Azerbaijan"},
	{"bs", "Bahamas"},
	{"bh", "Bahrain"},
	{"bd", "Bangladesh"},
	{"bb", "Barbados"},
	{"by", "Belarus"},
	{"be", "Belgium"},
	{"bz", "Belize"},
	{"bj", "Benin"},
	{"bm", "Bermuda"},
	{"bt", "Bhutan"},
	{"bo", "Bolivia"},
	{"ba", "Bosnia and Herzegovina"},
	{"bw", "Botswana"},
	{"br", "Brazil"},
	{"vg", "British Virgin Islands"},
	{"bn", "Brunei"},
	{"bg", "Bulgaria"},
	{"bf", "Burkina Faso"},
	{"kh", "Cambodia"},
	{"cm", "Cameroon"},
	{"ca", "Canada"},
	{"cv", "Cape Verde"},
	{"ky", "Cayman Islands"},
	{"td", "Chad"},
	{"cl", "Chile"},
	{"co", "Colombia"},
	{"cd", "Congo (DRC)"},
	{"cg", "Congo (Republic)"},
	{"cr", "Costa Rica"},
	{"hr", "Croatia"},
	{"cy", "Cyprus"},
	{"cz", "Czechia"},
	{"ci", "Côte d'Ivoire"},
	{"dk", "Denmark"},
	{"dm", "Dominica"},
	{"do", "Dominican Republic"},
	{"ec", "Ecuador"},
	{"eg", "Egypt"},
	{"sv", "El Salvador"},
	{"ee", "Estonia"},
	{"sz", "Eswatini"},
	{"fj", "Fiji"},
	{"fi", "Finland"},
	{"fr", "France"},
	{"ga", "Gabon"},
	{"gm", "Gambia"},
	{"ge", "Georgia"},
	{"de", "Germany"},
	{"gh", "Ghana"},
	{"gr", "Greece"},
	{"gd", "Grenada"},
	{"gt", "Guatemala"},
	{"gw", "Guinea-Bissau"},
	{"gy", "Guyana"},
	{"hn", "Honduras"},
	{"hk", "Hong Kong"},
	{"hu", "Hungary"},
	{"is", "Iceland"},
	{"in", "India"},
	{"id", "Indonesia"},
	{"iq", "Iraq"},
	{"ie", "Ireland"},
	{"il", "Israel"},
	{"it", "Italy"},
	{"jm", "Jamaica"},
	{"jp", "Japan"},
	{"jo", "Jordan"},
	{"kz", "Kazakhstan"},
	{"ke", "Kenya"},
	{"kw", "Kuwait"},
	{"kg", "Kyrgyzstan"},
	{"la", "Laos"},
	{"lv", "Latvia"},
	{"lb", "Lebanon"},
	{"lr", "Liberia"},
	{"ly", "Libya"},
	{"lt", "Lithuania"},
	{"lu", "Luxembourg"},
	{"mo", "Macao"},
	{"mg", "Madagascar"},
	{"mw", "Malawi"},
	{"my", "Malaysia"},
	{"mv", "Maldives"},
	{"ml", "Mali"},
	{"mt", "Malta"},
	{"mr", "Mauritania"},
	{"mu", "Mauritius"},
	{"mx", "Mexico"},
	{"fm", "Micronesia"},
	{"md", "Moldova"},
	{"mn", "Mongolia"},
	{"me", "Montenegro"},
	{"ms", "Montserrat"},
	{"ma", "Morocco"},
	{"mz", "Mozambique"},
	{"mm", "Myanmar"},
	{"na", "Namibia"},
	{"nr", "Nauru"},
	{"np", "Nepal"},
	{"nl", "Netherlands"},
	{"nz", "New Zealand"},
	{"ni", "Nicaragua"},
	{"ne", "Niger"},
	{"ng", "Nigeria"},
	{"mk", "North Macedonia"},
	{"no", "Norway"},
	{"om", "Oman"},
	{"pk", "Pakistan"},
	{"pw", "Palau"},
	{"pa", "Panama"},
	{"pg", "Papua New Guinea"},
	{"py", "Paraguay"},
	{"pe", "Peru"},
	{"ph", "Philippines"},
	{"pl", "Poland"},
	{"pt", "Portugal"},
	{"qa", "Qatar"},
	{"ro", "Romania"},
	{"ru", "Russia"},
	{"rw", "Rwanda"},
	{"kn", "Saint Kitts and Nevis"},
	{"lc", "Saint Lucia"},
	{"vc", "Saint Vincent and the Grenadines"},
	{"sa", "Saudi Arabia"},
	{"sn", "Senegal"},
	{"rs", "Serbia"},
	{"sc", "Seychelles"},
	{"sl", "Sierra Leone"},
	{"sg", "Singapore"},
	{"sk", "Slovakia"},
	{"si", "Slovenia"},
	{"sb", "Solomon Islands"},
	{"za", "South Africa"},
	{"kr", "South Korea"},
	{"es", "Spain"},
	{"lk", "Sri Lanka"},
	{"sr", "Suriname"},
	{"se", "Sweden"},
	{"ch", "Switzerland"},
	{"st", "São Tomé and Príncipe"},
	{"tw", "Taiwan"},
	{"tj", "Tajikistan"},
	{"tz", "Tanzania"},
	{"th", "Thailand"},
	{"to", "Tonga"},
	{"tt", "Trinidad and Tobago"},
	{"tn", "Tunisia"},
	{"tm", "Turkmenistan"},
	{"tc", "Turks and Caicos Islands"},
	{"tr", "Türkiye"},
	{"ug", "Uganda"},
	{"ua", "Ukraine"},
	{"ae", "United Arab Emirates"},
	{"gb", "United Kingdom"},
	{"us", "United States"},
	{"uy", "Uruguay"},
	{"uz", "Uzbekistan"},
	{"vu", "Vanuatu"},
	{"ve", "Venezuela"},
	{"vn", "Vietnam"},
	{"ye", "Yemen"},
	{"zm", "Zambia"},
	{"zw", "Zimbabwe"},
}

var countryIndex = func() map[string]map[string]string {
	idx := map[string]map[string]string{AppStore: {}, GooglePlay: {}}
	for _, c := range AppStoreCountries {
		idx[AppStore][c.Code] = c.Name
	}
	for _, c := range GooglePlayCountries {
		idx[GooglePlay][c.Code] = c.Name
	}
	return idx
}()

// Countries returns the countries a store serves, in the order listed.
func Countries(store string) []Country {
	switch store {
	case AppStore:
		return AppStoreCountries
	case GooglePlay:
		return GooglePlayCountries
	}
	return nil
}

// HasCountry reports whether the store serves country cc.
func HasCountry(store, cc string) bool {
	_, ok := countryIndex[store][cc]
	return ok
}

// CountryName returns the English name of cc, from either store's list, or
// the upper-cased code when neither knows it.
func CountryName(cc string) string {
	if n, ok := countryIndex[AppStore][cc]; ok {
		return n
	}
	if n, ok := countryIndex[GooglePlay][cc]; ok {
		return n
	}
	return upper(cc)
}

// CountryCodes returns every code any store serves, sorted.
func CountryCodes() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range countryIndex {
		for cc := range m {
			if !seen[cc] {
				seen[cc] = true
				out = append(out, cc)
			}
		}
	}
	sort.Strings(out)
	return out
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

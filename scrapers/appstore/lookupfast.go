package appstore

// A lookup answer is about 3 KB of JSON per app (descriptions, screenshot
// URLs, release notes), of which we keep four fields: scanLookup reads them
// in one validating pass instead of encoding/json's token stream. Like
// scanRSS it only takes the plain shape and gives up (ok=false) on
// anything else — an error, a null, a key that matches only
// case-insensitively, a duplicate, more results than ParseLookup accepts —
// for ParseLookup's own reading to decide, with its errors.

// scanLookup returns what ParseLookup returns for a plain answer, or
// ok=false.
func scanLookup(body []byte, ids []string) (out map[string]App, ok bool) {
	asked := make(map[string]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	most := 2*len(ids) + 10
	s := &scanner{b: body}
	s.ws()
	ok = s.object(func(key []byte) bool {
		if string(key) != "results" {
			return s.skip(1)
		}
		s.ws()
		if s.peek() != '[' {
			return false
		}
		s.pos++
		out = map[string]App{}
		s.ws()
		if s.peek() == ']' {
			s.pos++
			return true
		}
		for i := 0; ; i++ {
			if i == most {
				return false
			}
			s.ws()
			if !s.lookupResult(asked, out) {
				return false
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return true
			default:
				return false
			}
		}
	}, "results")
	return out, ok && out != nil
}

// lookupResult reads one result into out, when it is software among the
// ids asked for.
func (s *scanner) lookupResult(asked map[string]bool, out map[string]App) bool {
	if s.peek() != '{' {
		return false
	}
	var r lookupResult
	var trackID []byte
	if !s.object(func(key []byte) bool {
		switch string(key) {
		case "kind":
			return s.str(&r.Kind)
		case "trackName":
			return s.str(&r.TrackName)
		case "artistName":
			return s.str(&r.ArtistName)
		case "sellerName":
			return s.str(&r.SellerName)
		case "trackId":
			start := s.pos
			if !s.skip(3) {
				return false
			}
			trackID = s.b[start:s.pos]
			return true
		}
		return s.skip(3)
	}, "kind", "trackId", "trackName", "artistName", "sellerName") {
		return false
	}
	if r.Kind != "" && r.Kind != "software" && r.Kind != "mac-software" {
		return true
	}
	if trackID == nil || (trackID[0] != '"' && (trackID[0] < '0' || trackID[0] > '9')) {
		return false // no id, or an odd one: ParseLookup's error
	}
	id, err := idString(trackID)
	if err != nil {
		return false
	}
	if !asked[id] {
		return true
	}
	dev := r.ArtistName
	if dev == "" {
		dev = r.SellerName
	}
	out[id] = App{ID: id, Name: r.TrackName, Developer: dev}
	return true
}

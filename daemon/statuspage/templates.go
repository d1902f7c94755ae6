package statuspage

import (
	"embed"
	"html/template"
)

//go:embed assets/pages.html assets/style.css
var assets embed.FS

// templates are every page's; the stylesheet is inlined into each page (the
// pages load nothing).
var templates = func() *template.Template {
	css, err := assets.ReadFile("assets/style.css")
	if err != nil {
		panic(err)
	}
	return template.Must(template.New("pages").Funcs(template.FuncMap{
		"css": func() template.CSS { return template.CSS(css) },
		"add": func(a, b int) int { return a + b },
	}).ParseFS(assets, "assets/pages.html"))
}()

package notify

import (
	"sync"
	"text/template"
)

// parsedTemplates keeps each message text parsed once: parsing it again for
// every message cost more than the rest of rendering it.
var parsedTemplates sync.Map // kind + "\x00" + source → *template.Template

// parsed returns the template of a message kind's source text, parsed on
// first use; a template executes safely in many goroutines at once.
func parsed(kind, src string) (*template.Template, error) {
	key := kind + "\x00" + src
	if t, ok := parsedTemplates.Load(key); ok {
		return t.(*template.Template), nil
	}
	t, err := template.New(kind).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	parsedTemplates.Store(key, t)
	return t, nil
}

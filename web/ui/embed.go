// Package ui holds the browser side of clinicbox: html/template pages,
// CSS, small ES modules and the message catalogs, embedded into the binary
// so that nothing is needed at run time but the binary itself.
package ui

import "embed"

// Files holds templates/, static/ and i18n/.
//
//go:embed templates static i18n
var Files embed.FS

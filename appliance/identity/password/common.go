package password

import (
	_ "embed"
	"strings"
)

// The lists Check looks words up in. Both are sorted bytewise, one
// lowercase entry a line, and searched in place: nothing is built at start
// and nothing is kept in memory beyond the embedded bytes.
//
// common.txt is Django's list of the 20,000 most common passwords
// (19,727 after Django's own lowercasing and deduplication), made by Royce
// Williams from breach corpora, taken from Debian's python3-django
// 3.2.25 by data/gen-common.sh; BSD-3-Clause, see data/common.LICENSE.
// Only a couple of hundred of its entries are 12 characters or longer;
// the rest matter as the stem of a longer password ("monkey" in
// "Monkey2024!!").
//
// swedish.txt is ours: a few hundred Swedish words, names, places, clubs,
// months and care words written down by hand (data/swedish.src), not
// measured frequencies. It makes "Sommar2024!!" and "hammarby1234" fail.
var (
	//go:embed data/common.txt
	commonList string
	//go:embed data/swedish.txt
	swedishList string
)

// common reports whether w is on either list.
func common(w string) bool {
	return inSorted(commonList, w) || inSorted(swedishList, w)
}

// inSorted binary-searches list, newline-terminated lines in bytewise
// order. lo and hi always sit at line starts.
func inSorted(list, w string) bool {
	lo, hi := 0, len(list)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		start := strings.LastIndexByte(list[:mid], '\n') + 1
		end := start + strings.IndexByte(list[start:], '\n')
		switch c := strings.Compare(list[start:end], w); {
		case c == 0:
			return true
		case c < 0:
			lo = end + 1
		default:
			hi = start
		}
	}
	return false
}

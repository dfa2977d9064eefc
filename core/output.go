package core

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func quote(s string) string { return strconv.Quote(s) }

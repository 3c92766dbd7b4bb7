package notify

import "strings"

// text is what a notification says. Every sentence is fixed; the only
// things filled in are the clinic's name and the box's address, so no
// health information, message text, room title or name can get in.
type text struct {
	Subject string // e-mail subject
	Short   string // the SMS, and the e-mail's first paragraph
	Footer  string // the e-mail's last paragraph
}

// texts returns the text of a notification of kind in lang ("en…" is
// English, anything else Swedish, the box's default language).
func texts(lang, kind, clinic, link string) text {
	en := strings.HasPrefix(strings.ToLower(lang), "en")
	var t text
	var lead, action string
	switch {
	case en && kind == KindCall:
		t.Subject, lead, action = "Video call at "+clinic, "A video call has started at "+clinic+".", "Log in to join"
	case en:
		t.Subject, lead, action = "New message at "+clinic, "You have a new message at "+clinic+".", "Log in to read it"
	case kind == KindCall:
		t.Subject, lead, action = "Videosamtal hos "+clinic, "Ett videosamtal har börjat hos "+clinic+".", "Logga in för att delta"
	default:
		t.Subject, lead, action = "Nytt meddelande hos "+clinic, "Du har ett nytt meddelande hos "+clinic+".", "Logga in för att läsa det"
	}
	if link != "" {
		t.Short = lead + " " + action + ": " + link
	} else {
		t.Short = lead + " " + action + "."
	}
	if en {
		t.Footer = "This message was sent automatically; replies are not read. You choose how you are notified under your account at " + clinic + "."
	} else {
		t.Footer = "Det här meddelandet skickades automatiskt och svar läses inte. Du väljer själv hur du får aviseringar under ditt konto hos " + clinic + "."
	}
	return t
}

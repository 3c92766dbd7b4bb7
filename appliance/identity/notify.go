package identity

import "strings"

// Notifications (package notify) reach a user who is not online by e-mail
// and/or SMS, only at the contact details the user gave themselves
// (UpdateContact). Each user chooses the channels; until they do, e-mail
// is on when they have an address and SMS is off. The choice is not
// personal data and is stored in the plain part of the record; a channel
// counts only while its contact detail exists, so removing the phone
// number stops SMS at once, and adding it again brings the choice back.

// notifyChoice is a user's stored choice of channels.
type notifyChoice struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
}

// channels is the effective choice for a profile: the stored one (or the
// default when nil), each only while its contact detail is there.
func (c *notifyChoice) channels(p Profile) (email, sms bool) {
	hasEmail, hasPhone := strings.TrimSpace(p.Email) != "", strings.TrimSpace(p.Phone) != ""
	if c == nil {
		return hasEmail, false
	}
	return c.Email && hasEmail, c.SMS && hasPhone
}

// SetNotifyChannels stores which channels the user wants notifications
// on. A channel needs the user's own contact detail for it: turning on
// e-mail without an address, or SMS without a phone number, is a
// *FieldError ("email" / "phone"). Turning channels off always works.
func (s *Store) SetNotifyChannels(userID uint64, email, sms bool) error {
	u, err := s.User(userID)
	if err != nil {
		return err
	}
	if email && strings.TrimSpace(u.Profile.Email) == "" {
		return &FieldError{Field: "email", Msg: "there is no e-mail address to send notifications to; add one first"}
	}
	if sms && strings.TrimSpace(u.Profile.Phone) == "" {
		return &FieldError{Field: "phone", Msg: "there is no phone number to send notifications to; add one first"}
	}
	return s.updateRecord(userID, func(r *userRecord) error {
		r.Notify = &notifyChoice{Email: email, SMS: sms}
		return nil
	})
}

package appliance

import (
	"context"
	"time"

	"clinicbox/appliance/config"
	"clinicbox/appliance/identity"
	"clinicbox/appliance/notify"
	"clinicbox/appliance/presence"
	"clinicbox/web"
)

// newNotifier builds the e-mail/SMS notifier from the settings; with
// neither configured it still runs (it then only debounces and sends
// nothing), so the rest of the box needs no special case.
func newNotifier(cfg *config.Config, a *Appliance) (*notify.Notifier, error) {
	n := notify.Config{ClinicName: cfg.Notify.ClinicName, PublicURL: cfg.Notify.PublicURL, Interval: cfg.Notify.NotifyInterval}
	if cfg.NotifyByEmail() {
		pw, err := cfg.SMTPPassword()
		if err != nil {
			return nil, err
		}
		roots, err := cfg.SMTPRoots()
		if err != nil {
			return nil, err
		}
		n.Email = &notify.EmailConfig{Addr: cfg.Notify.SMTPAddr, Mode: cfg.Notify.SMTPMode, Username: cfg.Notify.SMTPUsername,
			Password: pw, From: cfg.Notify.SMTPFrom, RootCAs: roots}
	}
	if cfg.NotifyBySMS() {
		name, value, err := cfg.SMSAuthHeader()
		if err != nil {
			return nil, err
		}
		roots, err := cfg.SMSRoots()
		if err != nil {
			return nil, err
		}
		n.SMS = &notify.SMSConfig{URL: cfg.Notify.SMSURL, Method: cfg.Notify.SMSMethod, Body: cfg.Notify.SMSBody,
			AuthHeader: name, AuthValue: value, RootCAs: roots}
	}
	return notify.New(n, a.log, time.Now)
}

// notifyMember is web's Notify hook: it tells a room member who is not
// looking that something waits, through the channels they chose, at the
// contact details they gave themselves. The notifier never receives
// content: only the kind and the room id.
func (a *Appliance) notifyMember(ctx context.Context, userID, roomID uint64, kind string, status presence.Status) {
	u, err := a.identity.User(userID)
	if err != nil || u.Status != identity.StatusActive {
		return
	}
	_, err = a.notify.Notify(ctx, notify.Recipient{UserID: u.ID, Email: u.Profile.Email, Phone: u.Profile.Phone, Lang: u.Lang,
		NotifyEmail: u.NotifyEmail, NotifySMS: u.NotifySMS, Online: status == presence.Online}, notify.Message{Kind: kind, RoomID: roomID})
	if err != nil {
		a.log.Warn("notification not queued", "user", userID, "room", roomID, "err", err)
	}
}

// notifyFacts report the channels on the system page, in plain words.
func (a *Appliance) notifyFacts() []web.SystemFact {
	var facts []web.SystemFact
	for _, st := range a.notify.Status() {
		f := web.SystemFact{Label: "system.notify." + st.Channel, Value: "ok"}
		switch {
		case st.LastError != "":
			f.Value, f.Bad = st.LastError+" ("+st.LastFailure.Format("2006-01-02 15:04")+")", true
		case !st.LastSent.IsZero():
			f.Value = "ok, " + st.LastSent.Format("2006-01-02 15:04")
		}
		facts = append(facts, f)
	}
	return facts
}

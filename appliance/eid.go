package appliance

import (
	"context"
	"time"

	"clinicbox/appliance/identity/eid"
)

// newEID builds the eID client when --eid-issuer is set (nil otherwise).
// It does not contact the broker: a broker that is down must not keep the
// box from starting; warmEID and the first login find out.
func (a *Appliance) newEID() (*eid.Client, error) {
	if !a.cfg.EIDEnabled() {
		return nil, nil
	}
	secret, err := a.cfg.EIDClientSecret()
	if err != nil {
		return nil, err
	}
	roots, err := a.cfg.EIDRoots()
	if err != nil {
		return nil, err
	}
	// The flow cookie's key comes from the master key, so logins in
	// progress survive a restart.
	key, err := a.keys.DeriveKey("eid/flow-cookie")
	if err != nil {
		return nil, err
	}
	return eid.New(eid.Config{
		Issuer:       a.cfg.EIDIssuer,
		ClientID:     a.cfg.EIDClientID,
		ClientSecret: secret,
		Scopes:       a.cfg.EIDScopeList(),
		PnrClaim:     a.cfg.EIDPnrClaim,
		NameClaim:    a.cfg.EIDNameClaim,
		Roots:        roots,
		FlowKey:      key,
		Logger:       a.log,
	})
}

// warmEID asks the broker for its discovery document once at start, so a
// wrong issuer or an unreachable broker shows in the log at once (the
// client logs it) rather than at the first login.
func (a *Appliance) warmEID(ctx context.Context) {
	if a.eid == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if a.eid.Discover(ctx) == nil {
		a.log.Info("eID login ready", "issuer", a.cfg.EIDIssuer)
	}
}

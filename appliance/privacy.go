package appliance

import (
	"context"
	"io"

	"clinicbox/appliance/privacy/export"
)

// exportUser streams a user's data (GDPR art. 15/20) for the web layer.
func (a *Appliance) exportUser(_ context.Context, w io.Writer, userID uint64) error {
	return export.Write(w, userID, export.Sources{
		Users:    a.identity,
		Rooms:    a.rooms,
		OpenFile: export.AttachmentFiles(a.files),
		Audit:    a.audit,
	})
}

// eraseUser deletes an account (GDPR art. 17): the profile and its key at
// once, the memberships after; messages the person wrote stay for the
// others, shown as "former participant", until the rooms' own retention.
func (a *Appliance) eraseUser(userID uint64) error {
	if err := a.identity.EraseUser(userID, true); err != nil {
		return err
	}
	return a.rooms.RemoveUserEverywhere(userID)
}

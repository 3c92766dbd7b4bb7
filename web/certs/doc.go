// Package certs decides which TLS certificate the box presents and keeps it
// valid. Browsers only allow camera and microphone on HTTPS pages, so every
// page of the box is served over TLS, on the clinic LAN too; this package is
// what makes that work without anyone at the clinic touching a certificate.
//
// There are three modes (Config.Mode):
//
//   - internal (the default): the box is its own certificate authority. On
//     first start it creates a root CA (ECDSA P-256, valid about ten years,
//     named "clinicbox local CA <id>") and keeps it across restarts. CertMagic
//     issues and renews short-lived leaf certificates (7 days, renewed when a
//     third of the lifetime is left) for each configured name and IP address
//     through localCA, a certmagic.Issuer that signs with that root. The root
//     is offered at http://<box>/ca.crt (RootCertPEM) with its fingerprint
//     (RootFingerprint) so the clinic can install it on its own devices. This
//     serves LAN-only clinics and the first run.
//   - acme: publicly trusted certificates for the public name(s) that clients
//     at home use, from Let's Encrypt or any ACME CA. HTTP-01 is answered on
//     the plain-HTTP port (HTTPChallengeHandler), TLS-ALPN-01 on the HTTPS
//     listener (TLSConfig), DNS-01 through a libdns provider when one is set
//     (and then only DNS-01, so no port needs forwarding to the box).
//     RFC2136 is such a provider without a cloud API: it adds and removes
//     the challenge's TXT record with TSIG-signed dynamic updates (RFC 2136)
//     sent to the zone's primary, e.g. the clinic's or IT partner's BIND.
//   - files: a certificate and key that an administrator put on disk. They
//     are polled and reloaded when their content changes; a bad replacement
//     is refused and the previous certificate stays in service.
//
// Everything lives under DataDir/tls/ (files mode writes nothing):
//
//	DataDir/tls/                   0700
//	├── ca/                        0700  internal mode only
//	│   ├── root.crt               0644  the local root, PEM (served as /ca.crt)
//	│   └── root.key               0600  its private key, PKCS #8 PEM
//	└── certmagic/                 0700  CertMagic's FileStorage
//	    ├── certificates/<issuer>/<name>/<name>.{crt,key,json}
//	    │                                leaf certificates, one per name;
//	    │                                <issuer> is "clinicbox-local-<id>"
//	    │                                or the ACME directory's host-path
//	    ├── acme/<directory>/users/…     ACME account (acme mode)
//	    └── locks/                       CertMagic's issuance locks
//
// Only names in Config.Names ever get a certificate: the local CA refuses to
// sign anything else, and in internal mode the on-demand issuance that covers
// a handshake arriving before Manage is limited to those names, so a scanner
// sending random SNI values cannot make the box mint certificates.
//
// The Manager exposes two Prometheus metrics for the technician:
// clinicbox_tls_certificate_expiry_timestamp_seconds and
// clinicbox_tls_certificate_renewals_total{result}.
package certs

package config

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNotifyDefaults(t *testing.T) {
	cfg, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Notify
	if n.ClinicName != "clinicbox" || n.NotifyInterval != 15*time.Minute || n.SMTPMode != SMTPStartTLS || n.SMSMethod != "GET" || n.PublicURL != "" {
		t.Fatalf("defaults %+v", n)
	}
	if cfg.NotifyByEmail() || cfg.NotifyBySMS() {
		t.Fatal("e-mail or SMS on without settings")
	}
	// Defaults alone validate (the appliance tests build on them).
	d := Defaults(env(nil))
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestNotifySettings(t *testing.T) {
	pw := writeFile(t, "smtp-pw", "hunter2-smtp\n")
	auth := writeFile(t, "sms-auth", "X-Api-Key: k3y value\n")
	root := writeFile(t, "root.pem", testRootPEM(t))
	conf := writeFile(t, "clinicbox.conf", `clinic-name = "Vårdcentralen Norr"
public-url = https://box.example-clinic.se
smtp-addr = smtp.example-clinic.se:465
smtp-mode = tls
smtp-username = box@example-clinic.se
smtp-password-file = `+pw+`
smtp-from = noreply@example-clinic.se
sms-url = https://sms.example/send?to={to}
sms-method = POST
sms-body = {"to":"{to}","text":"{text}"}
`)
	cfg, err := Load([]string{"--config", conf, "--smtp-ca-root", root, "--sms-ca-root", root},
		env(map[string]string{"CLINICBOX_NOTIFY_INTERVAL": "30m", "CLINICBOX_SMS_AUTH_FILE": auth}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Notify
	if n.ClinicName != "Vårdcentralen Norr" || n.PublicURL != "https://box.example-clinic.se" || n.NotifyInterval != 30*time.Minute ||
		n.SMTPAddr != "smtp.example-clinic.se:465" || n.SMTPMode != SMTPTLS || n.SMTPUsername != "box@example-clinic.se" ||
		n.SMTPFrom != "noreply@example-clinic.se" || n.SMSMethod != "POST" || n.SMSBody != `{"to":"{to}","text":"{text}"}` {
		t.Fatalf("%+v", n)
	}
	if !cfg.NotifyByEmail() || !cfg.NotifyBySMS() {
		t.Fatal("e-mail or SMS off")
	}
	if p, err := cfg.SMTPPassword(); err != nil || p != "hunter2-smtp" {
		t.Fatalf("password %q %v", p, err)
	}
	if name, value, err := cfg.SMSAuthHeader(); err != nil || name != "X-Api-Key" || value != "k3y value" {
		t.Fatalf("auth header %q %q %v", name, value, err)
	}
	for _, f := range []func() (any, error){
		func() (any, error) { return cfg.SMTPRoots() },
		func() (any, error) { return cfg.SMSRoots() },
	} {
		if pool, err := f(); err != nil || pool == nil {
			t.Fatalf("roots: %v %v", pool, err)
		}
	}

	// A relay on this machine needs no TLS and no login; a gateway on this
	// machine may be plain http.
	cfg, err = Load([]string{"--smtp-addr", "127.0.0.1:25", "--smtp-mode", "plain-local", "--smtp-from", "box@clinic.example",
		"--sms-url", "http://localhost:13013/cgi-bin/sendsms?to={to}&text={text}"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := cfg.SMTPPassword(); err != nil || p != "" {
		t.Fatalf("no password file: %q %v", p, err)
	}
	if name, value, err := cfg.SMSAuthHeader(); err != nil || name != "" || value != "" {
		t.Fatalf("no auth file: %q %q %v", name, value, err)
	}
	if pool, err := cfg.SMTPRoots(); err != nil || pool != nil {
		t.Fatalf("no ca root: %v %v", pool, err)
	}
}

func TestNotifyBadInput(t *testing.T) {
	pw := writeFile(t, "pw", "secret\n")
	empty := writeFile(t, "empty", " \n")
	twoLines := writeFile(t, "two", "a\nb\n")
	notHeader := writeFile(t, "auth", "just-a-token-value\n")
	badName := writeFile(t, "auth2", "X Api: v\n")
	notPEM := writeFile(t, "root.pem", "hello\n")
	missing := filepath.Join(t.TempDir(), "missing")
	smtp := []string{"--smtp-addr", "smtp.example.se:587", "--smtp-from", "noreply@example.se"}
	withSMTP := func(extra ...string) []string { return append(append([]string{}, smtp...), extra...) }
	sms := []string{"--sms-url", "https://sms.example/send?to={to}&text={text}"}
	withSMS := func(extra ...string) []string { return append(append([]string{}, sms...), extra...) }
	cases := []struct {
		name  string
		args  []string
		field string
		msg   string
	}{
		{"empty clinic name", []string{"--clinic-name", "  "}, "clinic-name", "empty"},
		{"clinic name with newline", []string{"--clinic-name", "Kliniken\r\nBcc: x@example.se"}, "clinic-name", "one line"},
		{"long clinic name", []string{"--clinic-name", strings.Repeat("å", 101)}, "clinic-name", "100"},
		{"http public url", []string{"--public-url", "http://box.example.se"}, "public-url", "https://"},
		{"public url with query", []string{"--public-url", "https://box.example.se/?a=b"}, "public-url", "https://"},
		{"public url not a url", []string{"--public-url", "box.example.se"}, "public-url", "https://"},
		{"interval not a duration", []string{"--notify-interval", "often"}, "notify-interval", "not a duration"},
		{"interval too short", []string{"--notify-interval", "10s"}, "notify-interval", "at least 1m"},
		{"from without addr", []string{"--smtp-from", "noreply@example.se"}, "smtp-addr", "--smtp-from is set"},
		{"password without addr", []string{"--smtp-username", "u", "--smtp-password-file", pw}, "smtp-addr", "--smtp-username is set"},
		{"addr without port", []string{"--smtp-addr", "smtp.example.se", "--smtp-from", "a@example.se"}, "smtp-addr", "host:port"},
		{"addr without host", []string{"--smtp-addr", ":587", "--smtp-from", "a@example.se"}, "smtp-addr", "host:port"},
		{"addr bad port", []string{"--smtp-addr", "smtp.example.se:smtp", "--smtp-from", "a@example.se"}, "smtp-addr", "host:port"},
		{"unknown mode", withSMTP("--smtp-mode", "ssl"), "smtp-mode", "not one of"},
		{"starttls on 465", []string{"--smtp-addr", "smtp.example.se:465", "--smtp-from", "a@example.se"}, "smtp-mode", "implicit TLS"},
		{"tls on 587", withSMTP("--smtp-mode", "tls"), "smtp-mode", "STARTTLS"},
		{"plain to a remote relay", withSMTP("--smtp-mode", "plain-local"), "smtp-mode", "only for a relay on this machine"},
		{"plain to a LAN relay", []string{"--smtp-addr", "192.168.1.5:25", "--smtp-mode", "plain-local", "--smtp-from", "a@example.se"}, "smtp-mode", "127.0.0.1"},
		{"no from", []string{"--smtp-addr", "smtp.example.se:587"}, "smtp-from", "sender address"},
		{"from not an address", withSMTP("--smtp-from", "noreply"), "smtp-from", "not a plain e-mail address"},
		{"from with a name", withSMTP("--smtp-from", "Kliniken <noreply@example.se>"), "smtp-from", "not a plain e-mail address"},
		{"username without password", withSMTP("--smtp-username", "u"), "smtp-username", "both"},
		{"password without username", withSMTP("--smtp-password-file", pw), "smtp-username", "both"},
		{"missing password file", withSMTP("--smtp-username", "u", "--smtp-password-file", missing), "smtp-password-file", "cannot read"},
		{"empty password file", withSMTP("--smtp-username", "u", "--smtp-password-file", empty), "smtp-password-file", "empty"},
		{"two-line password file", withSMTP("--smtp-username", "u", "--smtp-password-file", twoLines), "smtp-password-file", "more than one line"},
		{"missing smtp ca root", withSMTP("--smtp-ca-root", missing), "smtp-ca-root", "cannot read"},
		{"smtp ca root not pem", withSMTP("--smtp-ca-root", notPEM), "smtp-ca-root", "no PEM certificate"},
		{"sms body without url", []string{"--sms-body", "to={to}"}, "sms-url", "--sms-body is set"},
		{"sms auth without url", []string{"--sms-auth-file", pw}, "sms-url", "--sms-auth-file is set"},
		{"sms url http", []string{"--sms-url", "http://sms.example/send?to={to}&text={text}"}, "sms-url", "not an https:// URL"},
		{"sms url not a url", []string{"--sms-url", "sms.example/send?to={to}&text={text}"}, "sms-url", "not a URL"},
		{"sms url with password", []string{"--sms-url", "https://user:pw@sms.example/send?to={to}&text={text}"}, "sms-url", "--sms-auth-file"},
		{"sms placeholder in host", []string{"--sms-url", "https://{to}.sms.example/?text={text}"}, "sms-url", "host"},
		{"sms url without to", []string{"--sms-url", "https://sms.example/send?text={text}"}, "sms-url", "{to}"},
		{"sms url without text", []string{"--sms-url", "https://sms.example/send?to={to}"}, "sms-url", "{text}"},
		{"sms method", withSMS("--sms-method", "PUT"), "sms-method", "not one of"},
		{"sms body with GET", withSMS("--sms-body", "to={to}"), "sms-method", "POST"},
		{"missing sms auth file", withSMS("--sms-auth-file", missing), "sms-auth-file", "cannot read"},
		{"sms auth file not a header", withSMS("--sms-auth-file", notHeader), "sms-auth-file", "Name: value"},
		{"sms auth file bad header name", withSMS("--sms-auth-file", badName), "sms-auth-file", "Name: value"},
		{"sms ca root not pem", withSMS("--sms-ca-root", notPEM), "sms-ca-root", "no PEM certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.args, env(nil), io.Discard)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want *FieldError, got %v", err)
			}
			if fe.Field != c.field || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %q (field %s), want field %s and %q", err, fe.Field, c.field, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "--"+c.field) {
				t.Fatalf("error does not start with the flag: %q", err)
			}
		})
	}
}

func TestNotifySecretsNotInErrorsOrUsage(t *testing.T) {
	// The secrets are read from files; no flag takes them as a value, and
	// an error about a file never shows what is in it.
	fs := newFlagSet("serve", &Config{}, io.Discard)
	for _, name := range []string{"smtp-password", "sms-auth-header", "sms-auth"} {
		if fs.Lookup(name) != nil {
			t.Fatalf("flag --%s takes a secret itself", name)
		}
	}
	secret := writeFile(t, "auth", "Bearer-without-a-name-s3cr3t\n")
	_, err := Load([]string{"--sms-url", "https://sms.example/?to={to}&text={text}", "--sms-auth-file", secret}, env(nil), io.Discard)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %v", err)
	}
}

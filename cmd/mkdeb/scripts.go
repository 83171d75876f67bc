package main

import (
	"bytes"
	"strings"
)

// Maintainer scripts (deb-preinst(5), deb-postinst(5), …). dpkg runs them
// as root with /bin/sh; "$1" says why (install, upgrade, configure, remove,
// purge, …). They must be idempotent: dpkg may run them again after a
// failed or interrupted install.

// preinst creates the posagent user before dpkg unpacks the files, so that
// /var/lib/posagent (posagent:posagent) and the conffile (root:posagent)
// get their owners by name. The user joins only the device groups the agent
// uses, and only those that exist on this system: dialout (serial keypads
// and printers), spi (/dev/spidev*), gpio (/dev/gpiochip*, /dev/gpiomem),
// lp (/dev/usb/lp*) and i2c (/dev/i2c-*, for SSD1306 panels on I2C). On
// Raspberry Pi OS all five exist; on other arm64 boards spi, gpio and i2c
// may not.
const preinst = `#!/bin/sh
set -e
case "$1" in
install|upgrade)
` + armv7Check + `	if ! getent passwd posagent >/dev/null; then
		adduser --quiet --system --group --home /var/lib/posagent --no-create-home posagent
	fi
	for g in dialout spi gpio lp i2c; do
		if getent group "$g" >/dev/null; then
			adduser --quiet posagent "$g"
		fi
	done
	;;
esac
exit 0
`

// armv7Check is the first step of the armv7 package's preinst: an ARMv7
// binary dies with SIGILL on the ARM1176 of a Pi Zero/1, so the package
// refuses to unpack there. The kernel builds `uname -m` from the CPU's
// architecture name ("armv6" in arch/arm/mm/proc-v6.S, "armv7" in
// proc-v7.S) plus the endianness letter (arch/arm/kernel/setup.c), so a
// Pi Zero/1 says armv6l. /proc/cpuinfo's "CPU architecture" is no help: the
// ARM1176 reports 7 there. The other packages get an empty string.
const armv7Check = `	case "$(uname -m)" in
	armv6*|armv5*|armv4*)
		echo "posagent-armv7: this CPU is $(uname -m); the armv7 build would crash on it. Install the posagent package (armv6 build) instead." >&2
		exit 1
		;;
	esac
`

// preinstFor is the preinst of t's package: with the CPU check for the
// armv7 build, without it for the others.
func preinstFor(t target) string {
	if t.GOARM == "7" {
		return preinst
	}
	return strings.Replace(preinst, armv7Check, "", 1)
}

// postinst re-asserts the modes the agent relies on (a technician's chmod
// must not leave the ledger world-readable), enables the unit and, on an
// upgrade, restarts a running agent onto the new binary. A first install
// does not start the service: the terminal is provisioned first
// (docs/install.md), then started. The unit handling is what debhelper's
// dh_installsystemd writes (debhelper autoscripts/postinst-systemd-enable
// and postinst-systemd-restart): deb-systemd-helper enables the unit on
// any init system and remembers a technician's `systemctl disable`;
// systemctl itself is called only for daemon-reload (lintian:
// maintainer-script-calls-systemctl).
const postinst = `#!/bin/sh
set -e
case "$1" in
configure)
	chown posagent:posagent /var/lib/posagent
	chmod 0700 /var/lib/posagent
	if [ -f /etc/posagent/posagent.toml ]; then
		chown root:posagent /etc/posagent/posagent.toml
		chmod 0640 /etc/posagent/posagent.toml
	fi
	;;
esac
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
	deb-systemd-helper unmask posagent.service >/dev/null || true
	if deb-systemd-helper --quiet was-enabled posagent.service; then
		deb-systemd-helper enable posagent.service >/dev/null || true
	else
		deb-systemd-helper update-state posagent.service >/dev/null || true
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ -n "$2" ]; then
			deb-systemd-invoke try-restart posagent.service >/dev/null || true
		fi
	fi
fi
exit 0
`

// prerm stops the agent when the package is removed. On upgrade it keeps
// running until postinst restarts it on the new binary (debhelper
// autoscripts/prerm-systemd-restart with --no-stop-on-upgrade).
const prerm = `#!/bin/sh
set -e
case "$1" in
remove|deconfigure)
	if [ -d /run/systemd/system ]; then
		deb-systemd-invoke stop posagent.service >/dev/null || true
	fi
	;;
esac
exit 0
`

// postrm forgets the unit's enablement on remove and purge (debhelper
// autoscripts/postrm-systemd), and leaves /var/lib/posagent in place even
// on purge: it is the order ledger, and payments must stay accountable
// after the software is gone.
const postrm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
	deb-systemd-helper mask posagent.service >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
	deb-systemd-helper purge posagent.service >/dev/null || true
	deb-systemd-helper unmask posagent.service >/dev/null || true
fi
if [ "$1" = purge ] && [ -d /var/lib/posagent ]; then
	echo "posagent: /var/lib/posagent (order ledger) kept; remove it by hand once its orders are settled" >&2
fi
exit 0
`

// lintianOverrides are the deliberate deviations from lintian's defaults,
// each with its reason (lintian reads the comment lines above an override
// and prints them with --show-overrides). bin is the packaged binary:
// overrides for words that third-party code compiled into it misspells are
// added only when they are there (lintian reports an unused override too).
func lintianOverrides(pkg string, bin []byte) string {
	var extra string
	if bytes.Contains(bin, []byte("unkown")) {
		extra = `# "unkown" is in google.golang.org/protobuf (internal/filedesc/editions.go),
# compiled in through the Prometheus client library; not ours to fix.
` + pkg + `: spelling-error-in-binary unkown unknown [usr/bin/posagent]
`
	}
	if bytes.Contains(bin, []byte("afE")) {
		extra += `# "afE" is three bytes of the pre-rendered glyph bitmaps embedded from
# display/bitmapfont/table.bin (pixels, not text); there is no word to fix.
` + pkg + `: spelling-error-in-binary afE safe [usr/bin/posagent]
`
	}
	return extra + `# Go programs are linked statically (CGO_ENABLED=0): one binary runs on every
# Raspberry Pi OS and Debian release without shared libraries; its licences
# are listed in the copyright file.
` + pkg + `: statically-linked-binary [usr/bin/posagent]
# The order ledger and the terminal key (which signs payment calls) live here:
# only the posagent user may read them.
` + pkg + `: non-standard-dir-perm 0700 != 0755 [var/lib/posagent/]
# The configuration names the gateway account and the files holding its keys
# and tokens: root writes it, the posagent group reads it, nobody else.
` + pkg + `: non-standard-file-perm 0640 != 0644 [etc/posagent/posagent.toml]
# The agent runs as a Type=notify service with a watchdog (systemd only); the
# package depends on systemd and ships no sysvinit script.
` + pkg + `: package-supports-alternative-init-but-no-init.d-script [usr/lib/systemd/system/posagent.service]
`
}

package main

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
	if ! getent passwd posagent >/dev/null; then
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

// postinst re-asserts the modes the agent relies on (a technician's chmod
// must not leave the ledger world-readable), enables the unit and, on an
// upgrade, restarts a running agent onto the new binary. A first install
// does not start the service: the terminal is provisioned first
// (docs/install.md), then started.
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
	if command -v systemctl >/dev/null; then
		systemctl enable posagent.service >/dev/null 2>&1 || true
	fi
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		systemctl try-restart posagent.service
	fi
	;;
esac
exit 0
`

// prerm stops the agent when the package is removed. On upgrade it keeps
// running until postinst restarts it on the new binary.
const prerm = `#!/bin/sh
set -e
case "$1" in
remove|deconfigure)
	if [ -d /run/systemd/system ]; then
		systemctl stop posagent.service || true
	fi
	if command -v systemctl >/dev/null; then
		systemctl disable posagent.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
`

// postrm leaves /var/lib/posagent in place even on purge: it is the order
// ledger, and payments must stay accountable after the software is gone.
const postrm = `#!/bin/sh
set -e
case "$1" in
remove|purge)
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
	;;
esac
if [ "$1" = purge ] && [ -d /var/lib/posagent ]; then
	echo "posagent: /var/lib/posagent (order ledger) kept; remove it by hand once its orders are settled" >&2
fi
exit 0
`

# `make install`: the appliance's systemd units, service user, data directory and update config
# (systemd/README.md). Included from the Makefile.
#
#   sudo make install                 on the appliance (APP_DIR: this checkout, with its .venv)
#   make install DESTDIR=/tmp/root    stage everything under a root (image build, package, test)
#
# With DESTDIR, only files are written (users via systemd-sysusers --root; the data directory
# with its owners only when run as root). Without DESTDIR, the users and the data directory are
# created, and the units are enabled; `systemctl start fieldcoach.service` starts it.
DESTDIR ?=
APP_DIR ?= $(CURDIR)
KIOSK_USER ?= kiosk
KIOSK_BROWSER ?= /usr/bin/chromium-browser
SYSTEMD_SYSTEM_DIR ?= /etc/systemd/system
SYSTEMD_USER_DIR ?= /etc/systemd/user
SYSUSERS_DIR ?= /etc/sysusers.d
TMPFILES_DIR ?= /etc/tmpfiles.d
FC_CONF_DIR ?= /etc/fieldcoach
FC_SYSTEM_UNITS := fieldcoach.service fieldcoach-update.service fieldcoach-update.timer
FC_SED := sed -e 's|/opt/fieldcoach|$(APP_DIR)|g' -e 's|/usr/bin/chromium-browser|$(KIOSK_BROWSER)|g' \
	-e 's|^ConditionUser=kiosk$$|ConditionUser=$(KIOSK_USER)|'
FC_ROOT := $(if $(DESTDIR),$(abspath $(DESTDIR)),/)

.PHONY: install
install: ## install the systemd units, service user, data dir (sudo; DESTDIR=DIR stages into a root)
	@set -e; \
	case "$(APP_DIR)$(KIOSK_BROWSER)$(KIOSK_USER)" in *'|'*|*' '*) echo "APP_DIR, KIOSK_BROWSER and KIOSK_USER may not contain '|' or spaces." >&2; exit 2;; esac; \
	install -d -m 755 "$(DESTDIR)$(SYSTEMD_SYSTEM_DIR)" "$(DESTDIR)$(SYSTEMD_USER_DIR)" "$(DESTDIR)$(SYSUSERS_DIR)" \
	  "$(DESTDIR)$(TMPFILES_DIR)" "$(DESTDIR)$(FC_CONF_DIR)"; \
	for u in $(FC_SYSTEM_UNITS); do \
	  $(FC_SED) systemd/$$u > "$(DESTDIR)$(SYSTEMD_SYSTEM_DIR)/.$$u.tmp"; chmod 644 "$(DESTDIR)$(SYSTEMD_SYSTEM_DIR)/.$$u.tmp"; \
	  mv -f "$(DESTDIR)$(SYSTEMD_SYSTEM_DIR)/.$$u.tmp" "$(DESTDIR)$(SYSTEMD_SYSTEM_DIR)/$$u"; \
	done; \
	$(FC_SED) systemd/fieldcoach-kiosk.service > "$(DESTDIR)$(SYSTEMD_USER_DIR)/.fieldcoach-kiosk.service.tmp"; \
	chmod 644 "$(DESTDIR)$(SYSTEMD_USER_DIR)/.fieldcoach-kiosk.service.tmp"; \
	mv -f "$(DESTDIR)$(SYSTEMD_USER_DIR)/.fieldcoach-kiosk.service.tmp" "$(DESTDIR)$(SYSTEMD_USER_DIR)/fieldcoach-kiosk.service"; \
	install -m 644 systemd/fieldcoach.sysusers.conf "$(DESTDIR)$(SYSUSERS_DIR)/fieldcoach.conf"; \
	install -m 644 systemd/fieldcoach.tmpfiles.conf "$(DESTDIR)$(TMPFILES_DIR)/fieldcoach.conf"; \
	install -m 644 systemd/update.env.example "$(DESTDIR)$(FC_CONF_DIR)/update.env.example"; \
	if [ ! -e "$(DESTDIR)$(FC_CONF_DIR)/config.yaml" ]; then install -m 644 systemd/fieldcoach.yaml "$(DESTDIR)$(FC_CONF_DIR)/config.yaml"; \
	else echo "kept the existing $(FC_CONF_DIR)/config.yaml"; fi; \
	if [ -f keys/ota_ed25519.pub ]; then install -m 644 keys/ota_ed25519.pub "$(DESTDIR)$(FC_CONF_DIR)/ota_ed25519.pub"; \
	elif [ ! -f "$(DESTDIR)$(FC_CONF_DIR)/ota_ed25519.pub" ]; then \
	  echo "note: no keys/ota_ed25519.pub here; copy the public key from the training machine to $(FC_CONF_DIR)/ota_ed25519.pub before updating models."; fi; \
	if command -v systemd-sysusers >/dev/null; then \
	  install -d -m 755 "$(DESTDIR)/etc"; \
	  systemd-sysusers --root="$(FC_ROOT)" "$(DESTDIR)$(SYSUSERS_DIR)/fieldcoach.conf"; \
	elif [ -z "$(DESTDIR)" ]; then \
	  getent group plugdev >/dev/null || groupadd --system plugdev; \
	  id -u fieldcoach >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/fieldcoach \
	    --shell /usr/sbin/nologin --comment "FieldCoach service" fieldcoach; \
	  usermod -a -G video,plugdev fieldcoach; \
	else echo "note: no systemd-sysusers here; the fieldcoach user is created when the image first boots."; fi; \
	if [ "$$(id -u)" = 0 ]; then systemd-tmpfiles --root="$(FC_ROOT)" --create "$(DESTDIR)$(TMPFILES_DIR)/fieldcoach.conf"; \
	else install -d -m 750 "$(DESTDIR)/var/lib/fieldcoach" "$(DESTDIR)/var/lib/fieldcoach/updates"; \
	  install -d -m 755 "$(DESTDIR)/var/lib/fieldcoach/models"; \
	  echo "note: not root, so $(DESTDIR)/var/lib/fieldcoach is not owned by fieldcoach yet (systemd-tmpfiles fixes it at boot)."; fi; \
	if command -v systemctl >/dev/null; then \
	  systemctl --root="$(FC_ROOT)" enable fieldcoach.service fieldcoach-update.timer; \
	  systemctl --root="$(FC_ROOT)" --global enable fieldcoach-kiosk.service; \
	else echo "note: no systemctl here; enable fieldcoach.service, fieldcoach-update.timer and (--global) fieldcoach-kiosk.service on the device."; fi; \
	if [ -z "$(DESTDIR)" ]; then \
	  id -u $(KIOSK_USER) >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups video \
	    --comment "FieldCoach teacher's screen" $(KIOSK_USER); \
	  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	  echo "installed; set the display manager to log $(KIOSK_USER) in automatically, then: systemctl start fieldcoach.service"; \
	fi

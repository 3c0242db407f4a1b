# Over-the-air model updates (edge/ota, systemd/README.md). Included from the Makefile; uses
# $(PY), $(STAMP) and $(OUT) from it.
#
# Training machine:  make keygen;  make bundle VERSION=1.4.0 [HARDWARE="jetson-nano-jetpack4.6 x86_64-cpu"]
# Appliance:         make ota-check URL=...;  make ota-pull URL=...;  sudo make ota-apply;
#                    sudo make ota-rollback;  make ota-status
# URL: an http(s) folder or a path (USB stick) holding latest.json and the bundle tar; defaults to
# FIELDCOACH_UPDATE_URL (/etc/fieldcoach/update.env on the appliance).
OTA := $(PY) -m edge.ota
OTA_KEYS ?= keys
OTA_KEY ?= $(OTA_KEYS)/ota_ed25519.pem
OTA_PUBKEY ?= $(firstword $(wildcard /etc/fieldcoach/ota_ed25519.pub) $(wildcard $(OTA_KEYS)/ota_ed25519.pub))
OTA_DATA_DIR ?= /var/lib/fieldcoach
BUNDLE_DIR ?= $(OUT)/bundle
VERSION ?=
HARDWARE ?= jetson-nano-jetpack4.6
MIN_APP ?=
BUNDLE_PARTS ?= models=models/shipped $(if $(wildcard models/reference),reference=models/reference) kb=edge/guide/kb $(if $(wildcard models/embedding/manifest.json),embedding=models/embedding)
URL ?=
BUNDLE ?=
ALLOW_DOWNGRADE ?=
OTA_DEVICE = --data-dir $(OTA_DATA_DIR) $(if $(OTA_PUBKEY),--pubkey $(OTA_PUBKEY))
OTA_URL = $(if $(URL),--url "$(URL)")

.PHONY: keygen bundle ota-check ota-pull ota-apply ota-rollback ota-status

keygen: $(STAMP) ## make the ed25519 key pair that signs model bundles (keys/; keep the private key off devices)
	$(OTA) keygen --out $(OTA_KEYS)

bundle: $(STAMP) ## build a signed model bundle: VERSION=x.y.z [HARDWARE="..."] -> $(OUT)/bundle
	@test -n "$(VERSION)" || { echo "give VERSION=MAJOR.MINOR.PATCH (higher than the version on the devices)" >&2; exit 2; }
	$(OTA) bundle --version $(VERSION) --key $(OTA_KEY) --out $(BUNDLE_DIR) \
	  $(foreach p,$(BUNDLE_PARTS),--part $(p)) $(foreach h,$(HARDWARE),--hardware $(h)) \
	  $(if $(MIN_APP),--min-app $(MIN_APP))

ota-check: ## is a newer compatible model bundle at URL=... (http folder or path)?
	$(OTA) check $(OTA_DEVICE) $(OTA_URL)

ota-pull: ## download the update from URL=... into the data dir (resumable, with a progress bar)
	$(OTA) pull $(OTA_DEVICE) $(OTA_URL) $(if $(ALLOW_DOWNGRADE),--allow-downgrade)

ota-apply: ## verify, install into the inactive slot, golden-test, switch, health-check (rolls back on failure)
	$(OTA) apply $(OTA_DEVICE) $(if $(BUNDLE),--bundle "$(BUNDLE)") $(if $(ALLOW_DOWNGRADE),--allow-downgrade)

ota-rollback: ## switch back to the previous models (re-checked first)
	$(OTA) rollback $(OTA_DEVICE)

ota-status: ## active and previous model versions, recent update history
	$(OTA) status $(OTA_DEVICE)

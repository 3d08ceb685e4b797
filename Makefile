# SPDX-License-Identifier: GPL-2.0
#
# hvcarve: build the patched Linux 7.3 test kernel, the guest initramfs and
# the host tools; run the test suite and the demo. See README.md.
#
#   make demo        install, fetch, build, boot, kexec; narrate
#   make test        the whole test suite (what CI runs)
#   make bench       what the carveout costs and saves (not part of make test)
#   make check       the static checks (checkpatch, sparse, kernel-doc, compiles)
#   make deb         the patched kernel as a Debian package, for a real host
#                    (build/deb; the test kernel without its test code)
#   make host-image  the Debian 13 host the host tests boot (build/host)
#   make series      the upstream patch series in build/series, bisect-built
#   make KSRC=/path  use your own mainline tree instead of Debian's 7.3
#   make backport-check  the series on Debian's 6.12 LTS (patches/6.12/README;
#                    not part of make test)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
TOP := $(CURDIR)
BUILD := $(TOP)/build

KSRC ?=
DEB_SRC := $(BUILD)/src/linux-source-7.3
PRISTINE := $(if $(KSRC),$(abspath $(KSRC)),$(DEB_SRC))
KTREE := $(BUILD)/linux
KOUT := $(BUILD)/kbuild
BZIMAGE := $(KOUT)/arch/x86/boot/bzImage
# The same kernel with lock debugging (configs/hvcarve-lockdep.config), for
# tests/bats/lockdep.bats.
LOCKDEP_KOUT := $(BUILD)/kbuild-lockdep
LOCKDEP_KERNEL := $(LOCKDEP_KOUT)/arch/x86/boot/bzImage
OLD_KERNEL := $(BUILD)/old/vmlinuz
# Debian's other stock kernels (scripts/fetch-kernels.sh), for tests/bats/distro.bats.
DISTRO_NAMES := 5.10 6.1-cloud 6.12 7.3-stock
DISTRO_KERNELS := $(DISTRO_NAMES:%=$(BUILD)/kernels/%/vmlinuz)
INITRD := $(BUILD)/initramfs/base.cpio
# Those kernels as /boot/vmlinuz-NAME: a piece distro.bats appends to the base.
DISTRO_INITRD := $(BUILD)/initramfs/distro.cpio
# Static guest programs, copied on top of the initramfs.
GUEST_EXTRA := $(BUILD)/guest-extra
GUEST_PROGS := $(GUEST_EXTRA)/usr/bin/nocaps $(GUEST_EXTRA)/usr/bin/vmcore-phdrs \
	$(GUEST_EXTRA)/usr/bin/memhog
HOST_TOOLS := tools/hvcarve/hvcarve-dump tools/hvcarve/hvcarve-parse tools/hvcarve/memhog
# The hypervisor model on the host (tests/bats/hvmodel.bats, vmrun.sh --hv-model).
HV_MODEL := $(BUILD)/tools/hv-model
CONFIG_FRAGMENT := $(TOP)/configs/hvcarve-test.config

KERNEL_FILES := $(shell find mm include drivers kernel arch Documentation -type f 2>/dev/null)
GUEST_FILES := $(shell find tests/guest -type f 2>/dev/null)

TESTS ?= tests/bats

export NEW_KERNEL := $(BZIMAGE)
export OLD_KERNEL
export BASE_INITRD := $(INITRD)
export DISTRO_INITRD
export KTREE KOUT
export LOCKDEP_KERNEL
export HVT_HV_MODEL := $(HV_MODEL)
# One compiler cache for every kernel built here (the test kernels and the
# packages share most objects).
export CCACHE_DIR := $(BUILD)/ccache

.PHONY: all deps source tree kernel oldkernel kernels initramfs tools test bench demo check series clean distclean FORCE
.PHONY: backport-check

all: kernel initramfs tools

deps:
	@scripts/install-deps.sh

# Debian's linux-source-7.3 (trixie-backports), fetched without touching the
# machine's apt configuration, and extracted once.
$(DEB_SRC)/Makefile:
	@echo ">>> fetching linux-source-7.3 (about 170 MB)"
	scripts/debian-fetch.sh $(BUILD)/apt-trixie trixie-backports $(BUILD)/debs linux-source-7.3
	@echo ">>> extracting the kernel source"
	rm -rf $(BUILD)/src && mkdir -p $(BUILD)/src
	dpkg-deb --fsys-tarfile $$(ls $(BUILD)/debs/linux-source-7.3_*.deb | tail -n 1) | \
		tar -x -C $(BUILD)/src --strip-components=3 ./usr/src/linux-source-7.3.tar.xz
	tar -x -C $(BUILD)/src -f $(BUILD)/src/linux-source-7.3.tar.xz --checkpoint=5000 --checkpoint-action=dot
	@echo
	rm -f $(BUILD)/src/linux-source-7.3.tar.xz
	test -f $@ && touch $@

source: $(if $(KSRC),,$(DEB_SRC)/Makefile)

tree: source
	@scripts/prepare-tree.sh $(PRISTINE) $(KTREE)

# flock: concurrent "make kernel" runs (tests, demo, a developer) take turns.
$(BZIMAGE): FORCE | source
	@mkdir -p $(BUILD)
	@flock $(BUILD)/.kernel.lock sh -c 'scripts/prepare-tree.sh $(PRISTINE) $(KTREE) && \
		scripts/build-kernel.sh $(KTREE) $(KOUT) $(CONFIG_FRAGMENT) -- bzImage'
	@test -f $@

kernel: $(BZIMAGE)

# After $(BZIMAGE), which prepares the tree; under the same lock.
.PHONY: lockdep-kernel
$(LOCKDEP_KERNEL): $(BZIMAGE) FORCE
	@flock $(BUILD)/.kernel.lock scripts/build-kernel.sh $(KTREE) $(LOCKDEP_KOUT) \
		$(CONFIG_FRAGMENT) $(TOP)/configs/hvcarve-lockdep.config -- bzImage
	@test -f $@

lockdep-kernel: $(LOCKDEP_KERNEL)

# The patched kernel as a Debian package (scripts/build-deb.sh, the tree's
# bindeb-pkg), for a real Debian host: the test kernel's configuration
# without the test code (configs/hvcarve-host.config: no simulator, no
# benchmark, no KUnit). A first build starts from a copy of the test
# kernel's objects (--seed): only what the host fragment changes is compiled.
DEB_DIR := $(BUILD)/deb
HOST_CONFIG := $(TOP)/configs/hvcarve-host.config
.PHONY: deb
deb: deps source
	@mkdir -p $(BUILD)
	@flock $(BUILD)/.kernel.lock sh -c 'scripts/prepare-tree.sh $(PRISTINE) $(KTREE) && \
		scripts/build-deb.sh --seed $(KOUT) $(KTREE) $(BUILD)/kbuild-deb $(DEB_DIR) $(CONFIG_FRAGMENT) $(HOST_CONFIG)'

# The Debian 13 host of tests/bats/host.bats (scripts/build-host-image.sh),
# built from Debian's packages and cached in build/host; rebuilt when
# configs/host-packages or tests/host/image/ change.
.PHONY: host-image
host-image: deps
	@scripts/build-host-image.sh $(BUILD)/host

$(OLD_KERNEL):
	scripts/fetch-old-kernel.sh $(BUILD)/old

oldkernel: $(OLD_KERNEL)

# Debian 11's kexec-tools (2.0.20), for safety.bats: it reads /proc/iomem
# as the kexec-tools of old hosts do.
OLD_KEXEC := $(BUILD)/kexec-tools/bullseye/kexec
$(OLD_KEXEC):
	scripts/fetch-kexec-tools.sh bullseye $(dir $@)

.PHONY: oldkexec
oldkexec: $(OLD_KEXEC)

# Each stock kernel is fetched once; what is under build/kernels/ stays.
$(BUILD)/kernels/%/vmlinuz:
	scripts/fetch-kernels.sh $* $(BUILD)/kernels/$*

kernels: $(OLD_KERNEL) $(DISTRO_KERNELS)

tools: $(HOST_TOOLS) $(HV_MODEL)

$(HV_MODEL): tests/hv/hv-model.c
	@mkdir -p $(dir $@)
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<

$(HOST_TOOLS): FORCE
	@$(MAKE) -s -C tools/hvcarve

$(GUEST_EXTRA)/usr/bin/memhog: tools/hvcarve/memhog
	@mkdir -p $(dir $@)
	cp $< $@

$(GUEST_EXTRA)/usr/bin/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	gcc -static -O2 -Wall -Wextra -Werror -o $@ $<

$(INITRD): $(BZIMAGE) $(OLD_KERNEL) $(GUEST_FILES) $(GUEST_PROGS) scripts/mkinitramfs.sh
	@mkdir -p $(dir $@)
	scripts/mkinitramfs.sh --out $@ --new-kernel $(BZIMAGE) --old-kernel $(OLD_KERNEL) --extra $(GUEST_EXTRA)

$(DISTRO_INITRD): $(DISTRO_KERNELS) scripts/mkinitramfs.sh
	@mkdir -p $(dir $@)
	scripts/mkinitramfs.sh --out $@ --kernels-only $(foreach n,$(DISTRO_NAMES),--kernel $(n)=$(BUILD)/kernels/$(n)/vmlinuz)

initramfs: $(INITRD) $(DISTRO_INITRD)

# What make test needs beyond "all". The two kernel builds take turns on
# the tree's lock (one job slot waits on it) while the host image, apt and
# dpkg work that needs little CPU, is built beside them: -j3.
.PHONY: test-prereqs
test-prereqs: lockdep-kernel deb host-image $(OLD_KEXEC)

test: deps all
	@$(MAKE) --no-print-directory -j3 test-prereqs
	@scripts/run-tests.sh $(TESTS)

demo: deps all
	@scripts/demo.sh

# Prints a table; writes build/bench/results.json. BENCH_REPS=N (>= 5).
bench: deps all
	@scripts/bench.sh

# The static checks, one verdict line each (scripts/check.sh); make test runs
# them too (style.bats, hvbuild.bats, series.bats).
check: deps kernel
	@scripts/check.sh

# The upstream series in build/series, cover letter first, applied and built
# patch by patch onto the pristine tree, checkpatch --strict on each.
# AUTHOR="Name <mail>", else git config user.name and user.email.
series: source
	@scripts/make-series.sh $(PRISTINE)

# Debian's linux-source-6.12 with patches/6.12/, its test kernel (with and
# without the /sys/firmware/memmap fix) and initramfs under build/6.12*/,
# and the tests of tests/backport/6.12.tests on it.
backport-check: deps tools $(OLD_KERNEL) $(GUEST_PROGS)
	@scripts/backport-check.sh

clean:
	rm -rf $(KOUT) $(BUILD)/initramfs $(BUILD)/test-artifacts $(GUEST_EXTRA)
	rm -rf $(LOCKDEP_KOUT) $(BUILD)/luo $(BUILD)/kbuild-deb $(BUILD)/kbuild-deb.seed $(DEB_DIR)
	$(MAKE) -C tools/hvcarve clean

distclean:
	rm -rf $(BUILD)

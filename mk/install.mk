# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make install` and `make uninstall`: PREFIX (default /usr/local) and DESTDIR, as usual.
# The layout is fixed relative to PREFIX, because the installed collector finds its files
# from its own executable, bin/flowcollector: ../share/flowagent/sql (the schema and views)
# and ../lib/flowagent/chdb/libchdb.so (the embedded store). So a tree copied or installed
# under DESTDIR runs as it is, without --sql-dir or --libchdb. The BPF object is in the
# agent (its skeleton), the report's stylesheet and map in the collector: nothing else is
# read at run time. SYSTEMDUNITDIR and SYSCONFDIR (where the units look for their
# environment files) may be set on their own.

PREFIX		?= /usr/local
SYSCONFDIR	?= /etc
SYSTEMDUNITDIR	?= $(PREFIX)/lib/systemd/system
INSTALL		?= install
HELP2MAN	?= help2man

BINDIR		:= $(PREFIX)/bin
PKGDATADIR	:= $(PREFIX)/share/flowagent
PKGLIBDIR	:= $(PREFIX)/lib/flowagent
MAN8DIR		:= $(PREFIX)/share/man/man8
DOCDIR		:= $(PREFIX)/share/doc/flowagent

INSTALL_PROGRAMS := flowagent flowcollector
SYSTEMD_UNITS	 := flowagent@.service flowcollector.service
SYSTEMD_ENVS	 := flowagent.env flowcollector.env
SQL_FILES	 := $(shell git ls-files sql 2>/dev/null || find sql -type f)
MAN_PAGES	 := $(patsubst %,$(BUILD)/man/%.8,$(INSTALL_PROGRAMS))

# help2man for the man pages; for tests/integration/test_install.py: man (the pages render
# without a warning), systemd-analyze (verify, security), strace (the units' sandbox)
DEB_PACKAGES += help2man man-db systemd strace

# Man pages from --help and --version, which are the programs' documentation. argp wraps
# --help at 79 columns; help2man reads whole lines better, and man wraps them again.
MAN_NAME_flowagent     := exact network flow records from packets (XDP and TC)
MAN_NAME_flowcollector := flow records into ClickHouse, and the network views
$(BUILD)/man/%.8: $(BUILD)/% | $(BUILD)/man/.
	$(call msg,HELP2MAN,$@)
	$(Q)command -v $(HELP2MAN) >/dev/null || \
		{ echo "make: $(HELP2MAN) is needed for the man pages (make deps installs it)" >&2; \
		  exit 1; }
	$(Q)ARGP_HELP_FMT=rmargin=250 $(HELP2MAN) --no-info --no-discard-stderr --section=8 \
		--name='$(MAN_NAME_$*)' --output=$@ $(abspath $<)

.PHONY: man
man: $(MAN_PAGES)

# A unit with the installed paths in it. The environment files: as examples always, as the
# configuration only when there is none (it is the admin's).
install_unit = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	systemd/$(1).in >$(DESTDIR)$(SYSTEMDUNITDIR)/$(1).tmp && \
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$(1).tmp && \
	mv $(DESTDIR)$(SYSTEMDUNITDIR)/$(1).tmp $(DESTDIR)$(SYSTEMDUNITDIR)/$(1)

.PHONY: install
install: all $(MAN_PAGES) $(CHDB_LIB)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGLIBDIR)/chdb $(DESTDIR)$(MAN8DIR) \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSCONFDIR)/flowagent $(DESTDIR)$(DOCDIR)
	$(Q)$(INSTALL) -m 0755 $(patsubst %,$(BUILD)/%,$(INSTALL_PROGRAMS)) $(DESTDIR)$(BINDIR)/
	$(Q)$(INSTALL) -m 0644 $(CHDB_LIB) $(DESTDIR)$(PKGLIBDIR)/chdb/libchdb.so
	$(Q)rm -rf $(DESTDIR)$(PKGDATADIR)/sql
	$(Q)for f in $(SQL_FILES); do \
		$(INSTALL) -D -m 0644 $$f $(DESTDIR)$(PKGDATADIR)/$$f || exit 1; done
	$(Q)$(INSTALL) -m 0644 $(MAN_PAGES) $(DESTDIR)$(MAN8DIR)/
	$(Q)$(foreach u,$(SYSTEMD_UNITS),$(call install_unit,$(u)) &&) true
	$(Q)$(INSTALL) -m 0644 $(patsubst %,systemd/%,$(SYSTEMD_ENVS)) docs/deployment.md \
		$(DESTDIR)$(DOCDIR)/
	$(Q)for f in $(SYSTEMD_ENVS); do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/flowagent/$$f ] || \
		$(INSTALL) -m 0644 systemd/$$f $(DESTDIR)$(SYSCONFDIR)/flowagent/$$f || exit 1; done

# Everything install put there, but a configuration file that was changed.
.PHONY: uninstall
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(patsubst %,$(DESTDIR)$(BINDIR)/%,$(INSTALL_PROGRAMS)) \
		$(patsubst %,$(DESTDIR)$(MAN8DIR)/%.8,$(INSTALL_PROGRAMS)) \
		$(patsubst %,$(DESTDIR)$(SYSTEMDUNITDIR)/%,$(SYSTEMD_UNITS))
	$(Q)rm -rf $(DESTDIR)$(PKGDATADIR) $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(DOCDIR)
	$(Q)for f in $(SYSTEMD_ENVS); do \
		cmp -s systemd/$$f $(DESTDIR)$(SYSCONFDIR)/flowagent/$$f && \
		rm -f $(DESTDIR)$(SYSCONFDIR)/flowagent/$$f; done; \
		rmdir $(DESTDIR)$(SYSCONFDIR)/flowagent 2>/dev/null || true

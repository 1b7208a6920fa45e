# conf.d: the shipped configuration, installed to $(sysconfdir)/cargoman/conf.d as conffiles
# are (docs/configuration.md, "Upgrades"): an existing file is never overwritten; a shipped
# file that differs from it goes beside it as NAME.dist (never loaded; `cargoman check` names
# it), and an identical one leaves nothing behind. A copy of what was shipped is kept in
# $(pkgdatadir)/conf.d, so the next install knows a file missing from conf.d was removed by the
# operator (and leaves it out), not added since. When there is no such copy but conf.d already
# holds *.conf files (an upgrade from a release that kept none), a missing file is installed
# as NAME.dist: it cannot tell a removed file from a new one.
CONFD_FILES = conf.d/00-server.conf conf.d/10-bitbucket-cloud.conf \
	conf.d/20-bitbucket-datacenter.conf conf.d/30-github.conf conf.d/40-gitlab.conf \
	conf.d/90-sync.conf
EXTRA_DIST += $(CONFD_FILES)
confdshippeddir = $(pkgdatadir)/conf.d

install-data-local: install-confd
uninstall-local: uninstall-confd

install-confd:
	@$(MKDIR_P) '$(DESTDIR)$(confddir)' '$(DESTDIR)$(confdshippeddir)'
	@dst='$(DESTDIR)$(confddir)'; rec='$(DESTDIR)$(confdshippeddir)'; \
	if ls "$$rec"/*.conf >/dev/null 2>&1; then known=yes; \
	elif ls "$$dst"/*.conf >/dev/null 2>&1; then known=unsure; else known=fresh; fi; \
	for f in $(CONFD_FILES); do \
	  n=`basename $$f`; src='$(srcdir)'/$$f; \
	  if test -f "$$dst/$$n"; then \
	    if cmp -s "$$src" "$$dst/$$n"; then rm -f "$$dst/$$n.dist"; \
	    else echo "conf.d/$$n: yours is kept; the shipped one is $$dst/$$n.dist (see cargoman check)"; \
	      $(INSTALL_DATA) "$$src" "$$dst/$$n.dist" || exit 1; fi; \
	  elif test -f "$$rec/$$n"; then \
	    echo "conf.d/$$n: removed here, so not installed again (the shipped one: $$rec/$$n)"; \
	  elif test $$known = unsure; then \
	    echo "conf.d/$$n: missing; installed as $$dst/$$n.dist (see cargoman check)"; \
	    $(INSTALL_DATA) "$$src" "$$dst/$$n.dist" || exit 1; \
	  else $(INSTALL_DATA) "$$src" "$$dst/$$n" || exit 1; fi; \
	done; \
	for f in $(CONFD_FILES); do $(INSTALL_DATA) '$(srcdir)'/$$f "$$rec/" || exit 1; done

# Only what is still as shipped: an operator's edited file stays, as with conffiles.
uninstall-confd:
	@dst='$(DESTDIR)$(confddir)'; rec='$(DESTDIR)$(confdshippeddir)'; \
	for f in $(CONFD_FILES); do \
	  n=`basename $$f`; rm -f "$$dst/$$n.dist" "$$rec/$$n"; \
	  if cmp -s '$(srcdir)'/$$f "$$dst/$$n"; then rm -f "$$dst/$$n"; \
	  elif test -f "$$dst/$$n"; then echo "conf.d/$$n: changed here, so kept"; fi; \
	done; \
	rmdir "$$rec" "$$dst" 2>/dev/null; rmdir '$(DESTDIR)$(sysconfdir)/cargoman' 2>/dev/null; :

.PHONY: install-confd uninstall-confd

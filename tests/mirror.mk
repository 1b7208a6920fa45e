# Mirrors against real git servers on 127.0.0.1 (git daemon, lighttpd + git http-backend over
# HTTP and HTTPS, sshd) and zips. Needs git, lighttpd, lighttpd-mod-openssl, openssl,
# openssh-server, openssh-client, unzip; skips (77) and says which is missing otherwise.
check_PROGRAMS += tests/check_mirror
tests_check_mirror_SOURCES = tests/check_mirror.c tests/mirror_servers.c tests/mirror_servers.h \
	core/mirror.c core/mirror.h core/mirror_url.c core/mirror_url.h core/url.c core/url.h \
	core/zip.c core/zip.h \
	core/known_hosts.c core/known_hosts.h core/notes.c core/notes.h core/crypto.c core/crypto.h \
	core/fsutil.c core/fsutil.h
tests_check_mirror_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GIT2_CFLAGS) $(ARCHIVE_CFLAGS) \
	$(CRYPTO_CFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/core
tests_check_mirror_LDADD = $(CHECK_LIBS) $(GIT2_LIBS) $(ARCHIVE_LIBS) $(CRYPTO_LIBS) -lpthread
TESTS += tests/check_mirror

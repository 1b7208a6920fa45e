# Mirrors against real git servers on 127.0.0.1 (git daemon, lighttpd + git http-backend over
# HTTP and HTTPS, sshd) and zips. Needs git, lighttpd, lighttpd-mod-openssl, openssl,
# openssh-server, openssh-client, unzip; skips (77) and says which is missing otherwise.
check_PROGRAMS += tests/check_mirror
# The mirror code with what it needs, for the programs that test it.
MIRROR_SOURCES = \
	core/sync/mirror.c core/sync/mirror.h core/sync/mirror_git.h core/sync/mirror_global.c \
	core/sync/mirror_fetch.c core/sync/mirror_sync.c core/sync/mirror_read.c \
	core/sync/mirror_refdb.c core/sync/mirror_refdb.h core/sync/mirror_refbatch.c core/sync/mirror_refbatch.h \
	core/sync/mirror_archive.c core/sync/mirror_url.c core/sync/mirror_url.h core/util/url.c core/util/url.h \
	core/sync/mirror_remote.c core/sync/mirror_identity.c core/sync/mirror_guard.c \
	core/sync/mirror_current.c \
	core/sync/rename.c core/sync/rename.h \
	core/intake/repo_name.c core/intake/repo_name.h core/sync/zip.c core/sync/zip.h \
	core/sync/pack_stream.c core/sync/pack_stream.h \
	core/sync/known_hosts.c core/sync/known_hosts.h core/sync/notes.c core/sync/notes.h core/util/crypto.c core/util/crypto.h \
	core/util/fsutil.c core/util/fsutil.h core/util/hex.c core/util/hex.h core/util/buf.c core/util/buf.h
tests_check_mirror_SOURCES = tests/check_mirror.c tests/mirror_servers.c tests/mirror_servers.h \
	$(MIRROR_SOURCES)
tests_check_mirror_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GIT2_CFLAGS) $(ARCHIVE_CFLAGS) \
	$(CRYPTO_CFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/core
tests_check_mirror_LDADD = $(CHECK_LIBS) $(GIT2_LIBS) $(ARCHIVE_LIBS) $(CRYPTO_LIBS) $(ZLIB_LIBS) -lpthread
TESTS += tests/check_mirror

# Blobs streamed from packs into zips: real repositories packed by git (whole, as deltas,
# corrupted, truncated), no server. Needs git and unzip; skips (77) otherwise.
check_PROGRAMS += tests/check_pack_stream
tests_check_pack_stream_SOURCES = tests/check_pack_stream.c tests/mirror_servers.c \
	tests/mirror_servers.h $(MIRROR_SOURCES)
tests_check_pack_stream_CFLAGS = $(tests_check_mirror_CFLAGS)
tests_check_pack_stream_LDADD = $(tests_check_mirror_LDADD)
TESTS += tests/check_pack_stream

# Following renames on disk: real bare repositories, no server.
check_PROGRAMS += tests/check_rename
tests_check_rename_SOURCES = tests/check_rename.c tests/mirror_servers.c tests/mirror_servers.h \
	$(MIRROR_SOURCES)
tests_check_rename_CFLAGS = $(tests_check_mirror_CFLAGS)
tests_check_rename_LDADD = $(tests_check_mirror_LDADD)
TESTS += tests/check_rename

# Repositories gone from their host (sync/gone.c): when a mirror is removed, and when not.
check_PROGRAMS += tests/check_gone
tests_check_gone_SOURCES = tests/check_gone.c tests/mirror_servers.c tests/mirror_servers.h \
	$(MIRROR_SOURCES) core/sync/gone.c core/sync/gone.h core/intake/event.c core/intake/event.h \
	core/intake/event_index.c core/intake/event_index.h core/util/keyed_hash.c \
	core/util/keyed_hash.h
tests_check_gone_CFLAGS = $(tests_check_mirror_CFLAGS)
tests_check_gone_LDADD = $(tests_check_mirror_LDADD)
TESTS += tests/check_gone

# What a sync may leave out: ancestry, the plugins' refs digest, a sync without a fetch.
check_PROGRAMS += tests/check_mirror_current
tests_check_mirror_current_SOURCES = tests/check_mirror_current.c tests/mirror_servers.c \
	tests/mirror_servers.h $(MIRROR_SOURCES)
tests_check_mirror_current_CFLAGS = $(tests_check_mirror_CFLAGS)
tests_check_mirror_current_LDADD = $(tests_check_mirror_LDADD)
TESTS += tests/check_mirror_current

# The mirror against git (first mirror, incremental push, dist zip); built by `make check`, run
# by bench/mirror.sh (bench/README.md).
check_PROGRAMS += bench/mirror_bench
bench_mirror_bench_SOURCES = bench/mirror_bench.c $(MIRROR_SOURCES)
bench_mirror_bench_CFLAGS = $(AM_CFLAGS) $(GIT2_CFLAGS) $(ARCHIVE_CFLAGS) $(CRYPTO_CFLAGS) \
	-I$(top_srcdir)/core
bench_mirror_bench_LDADD = $(GIT2_LIBS) $(ARCHIVE_LIBS) $(CRYPTO_LIBS) $(ZLIB_LIBS) -lpthread
EXTRA_DIST += bench/mirror.sh bench/gen_repo.sh

# Mirrors with more refs than a fetch negotiates with (sync/mirror_refdb.c), over git daemon
# and HTTP. Needs git; lighttpd for the HTTP half.
check_PROGRAMS += tests/check_mirror_tags
tests_check_mirror_tags_SOURCES = tests/check_mirror_tags.c tests/mirror_servers.c \
	tests/mirror_servers.h $(MIRROR_SOURCES)
tests_check_mirror_tags_CFLAGS = $(tests_check_mirror_CFLAGS)
tests_check_mirror_tags_LDADD = $(tests_check_mirror_LDADD)
TESTS += tests/check_mirror_tags

# The first mirror's packed-refs on a tmpfs that fills up (sync/mirror_refbatch.c): needs root
# to mount it, so `make check-faults` runs it, through tests/integration/faults_refbatch.sh
# (FAULT_TESTS), not `make check`, which only builds it.
check_PROGRAMS += tests/check_mirror_faults
tests_check_mirror_faults_SOURCES = tests/check_mirror_faults.c tests/mirror_servers.c \
	tests/mirror_servers.h $(MIRROR_SOURCES)
tests_check_mirror_faults_CFLAGS = $(tests_check_mirror_CFLAGS)
tests_check_mirror_faults_LDADD = $(tests_check_mirror_LDADD)

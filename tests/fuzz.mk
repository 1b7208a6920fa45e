# Fuzz harnesses (tests/fuzz/, docs/fuzzing.md); the list of targets is tests/fuzz/targets.
# make check builds each harness with the normal compiler and tests/fuzz/replay.c as main and
# replays its seeds, corpus and crash regressions (tests/fuzz/replay.sh). make fuzz builds them
# again with clang's libFuzzer and fuzzes each for FUZZ_SECONDS (tests/fuzz/run.sh).
# Included from tests/local.mk, after the providers' local.mk (PROVIDER_COMMON_*).
FUZZ_REPLAY_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz.h
FUZZ_TEST_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/core -I$(top_srcdir)/tests/fuzz
FUZZ_TEST_LIBS = core/libcargoman-core.la $(JANSSON_LIBS)
FUZZ_PROVIDER_SOURCES = $(FUZZ_REPLAY_SOURCES) tests/fuzz/provider_harness.c \
	tests/fuzz/provider_harness.h $(PROVIDER_COMMON_SOURCES)
FUZZ_PROVIDER_CFLAGS = $(FUZZ_TEST_CFLAGS) $(PROVIDER_COMMON_CFLAGS)

check_PROGRAMS += tests/fuzz/fuzz_github
tests_fuzz_fuzz_github_SOURCES = tests/fuzz/fuzz_github.c providers/github/github.c \
	$(FUZZ_PROVIDER_SOURCES)
tests_fuzz_fuzz_github_CFLAGS = $(FUZZ_PROVIDER_CFLAGS)
tests_fuzz_fuzz_github_LDADD = $(FUZZ_TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_gitlab
tests_fuzz_fuzz_gitlab_SOURCES = tests/fuzz/fuzz_gitlab.c providers/gitlab/gitlab.c \
	$(FUZZ_PROVIDER_SOURCES)
tests_fuzz_fuzz_gitlab_CFLAGS = $(FUZZ_PROVIDER_CFLAGS)
tests_fuzz_fuzz_gitlab_LDADD = $(FUZZ_TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_bitbucket_cloud
tests_fuzz_fuzz_bitbucket_cloud_SOURCES = tests/fuzz/fuzz_bitbucket_cloud.c \
	providers/bitbucket-cloud/bitbucket-cloud.c $(FUZZ_PROVIDER_SOURCES)
tests_fuzz_fuzz_bitbucket_cloud_CFLAGS = $(FUZZ_PROVIDER_CFLAGS)
tests_fuzz_fuzz_bitbucket_cloud_LDADD = $(FUZZ_TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_bitbucket_datacenter
tests_fuzz_fuzz_bitbucket_datacenter_SOURCES = tests/fuzz/fuzz_bitbucket_datacenter.c \
	providers/bitbucket-datacenter/bitbucket-datacenter.c $(FUZZ_PROVIDER_SOURCES)
tests_fuzz_fuzz_bitbucket_datacenter_CFLAGS = $(FUZZ_PROVIDER_CFLAGS)
tests_fuzz_fuzz_bitbucket_datacenter_LDADD = $(FUZZ_TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_json_scan
tests_fuzz_fuzz_json_scan_SOURCES = tests/fuzz/fuzz_json_scan.c $(FUZZ_REPLAY_SOURCES)
tests_fuzz_fuzz_json_scan_CFLAGS = $(FUZZ_TEST_CFLAGS)
tests_fuzz_fuzz_json_scan_LDADD = $(FUZZ_TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_form
tests_fuzz_fuzz_form_SOURCES = tests/fuzz/fuzz_form.c $(FUZZ_REPLAY_SOURCES)
tests_fuzz_fuzz_form_CFLAGS = $(FUZZ_TEST_CFLAGS)
tests_fuzz_fuzz_form_LDADD = $(FUZZ_TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_url
tests_fuzz_fuzz_url_SOURCES = tests/fuzz/fuzz_url.c $(FUZZ_REPLAY_SOURCES)
tests_fuzz_fuzz_url_CFLAGS = $(FUZZ_TEST_CFLAGS)
tests_fuzz_fuzz_url_LDADD = $(FUZZ_TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_config
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c $(FUZZ_REPLAY_SOURCES)
tests_fuzz_fuzz_config_CFLAGS = $(FUZZ_TEST_CFLAGS)
tests_fuzz_fuzz_config_LDADD = $(FUZZ_TEST_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_composer_version
tests_fuzz_fuzz_composer_version_SOURCES = tests/fuzz/fuzz_composer_version.c \
	plugins/composer/version.c plugins/composer/vcs.c plugins/composer/version.h \
	$(FUZZ_REPLAY_SOURCES)
tests_fuzz_fuzz_composer_version_CFLAGS = $(FUZZ_TEST_CFLAGS) -I$(top_srcdir)/plugins/composer
tests_fuzz_fuzz_composer_version_LDADD = $(JANSSON_LIBS)

TESTS += tests/fuzz/replay.sh
EXTRA_DIST += tests/fuzz/targets tests/fuzz/run.sh tests/fuzz/seeds.sh tests/fuzz/replay.sh \
	tests/fuzz/lsan.supp tests/fuzz/provider.dict tests/fuzz/corpus tests/fuzz/regressions

# The libFuzzer run: clang compiles what each target needs straight from the source tree
# into _fuzz/ here (the corpus it grows stays there between runs). Without clang and
# libclang-rt-14-dev it says what to install and skips.
# make fuzz FUZZ_ONLY="url form" fuzzes only those targets.
FUZZ_SECONDS = 30
FUZZ_JOBS = 2
FUZZ_ONLY =
fuzz:
	@rc=0; FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_JOBS='$(FUZZ_JOBS)' \
	  FUZZ_DIR='$(abs_top_builddir)/_fuzz' \
	  CM_FUZZ_LIB_CFLAGS='$(MHD_CFLAGS) $(GIT2_CFLAGS) $(JANSSON_CFLAGS) $(CRYPTO_CFLAGS) $(LIBCONFIG_CFLAGS) $(ARCHIVE_CFLAGS) $(ZLIB_CFLAGS) $(PQ_CFLAGS)' \
	  CM_FUZZ_LIBS='$(MHD_LIBS) $(GIT2_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS) $(LIBCONFIG_LIBS) $(ARCHIVE_LIBS) $(ZLIB_LIBS) $(PQ_LIBS) -lpthread' \
	  CM_SHARED_FIXTURES="$${CM_SHARED_FIXTURES:-$(abs_top_srcdir)/../shared/fixtures}" \
	  $(SHELL) $(top_srcdir)/tests/fuzz/run.sh $(FUZZ_ONLY) || rc=$$?; \
	  if test $$rc = 77; then echo "fuzz: skipped (see above)"; exit 0; fi; exit $$rc

.PHONY: fuzz

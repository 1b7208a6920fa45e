# Tests: one check program per area. Paths reach them through the environment.
AM_TESTS_ENVIRONMENT = \
	CM_SRCDIR='$(abs_top_srcdir)'; CM_BUILDDIR='$(abs_top_builddir)'; \
	CM_MODULE_DIR='$(abs_top_builddir)/modules'; \
	CM_SHARED_FIXTURES="$${CM_SHARED_FIXTURES:-$(abs_top_srcdir)/../shared/fixtures}"; \
	export CM_SRCDIR CM_BUILDDIR CM_MODULE_DIR CM_SHARED_FIXTURES;
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/core
TEST_LIBS = core/libcargoman-core.la $(CHECK_LIBS) $(JANSSON_LIBS)

check_PROGRAMS += tests/check_providers
tests_check_providers_SOURCES = tests/check_providers.c tests/test_paths.h
tests_check_providers_CFLAGS = $(TEST_CFLAGS)
tests_check_providers_LDADD = $(TEST_LIBS)
TESTS += tests/check_providers

# The cases on ../shared/fixtures: reported as SKIP, not PASS, where that is absent.
check_PROGRAMS += tests/check_providers_shared
tests_check_providers_shared_SOURCES = tests/check_providers.c tests/test_paths.h
tests_check_providers_shared_CFLAGS = $(TEST_CFLAGS) -DCM_CASES_SHARED
tests_check_providers_shared_LDADD = $(TEST_LIBS)
TESTS += tests/check_providers_shared

include tests/config.mk

# Deliberately broken provider modules for the loader test; never installed.
TEST_MODULE_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
check_LTLIBRARIES += tests/modules/t_good.la tests/modules/t_major.la tests/modules/t_minor.la \
	tests/modules/t_noverify.la tests/modules/t_undef.la tests/modules/t_nosym.la \
	tests/modules/t_v10.la tests/modules/t_thread.la tests/modules/t_keys.la \
	tests/modules/t_giveup.la
tests_modules_t_good_la_SOURCES = tests/modules/broken.c
tests_modules_t_good_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_t_major_la_SOURCES = tests/modules/broken.c
tests_modules_t_major_la_CFLAGS = $(AM_CFLAGS) -DT_NAME='"t_major"' -DT_ABI='(2u << 16)'
tests_modules_t_major_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_t_minor_la_SOURCES = tests/modules/broken.c
tests_modules_t_minor_la_CFLAGS = $(AM_CFLAGS) -DT_NAME='"t_minor"' -DT_ABI='(CM_ABI_VERSION + 99)'
tests_modules_t_minor_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_t_noverify_la_SOURCES = tests/modules/broken.c
tests_modules_t_noverify_la_CFLAGS = $(AM_CFLAGS) -DT_NAME='"t_noverify"' -DT_NO_VERIFY
tests_modules_t_noverify_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_t_undef_la_SOURCES = tests/modules/broken.c
tests_modules_t_undef_la_CFLAGS = $(AM_CFLAGS) -DT_NAME='"t_undef"' -DT_UNDEFINED
tests_modules_t_undef_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_t_nosym_la_SOURCES = tests/modules/broken.c
tests_modules_t_nosym_la_CFLAGS = $(AM_CFLAGS) -DT_NAME='"t_nosym"' -DT_NO_DESCRIPTOR
tests_modules_t_nosym_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_t_v10_la_SOURCES = tests/modules/broken.c
tests_modules_t_v10_la_CFLAGS = $(AM_CFLAGS) -DT_NAME='"t_v10"' -DT_ABI='(1u << 16)'
tests_modules_t_v10_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_t_giveup_la_SOURCES = tests/modules/t_giveup.c
tests_modules_t_giveup_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_t_thread_la_SOURCES = tests/modules/broken.c
tests_modules_t_thread_la_CFLAGS = $(AM_CFLAGS) -DT_NAME='"t_thread"' -DT_RECORD_DESTROY
tests_modules_t_thread_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_t_keys_la_SOURCES = tests/modules/broken.c
tests_modules_t_keys_la_CFLAGS = $(AM_CFLAGS) -DT_NAME='"t_keys"'
tests_modules_t_keys_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)

# Modules built against the 1.0 SDK header kept in tests/sdk-1.0 (their own CPPFLAGS replace
# AM_CPPFLAGS, so today's include/ is not on the path): today's daemon must load them unchanged.
check_LTLIBRARIES += tests/modules/sdk10.la tests/modules/sdk10sync.la
SDK10_CPPFLAGS = -D_GNU_SOURCE= -I$(top_srcdir)/tests/sdk-1.0
tests_modules_sdk10_la_SOURCES = tests/modules/sdk10_provider.c
tests_modules_sdk10_la_CPPFLAGS = $(SDK10_CPPFLAGS)
tests_modules_sdk10_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
tests_modules_sdk10sync_la_SOURCES = tests/modules/sdk10_sync.c
tests_modules_sdk10sync_la_CPPFLAGS = $(SDK10_CPPFLAGS)
tests_modules_sdk10sync_la_LDFLAGS = $(TEST_MODULE_LDFLAGS)
EXTRA_DIST += tests/sdk-1.0

check_PROGRAMS += tests/check_event
tests_check_event_SOURCES = tests/check_event.c
tests_check_event_CFLAGS = $(TEST_CFLAGS)
tests_check_event_LDADD = $(TEST_LIBS)
TESTS += tests/check_event

check_PROGRAMS += tests/check_newrepo
tests_check_newrepo_SOURCES = tests/check_newrepo.c
tests_check_newrepo_CFLAGS = $(TEST_CFLAGS)
tests_check_newrepo_LDADD = $(TEST_LIBS)
TESTS += tests/check_newrepo

check_PROGRAMS += tests/check_url
tests_check_url_SOURCES = tests/check_url.c
tests_check_url_CFLAGS = $(TEST_CFLAGS)
tests_check_url_LDADD = $(TEST_LIBS)
TESTS += tests/check_url

check_PROGRAMS += tests/check_exec
tests_check_exec_SOURCES = tests/check_exec.c
tests_check_exec_CFLAGS = $(TEST_CFLAGS)
tests_check_exec_LDADD = $(TEST_LIBS)
TESTS += tests/check_exec

check_PROGRAMS += tests/check_loader
tests_check_loader_SOURCES = tests/check_loader.c
tests_check_loader_CFLAGS = $(TEST_CFLAGS)
tests_check_loader_LDADD = $(TEST_LIBS)
TESTS += tests/check_loader

check_PROGRAMS += tests/check_http
tests_check_http_SOURCES = tests/check_http.c
tests_check_http_CFLAGS = $(TEST_CFLAGS)
tests_check_http_LDADD = $(TEST_LIBS)
TESTS += tests/check_http

check_PROGRAMS += tests/check_worker
tests_check_worker_SOURCES = tests/check_worker.c
tests_check_worker_CFLAGS = $(TEST_CFLAGS)
tests_check_worker_LDADD = $(TEST_LIBS)
TESTS += tests/check_worker

# The small core helpers: log lines, crypto services, file-system helpers, zips, status codes.
check_PROGRAMS += tests/check_core
tests_check_core_SOURCES = tests/check_core.c
tests_check_core_CFLAGS = $(TEST_CFLAGS)
tests_check_core_LDADD = $(TEST_LIBS)
TESTS += tests/check_core

# The SDK header must compile as pedantic C99 on its own: third parties build with it alone.
check_PROGRAMS += tests/check_sdk_pedantic
tests_check_sdk_pedantic_SOURCES = tests/check_sdk_pedantic.c
tests_check_sdk_pedantic_CFLAGS = -std=c99 -pedantic -Wall -Wextra -Werror -I$(top_srcdir)/include
TESTS += tests/check_sdk_pedantic

# Integration tests: the installed daemon on loopback, driven with curl and real git servers.
TEST_EXTENSIONS = .sh
INTEGRATION_TESTS = tests/integration/http_status.sh tests/integration/sync_composer.sh \
	tests/integration/sync_git.sh tests/integration/composer_versions.sh \
	tests/integration/hostile.sh tests/integration/ops_log.sh tests/integration/org_hooks.sh \
	tests/integration/reconcile.sh tests/integration/reconcile_hosts.sh \
	tests/integration/composer_ondemand.sh
# Kill -9 rounds and git-host faults depend on timing that valgrind's slowdown would change,
# and gdb (faults_inject.sh) cannot trace a daemon under valgrind: they run in `make check` and
# under the sanitizers, not in check-valgrind.
TESTS += $(INTEGRATION_TESTS) tests/integration/sdk_example.sh tests/integration/faults.sh \
	tests/integration/crash.sh tests/integration/faults_inject.sh
EXTRA_DIST += tests/integration/composer_ondemand.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/http_status.sh \
	tests/integration/sync_composer.sh tests/integration/sync_git.sh \
	tests/integration/composer_versions.sh tests/integration/sdk_example.sh \
	tests/integration/hostile.sh tests/integration/hostile tests/cases \
	tests/integration/crash.sh tests/integration/crash.py \
	tests/fixtures tests/modules/broken.c examples tests/integration/faults.sh \
	tests/integration/faults_inject.sh tests/integration/ops_log.sh tests/integration/org_hooks.sh
# Faults that need root to inject (a tmpfs data directory filled up, an ext4 one turned
# read-only): not in `make check`, run by `make check-faults` (as root in CI); each skips (77)
# when not root. faults_refbatch.sh runs tests/check_mirror_faults (tests/mirror.mk).
FAULT_TESTS = tests/integration/faults_disk.sh tests/integration/faults_readonly.sh \
	tests/integration/faults_refbatch.sh
EXTRA_DIST += $(FAULT_TESTS)
# The lifecycle: the systemd unit's commands as an unprivileged user (root needed, else 77),
# and one state directory per plugin instance across an upgrade.
TESTS += tests/integration/systemd_unit.sh tests/integration/plugin_instances.sh
EXTRA_DIST += tests/integration/systemd_unit.sh tests/integration/plugin_instances.sh
# Upgrades keep the operator's conf.d, and a site file refines the shipped endpoints (issue 13).
TESTS += tests/integration/conf_upgrade.sh
EXTRA_DIST += tests/integration/conf_upgrade.sh
# What a vendor gets: the installed docs, the Gitea example built from them, the plugin path,
# and modules built against the 1.0 SDK, each through the installed daemon; and on_sync's
# "give up" answer (sync_giveup.sh).
TESTS += tests/integration/sdk_gitea.sh tests/integration/sdk_compat.sh tests/integration/sync_giveup.sh
EXTRA_DIST += tests/integration/sdk_gitea.sh tests/integration/sdk_compat.sh \
	tests/integration/sync_giveup.sh tests/modules/t_giveup.c
# An event costs no fetch when its work is already done (issue 11).
TESTS += tests/integration/coalesce.sh
EXTRA_DIST += tests/integration/coalesce.sh tests/integration/send_pushes.py
# The command-line tools, run from the build tree (no daemon).
TESTS += tests/integration/cli_sign.sh tests/integration/cli.sh
EXTRA_DIST += tests/integration/cli_sign.sh tests/integration/cli.sh
include tests/composer.mk
include tests/spool.mk
include tests/mirror.mk
include tests/fuzz.mk
# SSH or HTTPS per endpoint: each fetches by its own key (real sshd and lighttpd on loopback).
TESTS += tests/integration/fetch_ssh.sh
EXTRA_DIST += tests/integration/fetch_ssh.sh
# docs/examples/ posted by the command `cargoman sign --curl` prints; a Bitbucket Cloud hook at
# a GitHub endpoint; `./bootstrap.sh check` run in a copy of the tree on this build.
TESTS += tests/integration/examples_curl.sh tests/integration/bootstrap_check.sh
EXTRA_DIST += tests/integration/examples_curl.sh tests/integration/bootstrap_check.sh
# docs/production.md followed where a test can: check as an unprivileged user, the page's nginx
# site terminating TLS in front of the gateway, trusted_proxies and allow_from through it.
TESTS += tests/integration/production.sh
EXTRA_DIST += tests/integration/production.sh
# Every answer to a webhook route is recorded and logged, with the host's delivery id and the
# client's address, also behind a trusted reverse proxy (issue 13).
TESTS += tests/integration/trace.sh
EXTRA_DIST += tests/integration/trace.sh
# Secret rotation through SIGHUP with deliveries flowing, none refused.
TESTS += tests/integration/rotation.sh
EXTRA_DIST += tests/integration/rotation.sh

# The delivery log's journal and payload store, and the routes that read them.
check_PROGRAMS += tests/check_delivery_log
tests_check_delivery_log_SOURCES = tests/check_delivery_log.c
tests_check_delivery_log_CFLAGS = $(TEST_CFLAGS)
tests_check_delivery_log_LDADD = $(TEST_LIBS)
TESTS += tests/check_delivery_log tests/integration/delivery_log.sh
EXTRA_DIST += tests/integration/delivery_log.sh

# Replay and resync (issue 10), through the API and the CLI.
TESTS += tests/integration/replay.sh
EXTRA_DIST += tests/integration/replay.sh

# Renames and transfers followed by the host's repository id, per provider, and the attacks
# on it (a new repository under an old name, an unsigned payload claiming an id); also under
# valgrind (check-valgrind).
INTEGRATION_TESTS += tests/integration/rename.sh
EXTRA_DIST += tests/integration/rename.sh
# The initial import of an estate (issue 10): the route, the CLI's progress and summary.
TESTS += tests/integration/import.sh
EXTRA_DIST += tests/integration/import.sh
# Three gateways sharing one PostgreSQL queue (a real server the test starts), with a node
# killed in the middle of a fetch and the database going away; skips (77) without the server.
# Under check-valgrind too: its nodes run under valgrind and must stop clean.
INTEGRATION_TESTS += tests/integration/cluster.sh tests/integration/cluster_composer.sh
EXTRA_DIST += tests/integration/cluster.sh tests/integration/slow_proxy.py \
	tests/integration/cluster_lib.sh tests/integration/cluster_composer.sh
# Two gateways answering /api/deliveries and /api/repositories for the whole cluster from the
# same database, and 503 (never one node's part) while it is down; skips (77) without it.
INTEGRATION_TESTS += tests/integration/cluster_activity.sh
EXTRA_DIST += tests/integration/cluster_activity.sh
# A repository gone from its host releases its names on every node of a cluster.
INTEGRATION_TESTS += tests/integration/cluster_gone.sh
EXTRA_DIST += tests/integration/cluster_gone.sh

# Issue 13: package ownership follows the operator; the Composer state rebuilt from mirrors.
INTEGRATION_TESTS += tests/integration/composer_owners.sh tests/integration/composer_rebuild.sh \
	tests/integration/composer_gone.sh
EXTRA_DIST += tests/integration/composer_owners.sh tests/integration/composer_rebuild.sh \
	tests/integration/composer_gone.sh tests/integration/owners_lib.sh

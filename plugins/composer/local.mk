# plugins/composer: the private Composer v2 repository kept in step with the mirrors.
# Links only libc, libpthread and jansson; SHA-1 of dist zips comes from host->digest_file.
COMPOSER_PLUGIN_SOURCES = plugins/composer/composer.c plugins/composer/composer.h \
	plugins/composer/publish.c plugins/composer/serve.c plugins/composer/cluster.c \
	plugins/composer/admin.c \
	plugins/composer/cache.c plugins/composer/cache.h \
	plugins/composer/published.c plugins/composer/published.h \
	plugins/composer/index.c plugins/composer/index.h \
	plugins/composer/p2.c plugins/composer/p2.h \
	plugins/composer/policy.c plugins/composer/policy.h \
	plugins/composer/state.c plugins/composer/state_save.c plugins/composer/state.h \
	plugins/composer/version.c plugins/composer/vcs.c plugins/composer/version.h

plugin_LTLIBRARIES += plugins/composer/composer.la
plugins_composer_composer_la_SOURCES = $(COMPOSER_PLUGIN_SOURCES)
plugins_composer_composer_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
plugins_composer_composer_la_LIBADD = $(JANSSON_LIBS) -lpthread
plugins_composer_composer_la_LDFLAGS = $(PLUGIN_LDFLAGS)

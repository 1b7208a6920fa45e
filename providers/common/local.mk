# Helpers compiled into every provider module (each keeps exporting only cargoman_provider).
# Included from providers/bitbucket-cloud/local.mk, before any provider uses these.
PROVIDER_COMMON_SOURCES = providers/common/provider_json.c providers/common/provider_util.c
PROVIDER_COMMON_CFLAGS = -I$(top_srcdir)/providers/common
EXTRA_DIST += \
	providers/common/provider_json.h \
	providers/common/provider_util.h

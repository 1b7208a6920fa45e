# Helpers compiled into every provider module (each keeps exporting only cargoman_provider).
# Included from Makefile.am before the providers that use these variables.
PROVIDER_COMMON_SOURCES = providers/common/provider_json.c providers/common/provider_json.h \
	providers/common/provider_name.c providers/common/provider_name.h \
	providers/common/provider_util.c providers/common/provider_util.h
PROVIDER_COMMON_CFLAGS = -I$(top_srcdir)/providers/common

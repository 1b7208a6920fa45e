# Helpers compiled into every provider module (each keeps exporting only cargoman_provider).
# Included from Makefile.am before the providers that use these variables. The base needs no
# JSON library (the host's json_* services read the payload); provider_json adds jansson.
PROVIDER_BASE_SOURCES = providers/common/provider_base.h \
	providers/common/provider_name.c providers/common/provider_name.h \
	providers/common/provider_path.c providers/common/provider_path.h \
	providers/common/provider_util.c providers/common/provider_util.h
PROVIDER_COMMON_SOURCES = $(PROVIDER_BASE_SOURCES) \
	providers/common/provider_json.c providers/common/provider_json.h
PROVIDER_COMMON_CFLAGS = -I$(top_srcdir)/providers/common

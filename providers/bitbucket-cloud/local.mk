provider_LTLIBRARIES += providers/bitbucket-cloud/bitbucket-cloud.la
providers_bitbucket_cloud_bitbucket_cloud_la_SOURCES = providers/bitbucket-cloud/bitbucket-cloud.c $(PROVIDER_COMMON_SOURCES)
providers_bitbucket_cloud_bitbucket_cloud_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(PROVIDER_COMMON_CFLAGS)
providers_bitbucket_cloud_bitbucket_cloud_la_LIBADD = $(JANSSON_LIBS)
providers_bitbucket_cloud_bitbucket_cloud_la_LDFLAGS = $(PLUGIN_LDFLAGS)

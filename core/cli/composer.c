/* SPDX-License-Identifier: MIT */
/*
 * `cargoman composer owners` and `cargoman composer release PACKAGE`: a client of the Composer
 * plugin's operator routes (GET /api/composer/owners, POST .../owners/<package>/release) on the
 * running gateway, so the ownership the daemon holds in memory is the one shown and changed;
 * a command editing the state files would race with it.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoconfig.h"
#include "cli/cli.h"
#include "cli/remote.h"
#include "config/config.h"

static const char composer_usage[] =
    "usage: cargoman composer [-c CONF_DIR | -u URL] [-e ENTRY] owners\n"
    "       cargoman composer [-c CONF_DIR | -u URL] [-e ENTRY] release VENDOR/NAME\n"
    "  Ask the running gateway who publishes each Composer package (GET /api/composer/owners),\n"
    "  or take a package name from the repository that holds it, so that the next repository\n"
    "  that publishes it takes it (POST /api/composer/owners/VENDOR/NAME/release).\n"
    "  -e  the composer sync entry's name, when it is not the first unnamed one\n"
    "  -c, -u and the admin token as for `cargoman replay`.\n";

static int cc_owners(const struct cm_remote *t, const char *base)
{
    struct cm_remote_reply r;
    char path[300];
    json_t *o, *list, *e;
    size_t i;

    snprintf(path, sizeof(path), "%s/owners", base);
    if (cm_remote_call(t, "GET", path, 200, &r))
        return 1;
    o = json_loads(r.body, 0, NULL);
    free(r.body);
    list = json_object_get(o, "owners");
    if (!json_is_array(list)) {
        fprintf(stderr, "cargoman: the gateway's answer to GET %s has no owners list\n", path);
        json_decref(o);
        return 1;
    }
    printf("%-40s %-50s %s\n", "PACKAGE", "OWNER", "SINCE");
    json_array_foreach (list, i, e) {
        const char *since = json_string_value(json_object_get(e, "since"));
        printf("%-40s %-50s %s\n", json_string_value(json_object_get(e, "package")),
               json_string_value(json_object_get(e, "owner")), since ? since : "-");
    }
    json_decref(o);
    return 0;
}

static int cc_release(const struct cm_remote *t, const char *base, const char *pkg)
{
    struct cm_remote_reply r;
    char path[600];
    json_t *o;
    const char *slash = strchr(pkg, '/');

    /* The gateway checks the name; this only keeps the path one request. */
    if (!slash || slash == pkg || !slash[1] || strchr(slash + 1, '/') || strpbrk(pkg, "?#% ")) {
        fprintf(stderr, "cargoman: \"%s\" is not a package name: give VENDOR/NAME\n", pkg);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/owners/%s/release", base, pkg);
    if (cm_remote_call(t, "POST", path, 200, &r))
        return 1;
    o = json_loads(r.body, 0, NULL);
    printf("%s: released from %s; %s\n", pkg, json_string_value(json_object_get(o, "owner")),
           json_string_value(json_object_get(o, "note")));
    json_decref(o);
    free(r.body);
    return 0;
}

int cm_cli_composer(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *conf = NULL, *url = NULL, *entry = NULL, *verb;
    struct cm_remote t = {0};
    char base[200];
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:u:e:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': conf = optarg; break;
        case 'u': url = optarg; break;
        case 'e': entry = optarg; break;
        case 'h': fputs(composer_usage, stdout); return 0;
        default: fputs(composer_usage, stderr); return 2;
        }
    }
    verb = optind < argc ? argv[optind] : NULL;
    if (!verb || (strcmp(verb, "owners") == 0    ? optind + 1 != argc
                  : strcmp(verb, "release") == 0 ? optind + 2 != argc
                                                 : 1)) {
        fputs(composer_usage, stderr);
        return 2;
    }
    if (entry && (!*entry || strpbrk(entry, "/?#% ") || strlen(entry) > 100)) {
        fprintf(stderr, "cargoman: -e %s: give the composer sync entry's name\n", entry);
        return 2;
    }
    /* The instance's operator routes live under its state directory's name. */
    if (entry && strcmp(entry, "composer") != 0)
        snprintf(base, sizeof(base), "/api/composer@%s", entry);
    else
        snprintf(base, sizeof(base), "/api/composer");
    if (cm_remote_open(&t, url, conf))
        return 1;
    rc = strcmp(verb, "owners") == 0 ? cc_owners(&t, base) : cc_release(&t, base, argv[optind + 1]);
    cm_config_free(t.cfg);
    return rc;
}

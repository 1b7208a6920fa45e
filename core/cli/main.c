/* SPDX-License-Identifier: MIT */
/*
 * cargoman: one binary, a subcommand per job (README "Command line", cargoman(8)).
 */
#include <stdio.h>
#include <string.h>

#include "autoconfig.h"
#include "cargoman/plugin.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: cargoman COMMAND [OPTIONS]\n"
    "\n"
    "  serve   [-c CONF_DIR] [-l ADDR:PORT] [-d DATA_DIR] [-P PLUGIN_DIR]... [--log-format=json]\n"
    "          run the gateway\n"
    "  check   [-c CONF_DIR] [-P PLUGIN_DIR]...\n"
    "          validate the configuration, load the plugins, list the endpoints\n"
    "  parse   (-e ENDPOINT | -p PROVIDER) [-c CONF_DIR] [-P PLUGIN_DIR]... [-H 'Name: value']... "
    "[FILE|-]\n"
    "          run one provider on a saved request body, print the common events as JSON\n"
    "  sign    -p PROVIDER -s SECRET [FILE|-]\n"
    "          print the header(s) that host would send with this body\n"
    "  plugins [-c CONF_DIR] [-P PLUGIN_DIR]...\n"
    "          list the installed plugins\n"
    "  replay  [-c CONF_DIR | -u URL] RECORD_ID\n"
    "          ask the running gateway to sync a recorded delivery again\n"
    "  resync  [-c CONF_DIR | -u URL] (ENDPOINT REPOSITORY | --all)\n"
    "          ask the running gateway to fetch every ref and run the sync plugins again\n"
    "  import  [-c CONF_DIR | -u URL] ENDPOINT (REPOSITORY... | --from FILE)\n"
    "          ask the running gateway to mirror repositories, follow them, sum up\n"
    "  composer [-c CONF_DIR | -u URL] [-e ENTRY] (owners | release VENDOR/NAME)\n"
    "          ask the running gateway who publishes each Composer package, or release one\n"
    "  db      migrate [-c CONF_DIR]\n"
    "          create or upgrade the PostgreSQL schema of queue.backend = \"postgresql\"\n"
    "  version\n"
    "\n"
    "-P adds a plugin directory (repeatable); CARGOMAN_PLUGIN_PATH (DIR:DIR...) and\n"
    "server.plugin_path add more; " CM_PLUGIN_DIR " is searched last (until it is installed,\n"
    "a build tree's own cargoman searches that tree's modules/ instead).\n"
    "Run `cargoman COMMAND --help` for a command's options.\n";

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (!cmd || !strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, cmd ? stdout : stderr);
        return cmd ? 0 : 2;
    }
    argc--;
    argv++;
    if (!strcmp(cmd, "serve"))
        return cm_cli_serve(argc, argv);
    if (!strcmp(cmd, "check"))
        return cm_cli_check(argc, argv);
    if (!strcmp(cmd, "parse"))
        return cm_cli_parse(argc, argv);
    if (!strcmp(cmd, "sign"))
        return cm_cli_sign(argc, argv);
    if (!strcmp(cmd, "plugins"))
        return cm_cli_plugins(argc, argv);
    if (!strcmp(cmd, "replay"))
        return cm_cli_replay(argc, argv);
    if (!strcmp(cmd, "resync"))
        return cm_cli_resync(argc, argv);
    if (!strcmp(cmd, "import"))
        return cm_cli_import(argc, argv);
    if (!strcmp(cmd, "composer"))
        return cm_cli_composer(argc, argv);
    if (!strcmp(cmd, "db"))
        return cm_cli_db(argc, argv);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("cargoman %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, CM_ABI_MAJOR, CM_ABI_MINOR);
        return 0;
    }
    fprintf(stderr, "cargoman: unknown command \"%s\"\n\n%s", cmd, usage);
    return 2;
}

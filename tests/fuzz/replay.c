/* SPDX-License-Identifier: MIT */
/*
 * A main() for the fuzz harnesses without libFuzzer: feeds every file named on the command
 * line (a directory: every file in it, in name order) to LLVMFuzzerTestOneInput once. make
 * check builds each harness with it, so seeds and crash regressions replay with any compiler.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, n;
    int rc = -1;

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    do {
        if (len == cap) {
            unsigned char *p = realloc(buf, cap ? cap * 2 : 4096);
            if (!p)
                goto out;
            buf = p;
            cap = cap ? cap * 2 : 4096;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (ferror(f)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        goto out;
    }
    /* Named first, so the line before a crash says which input it was. */
    fprintf(stderr, "replay: %s\n", path);
    /* As libFuzzer does, hand over a copy of exactly len bytes, so ASan sees overreads. */
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        goto out;
    memcpy(copy, buf, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file directly in dir, in name order; *count is added to. */
static int replay_dir(const char *dir, unsigned *count)
{
    struct dirent **names;
    char path[4096];
    struct stat st;
    int n = scandir(dir, &names, NULL, NULL), bad = 0;

    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    qsort(names, (size_t)n, sizeof(*names), by_name);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) != 0)
                bad = 1;
            else
                (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    struct stat st;
    int bad = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n  run each input through the harness once\n",
                argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            bad = 1;
        } else if (S_ISDIR(st.st_mode)) {
            bad |= replay_dir(argv[i], &count) != 0;
        } else if (replay_file(argv[i]) != 0) {
            bad = 1;
        } else {
            count++;
        }
    }
    fprintf(stderr, "replay: %u inputs, no invariant broken\n", count);
    return bad ? 1 : 0;
}

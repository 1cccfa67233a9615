/*
 * Replays a fuzz target's corpus (fuzz/corpus/NAME/) in a unit test, so that the inputs the fuzzer
 * started from and the ones it found bugs with are run by every build, not only by scripts/fuzz.
 * The unit test links the target (fuzz/fuzz_NAME.c), whose oracles abort when they do not hold.
 */
#ifndef SLUICE_TEST_CORPUS_H
#define SLUICE_TEST_CORPUS_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#ifndef SLUICE_SOURCE_DIR
#define SLUICE_SOURCE_DIR "."
#endif

/* Runs `one` on every file of `dir_path` (each as exactly its bytes, in a buffer of that size, so
 * that ASan sees a read past the input), checks each returns 0, and returns how many ran. */
static size_t replay_corpus(const char *dir_path, int (*one)(const uint8_t *data, size_t size))
{
    DIR *dir = opendir(dir_path);
    CHECK(dir != NULL);
    if (dir == NULL)
        return 0;
    size_t replayed = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir_path, e->d_name);
        FILE *fp = fopen(path, "rb");
        CHECK(fp != NULL);
        if (fp == NULL)
            continue;
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        uint8_t *data = malloc(n != 0 ? n : 1);
        memcpy(data, buf, n);
        CHECK_EQ_U64(one(data, n), 0);
        free(data);
        ++replayed;
    }
    closedir(dir);
    return replayed;
}

#endif

/*
 * libFuzzer target for the policy loader: any bytes, as a policy file. Beyond the sanitizers'
 * findings it checks the loader's contract: a config comes back exactly when no error was
 * recorded, and a config that comes back can be printed (GET /config). tests/unit/test_config.c
 * links it too, to replay fuzz/corpus/config/ in every test run.
 *
 * fuzz-sources: lua-free-config/cfg_*.c
 * fuzz-cflags: -Ilua-free-config -D_GNU_SOURCE -std=c11
 * fuzz-libs: -lyaml
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* a few variables for ${VAR} to find (the dictionary names them): a plain value, one with
     * the characters a template cares about, one that is empty */
    setenv("FUZZ_A", "127.0.0.1:8000", 1);
    setenv("FUZZ_B", "a$b${client_ip}$${x}", 1);
    setenv("FUZZ_EMPTY", "", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cfg_errors_t errors = {0};
    cfg_config_t *c = cfg_load_string((const char *)data, size, "fuzz.yaml", &errors);
    if ((c == NULL) != (errors.count != 0)) {
        fprintf(stderr, "loader contract broken: config %p with %zu errors\n", (void *)c, errors.count);
        abort();
    }
    if (c != NULL) {
        char *json = cfg_to_json(c);
        if (json == NULL || json[0] != '{')
            abort();
        free(json);
    }
    cfg_free(c);
    cfg_errors_clear(&errors);
    return 0;
}

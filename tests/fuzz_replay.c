/*
 * fuzz_replay.c - a fuzz target's entry point over its seed corpus, in
 * every build.
 *
 * Usage: fuzz_replay CORPUS_DIR MIN_FILES
 *
 * libFuzzer needs clang; this does not. Linked with one target's
 * LLVMFuzzerTestOneInput (see add_fuzz_target in tests/CMakeLists.txt),
 * it runs the entry point over every file of CORPUS_DIR and over every
 * prefix of each, as if the input arrived a byte at a time. Each input sits
 * in a heap block of exactly its size, so a sanitized build catches any
 * read past its end. A broken promise aborts. Fewer than MIN_FILES files
 * fail the test: an empty corpus would make it pass vacuously.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read the whole file PATH into a malloc'd block of exactly its size
 * (at least 1 byte allocated). Returns it and *SIZE, or NULL. */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) < 0) {
        perror(path);
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    *size = (size_t)st.st_size;
    uint8_t *data = malloc(*size > 0 ? *size : 1);
    if (data != NULL && fread(data, 1, *size, f) != *size) {
        perror(path);
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

/* Run the entry point over every prefix of the file PATH, and itself. */
static void replay(const char *path)
{
    size_t size = 0;
    uint8_t *data = read_file(path, &size);
    CHECK(data != NULL);
    if (data == NULL) {
        return;
    }
    for (size_t n = 0; n <= size; n++) {
        /* A copy of exactly N bytes: the target sees no more than that. */
        uint8_t *prefix = malloc(n > 0 ? n : 1);
        CHECK(prefix != NULL);
        if (prefix == NULL) {
            break;
        }
        memcpy(prefix, data, n);
        LLVMFuzzerTestOneInput(prefix, n);
        free(prefix);
    }
    free(data);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_replay CORPUS_DIR MIN_FILES\n");
        return 2;
    }
    const char *dir = argv[1];
    int min_files = atoi(argv[2]);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (d == NULL) {
        perror(dir);
        return check_exit_status("fuzz_replay");
    }
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (de->d_name[0] == '.' || stat(path, &st) < 0 ||
            !S_ISREG(st.st_mode)) {
            continue;
        }
        replay(path);
        files++;
    }
    closedir(d);
    CHECK(files >= min_files);
    printf("%d corpus files replayed from %s\n", files, dir);
    return check_exit_status("fuzz_replay");
}

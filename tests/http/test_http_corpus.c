/*
 * test_http_corpus.c - the fuzz target's entry point over the seed corpus,
 * in every build.
 *
 * libFuzzer needs clang; this does not. It runs LLVMFuzzerTestOneInput
 * (fuzz_http_parser.c, linked in) over every file of tests/http/corpus/,
 * and over every prefix of each file, as if it arrived a byte at a time.
 * Each input sits in a heap block of exactly its size, so a sanitized
 * build catches any read past its end. A broken promise aborts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

#ifndef HTTP_CORPUS_DIR
#error "HTTP_CORPUS_DIR must name the corpus directory"
#endif

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
        /* A copy of exactly N bytes: the parser sees no more than that. */
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

int main(void)
{
    DIR *d = opendir(HTTP_CORPUS_DIR);
    CHECK(d != NULL);
    if (d == NULL) {
        perror(HTTP_CORPUS_DIR);
        return check_exit_status("test_http_corpus");
    }
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", HTTP_CORPUS_DIR, de->d_name);
        if (de->d_name[0] == '.' || stat(path, &st) < 0 ||
            !S_ISREG(st.st_mode)) {
            continue;
        }
        replay(path);
        files++;
    }
    closedir(d);
    /* An empty or missing corpus would make this test pass vacuously. */
    CHECK(files >= 20);
    printf("%d corpus files replayed\n", files);
    return check_exit_status("test_http_corpus");
}

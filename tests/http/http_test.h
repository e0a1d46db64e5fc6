/*
 * http_test.h - what the HTTP unit tests share: a CHECK for slices, and a
 * real document tree in a private temporary directory, with symlinks that
 * stay inside it and symlinks that lead out of it.
 *
 * The tree (BASE is a fresh mkdtemp directory, removed afterwards):
 *
 *   BASE/root/            the document root
 *     index.html a.txt notes.md "name with space.txt" "<b>&x.txt" .hidden
 *     sub/                no index.html: listed
 *       b.txt "a b.txt" Zed.txt deeper/
 *     withindex/index.html
 *     link_in      -> a.txt                      (inside: served)
 *     link_out     -> ../outside/secret.txt      (outside: 403)
 *     link_dir_out -> ../outside                 (outside: 403)
 *     link_abs_out -> BASE/outside/secret.txt    (outside: 403)
 *     sib          -> ../rootx/secret.txt        (shares a prefix: 403)
 *     dangling     -> nowhere                    (404)
 *     fifo                                       (not a file: 403)
 *   BASE/outside/secret.txt
 *   BASE/rootx/secret.txt
 */
#ifndef TOUR_HTTP_TEST_H
#define TOUR_HTTP_TEST_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "http.h"

/* Whether slice S holds exactly the string LIT. */
static inline bool slice_eq(struct http_slice s, const char *lit)
{
    return s.ptr != NULL && s.len == strlen(lit) &&
           memcmp(s.ptr, lit, s.len) == 0;
}

/* CHECK that slice S is the string LIT, printing what it was if not. */
#define CHECK_SLICE(s, lit)                                                    \
    do {                                                                       \
        struct http_slice cs_ = (s);                                           \
        check_count++;                                                         \
        if (!slice_eq(cs_, (lit))) {                                           \
            check_failures++;                                                  \
            fprintf(stderr,                                                    \
                    "%s:%d: CHECK failed: %s == \"%s\" (got \"%.*s\")\n",      \
                    __FILE__, __LINE__, #s, (lit), (int)cs_.len,               \
                    cs_.ptr != NULL ? cs_.ptr : "(null)");                     \
        }                                                                      \
    } while (0)

/* A slice over the string S. */
static inline struct http_slice slice_of(const char *s)
{
    struct http_slice v = {s, strlen(s)};
    return v;
}

/* Write "A/B" into OUT, SIZE bytes. A path that does not fit ends the
 * test: it would name some other file. Returns OUT. */
static inline char *join(char *out, size_t size, const char *a, const char *b)
{
    int n = snprintf(out, size, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "path too long: %s/%s\n", a, b);
        exit(1);
    }
    return out;
}

/* One thing in the tree: a directory, a file with CONTENT, a symlink to
 * CONTENT ("@" starts an absolute target below BASE), or a FIFO. */
struct tree_item {
    char kind; /* 'd', 'f', 'l', 'p' */
    const char *path;
    const char *content;
};

static const struct tree_item tree_items[] = {
    {'d', "root", NULL},
    {'d', "outside", NULL},
    {'d', "rootx", NULL},
    {'f', "outside/secret.txt", "outside secret\n"},
    {'f', "rootx/secret.txt", "sibling secret\n"},
    {'f', "root/index.html", "<h1>home</h1>\n"},
    {'f', "root/a.txt", "hello\n"},
    {'f', "root/notes.md", "# notes\n"},
    {'f', "root/name with space.txt", "spaced\n"},
    {'f', "root/<b>&x.txt", "markup\n"},
    {'f', "root/.hidden", "hidden\n"},
    {'d', "root/sub", NULL},
    {'f', "root/sub/b.txt", "b\n"},
    {'f', "root/sub/a b.txt", "a b\n"},
    {'f', "root/sub/Zed.txt", "zed\n"},
    {'d', "root/sub/deeper", NULL},
    {'d', "root/withindex", NULL},
    {'f', "root/withindex/index.html", "<h1>with index</h1>\n"},
    {'l', "root/link_in", "a.txt"},
    {'l', "root/link_out", "../outside/secret.txt"},
    {'l', "root/link_dir_out", "../outside"},
    {'l', "root/link_abs_out", "@outside/secret.txt"},
    {'l', "root/sib", "../rootx/secret.txt"},
    {'l', "root/dangling", "nowhere"},
    {'p', "root/fifo", NULL},
};

#define TREE_ITEMS (sizeof tree_items / sizeof tree_items[0])

/* Write CONTENT to PATH, a new file. */
static inline bool write_file(const char *path, const char *content)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        return false;
    }
    size_t n = strlen(content);
    bool ok = write(fd, content, n) == (ssize_t)n;
    return close(fd) == 0 && ok;
}

/* Create one tree item below BASE. */
static inline bool make_item(const char *base, const struct tree_item *it)
{
    char path[4096], target[4096];
    join(path, sizeof path, base, it->path);
    switch (it->kind) {
    case 'd':
        return mkdir(path, 0755) == 0;
    case 'f':
        return write_file(path, it->content);
    case 'p':
        return mkfifo(path, 0644) == 0;
    default:
        if (it->content[0] == '@') {
            join(target, sizeof target, base, it->content + 1);
        } else {
            snprintf(target, sizeof target, "%s", it->content);
        }
        return symlink(target, path) == 0;
    }
}

/* Remove the tree below BASE, and BASE: everything it was made of, in
 * reverse order, so nothing is left behind even after a failed test. */
static inline void remove_tree(const char *base)
{
    char path[4096];
    for (size_t i = TREE_ITEMS; i-- > 0;) {
        join(path, sizeof path, base, tree_items[i].path);
        if (tree_items[i].kind == 'd') {
            rmdir(path);
        } else {
            unlink(path);
        }
    }
    rmdir(base);
}

/* Make the tree in a new temporary directory; its path goes to BASE
 * (4096 bytes). Returns false, after cleaning up, if anything failed. */
static inline bool make_tree(char *base)
{
    const char *tmp = getenv("TMPDIR");
    join(base, 4096, tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp",
         "tour-http-XXXXXX");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return false;
    }
    for (size_t i = 0; i < TREE_ITEMS; i++) {
        if (!make_item(base, &tree_items[i])) {
            perror(tree_items[i].path);
            remove_tree(base);
            return false;
        }
    }
    return true;
}

#endif

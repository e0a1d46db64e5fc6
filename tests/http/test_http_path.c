/*
 * test_http_path.c - URL paths onto a document root: decoding, cleaning,
 * every traversal encoding we know of, and symlinks out of the root,
 * against a real directory tree (http_test.h) made under mkdtemp and
 * removed at the end; then the directory listing of that tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "http.h"
#include "http_test.h"

/* A URL path and what http_clean_path makes of it. */
struct clean_case {
    const char *path;
    int status;
    const char *out; /* on 200 */
};

static const struct clean_case clean_cases[] = {
    {"/", 200, ""},
    {"/a", 200, "a"},
    {"/a/b/", 200, "a/b"},
    {"//a///b//", 200, "a/b"},
    {"/./a/./b/.", 200, "a/b"},
    {"/a%20b/c%41", 200, "a b/cA"},
    {"/%7euser", 200, "~user"},
    {"/...", 200, "..."},
    {"/..a/a..", 200, "..a/a.."},
    {"/%252e%252e/x", 200, "%2e%2e/x"},             /* encoded twice: a name */
    {"/%c0%ae%c0%ae/x", 200, "\xc0\xae\xc0\xae/x"}, /* overlong UTF-8 */
    {"/a+b", 200, "a+b"},                           /* '+' is not ' ' */
    {"/..", 403, NULL},
    {"/../etc/passwd", 403, NULL},
    {"/a/../b", 403, NULL},
    {"/a/..", 403, NULL},
    {"/a/../", 403, NULL},
    {"/%2e%2e/etc/passwd", 403, NULL},
    {"/%2E%2E/etc/passwd", 403, NULL},
    {"/.%2e/x", 403, NULL},
    {"/%2e./x", 403, NULL},
    {"/a%2f..%2f..%2fetc", 403, NULL},
    {"/a%2Fb", 403, NULL},
    {"/..%2f", 403, NULL},
    {"/a%5c..%5c..%5cetc", 403, NULL},
    {"/a\\b", 403, NULL},
    {"/..\\..\\etc", 403, NULL},
    {"/a%00b", 403, NULL},
    {"/a.txt%00.html", 403, NULL},
    {"/a%zz", 400, NULL},
    {"/a%2", 400, NULL},
    {"/a%", 400, NULL},
    {"a", 400, NULL},
    {"", 400, NULL},
    {"*", 400, NULL},
};

/* Every row of the clean-path table. */
static void test_clean_table(void)
{
    for (size_t i = 0; i < sizeof clean_cases / sizeof clean_cases[0]; i++) {
        const struct clean_case *c = &clean_cases[i];
        char out[256];
        int status = http_clean_path(slice_of(c->path), out, sizeof out);
        CHECK_INT(status, c->status);
        if (status != c->status) {
            fprintf(stderr, "  ^ path \"%s\"\n", c->path);
        }
        if (c->out != NULL) {
            CHECK_STR(out, c->out);
        } else {
            CHECK_STR(out, ""); /* nothing half-decoded left behind */
        }
    }
}

/* Output limits: a segment longer than any file name, a path longer than
 * the buffer. Never a truncated path. */
static void test_clean_limits(void)
{
    char big[400], out[16];
    big[0] = '/';
    memset(big + 1, 'a', 300);
    big[301] = '\0';
    CHECK_INT(http_clean_path(slice_of(big), out, sizeof out), 404);
    /* 16 bytes hold 15 characters and the NUL. */
    CHECK_INT(http_clean_path(slice_of("/abcdefghijklmnop"), out, sizeof out),
              404);
    CHECK_INT(http_clean_path(slice_of("/abcdefghijklmno"), out, sizeof out),
              200);
    CHECK_STR(out, "abcdefghijklmno");
    CHECK_INT(http_clean_path(slice_of("/abcdefg/ijklmnop"), out, sizeof out),
              404);
    CHECK_INT(http_clean_path(slice_of("/abcdefg/ijklmno"), out, sizeof out),
              200);
    CHECK_STR(out, "abcdefg/ijklmno");
    CHECK_INT(http_clean_path(slice_of("/"), out, 0), 404);
    /* Full, and still refusing to climb rather than stopping early. */
    CHECK_INT(
        http_clean_path(slice_of("/abcdefg/ijklm//../x"), out, sizeof out),
        403);
}

/* A URL path under ROOT and what http_map_path says. SUFFIX is what the
 * resolved path must end with, on 200. */
struct map_case {
    const char *path;
    int status;
    const char *suffix;
};

static const struct map_case map_cases[] = {
    {"/", 200, "/root"},
    {"/a.txt", 200, "/root/a.txt"},
    {"/sub", 200, "/root/sub"},
    {"/sub/", 200, "/root/sub"},
    {"/sub/b.txt", 200, "/root/sub/b.txt"},
    {"/sub/a%20b.txt", 200, "/root/sub/a b.txt"},
    {"/name%20with%20space.txt", 200, "/root/name with space.txt"},
    {"/link_in", 200, "/root/a.txt"},
    {"/.hidden", 200, "/root/.hidden"},
    {"/fifo", 200, "/root/fifo"}, /* mapped; the plan refuses to open it */
    {"/nope", 404, NULL},
    {"/a.txt/", 404, NULL},
    {"/a.txt/x", 404, NULL},
    {"/dangling", 404, NULL},
    {"/link_out", 403, NULL},
    {"/link_dir_out", 403, NULL},
    {"/link_dir_out/secret.txt", 403, NULL},
    {"/link_abs_out", 403, NULL},
    {"/sib", 403, NULL},
    {"/../outside/secret.txt", 403, NULL},
    {"/sub/../../outside/secret.txt", 403, NULL},
    {"/%2e%2e/outside/secret.txt", 403, NULL},
    {"/sub/%2e%2e/%2e%2e/outside/secret.txt", 403, NULL},
    {"/sub%2f..%2f..%2foutside%2fsecret.txt", 403, NULL},
    {"/sub%5c..%5c..%5coutside%5csecret.txt", 403, NULL},
    {"/a.txt%00.html", 403, NULL},
    {"/..%2foutside/secret.txt", 403, NULL},
    {"/%252e%252e/outside/secret.txt", 404, NULL},
    {"/%c0%ae%c0%ae/outside/secret.txt", 404, NULL},
    {"/link_out%00", 403, NULL},
};

/* Every row of the mapping table against the real tree under ROOT; what
 * comes back on 200 is below ROOT and its stat is the file's. */
static void test_map_table(const char *root)
{
    for (size_t i = 0; i < sizeof map_cases / sizeof map_cases[0]; i++) {
        const struct map_case *c = &map_cases[i];
        char out[PATH_MAX] = "";
        struct stat st;
        int status =
            http_map_path(root, slice_of(c->path), out, sizeof out, &st);
        CHECK_INT(status, c->status);
        if (status != c->status) {
            fprintf(stderr, "  ^ path \"%s\" -> \"%s\"\n", c->path, out);
        }
        if (status == 200 && c->suffix != NULL) {
            size_t n = strlen(out), k = strlen(c->suffix);
            CHECK(strncmp(out, root, strlen(root)) == 0);
            CHECK(n >= k && strcmp(out + n - k, c->suffix) == 0);
            struct stat again;
            CHECK(stat(out, &again) == 0 && again.st_ino == st.st_ino);
        }
    }
}

/* A root of "/" works (and confines nothing); a root that is a prefix of
 * a sibling's name does not let the sibling in. */
static void test_map_roots(const char *root)
{
    char out[PATH_MAX], path[PATH_MAX + 32];
    struct stat st;
    join(path, sizeof path, root, "a.txt");
    CHECK_INT(http_map_path("/", slice_of(path), out, sizeof out, &st), 200);
    CHECK_STR(out, path);
    /* /sib leads to ../rootx: its path starts with the root's, yet it is
     * outside. */
    CHECK_INT(http_map_path(root, slice_of("/sib"), out, sizeof out, &st), 403);
    /* A too-small output buffer is a 404, never a truncated path. */
    CHECK_INT(http_map_path(root, slice_of("/a.txt"), out, 4, &st), 404);
}

/* http_site_init canonicalises the root and insists on a directory. */
static void test_site(const char *base, struct http_site *site)
{
    char path[PATH_MAX];
    join(path, sizeof path, base, "root/sub/../.");
    CHECK_INT(http_site_init(site, path, NULL), 0);
    CHECK(strstr(site->root, "/root") != NULL);
    CHECK(strstr(site->root, "..") == NULL);
    CHECK_STR(site->server, "socket-tour");
    struct http_site other;
    join(path, sizeof path, base, "root/a.txt");
    CHECK_INT(http_site_init(&other, path, "x"), -1);
    join(path, sizeof path, base, "missing");
    CHECK_INT(http_site_init(&other, path, "x"), -1);
}

/* Where NEEDLE first occurs in the page, or -1. */
static long find(const char *page, const char *needle)
{
    const char *at = strstr(page, needle);
    return at != NULL ? at - page : -1;
}

/* Listings: sorted bytewise, dot files out, directories with '/', names
 * escaped as HTML and as URLs, a link up except at the root. */
static void test_listing(const char *root)
{
    char dir[PATH_MAX];
    size_t len = 0;
    join(dir, sizeof dir, root, "sub");
    char *page = http_listing(dir, slice_of("/sub/"), &len);
    CHECK(page != NULL);
    if (page != NULL) {
        CHECK_INT(len, strlen(page));
        CHECK(find(page, "<title>Index of /sub/</title>") > 0);
        CHECK(find(page, "<a href=\"../\">") > 0);
        long zed = find(page, ">Zed.txt<"), ab = find(page, ">a b.txt<");
        long b = find(page, ">b.txt<"), deeper = find(page, ">deeper/<");
        CHECK(zed > 0 && zed < ab && ab < b && b < deeper);
        CHECK(find(page, "href=\"a%20b.txt\"") > 0);
        CHECK(find(page, "href=\"deeper/\"") > 0);
        free(page);
    }
    page = http_listing(root, slice_of("/"), &len);
    CHECK(page != NULL);
    if (page != NULL) {
        CHECK(find(page, "Index of /<") > 0);
        CHECK(find(page, "href=\"../\"") < 0);
        CHECK(find(page, ".hidden") < 0);
        CHECK(find(page, ">&lt;b&gt;&amp;x.txt<") > 0);
        CHECK(find(page, "href=\"%3Cb%3E%26x.txt\"") > 0);
        CHECK(find(page, "<b>") < 0);
        CHECK(find(page, "href=\"sub/\"") > 0);
        CHECK(find(page, "href=\"link_dir_out/\"") > 0);
        free(page);
    }
    /* The heading shows the decoded path, escaped. */
    page = http_listing(dir, slice_of("/%3Cs%3E/"), &len);
    CHECK(page != NULL && find(page, "Index of /&lt;s&gt;/<") > 0);
    free(page);
    join(dir, sizeof dir, root, "missing");
    CHECK(http_listing(dir, slice_of("/missing/"), &len) == NULL);
}

int main(void)
{
    test_clean_table();
    test_clean_limits();

    char base[4096];
    if (!make_tree(base)) {
        fprintf(stderr, "cannot make the test tree\n");
        return 1;
    }
    struct http_site site;
    test_site(base, &site);
    test_map_table(site.root);
    test_map_roots(site.root);
    test_listing(site.root);
    remove_tree(base);

    struct stat st;
    CHECK(stat(base, &st) < 0); /* nothing left behind */
    return check_exit_status("test_http_path");
}

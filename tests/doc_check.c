/*
 * doc_check.c - the code shown in the docs is the code in the tree.
 *
 * Usage: doc_check [--docs DIR] SRC_DIR
 *
 * Every ```c block in the docs (DIR, default SRC_DIR/docs, its .md files)
 * must appear verbatim in the source file named on the nearest non-blank
 * line above it, e.g. From [`01_blocking/tcp_server.c`](../01_blocking/...).
 * A line that is just "..." splits a block into segments: each must be
 * consecutive lines of the file, in order. Every relative link in the .md
 * and .html files must lead to a file that exists.
 * Exit status: 0 all good, 1 problems (one "FILE:LINE: ..." each), 2 usage.
 *
 * Try it: ./build/tests/docs/doc_check .
 *
 * What to notice:
 *   - a block that names no file is an error, so no block goes unchecked;
 *   - a failure names the first line that differs and the closest match,
 *     so fixing the text takes one look, not a diff by hand.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

#define PATH_LEN 4096 /* longest path built from the docs */
#define MAX_FILES 256 /* most .md/.html files in one docs directory */

/* A file in memory, one NUL-terminated string per line. */
struct text {
    char *data;   /* the whole file; each '\n' replaced by a NUL */
    char **lines; /* lines[i] is line i + 1, trailing blanks removed */
    size_t count; /* number of lines */
};

/* What one run is checking, and what it found so far. */
struct checker {
    const char *src_dir;       /* SRC_DIR: names in block headers start here */
    const char *docs_dir;      /* the directory of .md and .html files */
    char docs_shown[PATH_LEN]; /* docs_dir in messages (relative to SRC) */
    int docs_inside;           /* docs_dir is inside src_dir */
    int blocks;                /* ```c blocks checked */
    int links;                 /* local links checked */
    int problems;              /* problems reported */
};

/* A part of a ```c block between "..." lines: md lines [first, last). */
struct segment {
    size_t first; /* index of the first line (blank lines trimmed) */
    size_t last;  /* one past the last line */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: doc_check [--docs DIR] SRC_DIR\n");
}

/* Strip trailing slashes in place (but keep a lone "/"). Returns S. */
static char *strip_slashes(char *s)
{
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/') {
        s[--n] = '\0';
    }
    return s;
}

/* Report one problem as "FILE:LINE: message" on stderr and count it. */
TOUR_PRINTF(4, 5)
static void problem(struct checker *c, const char *file, size_t line,
                    const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s/%s:%zu: ", c->docs_shown, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    c->problems++;
}

/* Read the file at PATH into T, splitting it into lines with trailing
 * blanks and CRs removed. 0, or -1 with errno set. */
static int text_load(const char *path, struct text *t)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    size_t cap = 1 << 16, len = 0, n;
    char *data = malloc(cap + 1);
    while (data != NULL && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *bigger = realloc(data, 2 * cap + 1);
            if (bigger == NULL) {
                free(data);
            }
            data = bigger;
            cap *= 2;
        }
    }
    if (data == NULL) {
        die("doc_check: out of memory reading %s", path);
    }
    if (ferror(f)) {
        int err = errno;
        free(data);
        fclose(f);
        errno = err;
        return -1;
    }
    fclose(f);
    data[len] = '\0';

    size_t count = 0;
    for (size_t i = 0; i < len; i++) {
        count += data[i] == '\n';
    }
    count += len > 0 && data[len - 1] != '\n';
    t->lines = malloc((count + 1) * sizeof *t->lines);
    if (t->lines == NULL) {
        die("doc_check: out of memory reading %s", path);
    }
    char *p = data, *end = data + len;
    for (size_t i = 0; i < count; i++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl != NULL ? nl : end;
        *stop = '\0';
        while (stop > p && strchr(" \t\r", stop[-1]) != NULL) {
            *--stop = '\0';
        }
        t->lines[i] = p;
        p = nl != NULL ? nl + 1 : end;
    }
    t->data = data;
    t->count = count;
    return 0;
}

static void text_free(struct text *t)
{
    free(t->lines);
    free(t->data);
}

/* Rewrite PATH in place without "." and "dir/.." components. */
static void normalize(char *path)
{
    char copy[PATH_LEN];
    const char *part[PATH_LEN / 2]; /* the components kept so far */
    size_t len[PATH_LEN / 2], n = 0;
    int absolute = path[0] == '/';

    snprintf(copy, sizeof copy, "%s", path);
    for (const char *s = copy; *s != '\0';) {
        s += strspn(s, "/");
        size_t k = strcspn(s, "/");
        int dot = k == 1 && s[0] == '.';
        int dotdot = k == 2 && s[0] == '.' && s[1] == '.';
        int up = n > 0 && !(len[n - 1] == 2 && part[n - 1][0] == '.' &&
                            part[n - 1][1] == '.');
        if (dotdot && up) {
            n--; /* "dir/.." is nothing */
        } else if (k > 0 && !dot && !(dotdot && absolute && n == 0)) {
            part[n] = s;
            len[n++] = k;
        }
        s += k;
    }
    char *out = path;
    if (absolute) {
        *out++ = '/';
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            *out++ = '/';
        }
        memcpy(out, part[i], len[i]);
        out += len[i];
    }
    if (out == path) {
        *out++ = '.';
    }
    *out = '\0';
}

/* ---- the file a block names ------------------------------------------ */

/* Does the token S (N bytes) look like a C source or header path? */
static int is_c_path(const char *s, size_t n)
{
    return n > 2 && s[n - 2] == '.' && (s[n - 1] == 'c' || s[n - 1] == 'h');
}

/* A path token's characters. */
static int is_path_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || strchr("_./+-", ch) != NULL;
}

/* The target of a Markdown link starting at S, just after "](": its length,
 * stopping at a blank (a title follows) or an unbalanced ')'. */
static size_t link_target_len(const char *s)
{
    if (s[0] == '<') {
        const char *gt = strchr(s, '>');
        return gt != NULL ? (size_t)(gt - s) + 1 : strlen(s);
    }
    size_t n = 0;
    int depth = 0;
    while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t') {
        if (s[n] == '(') {
            depth++;
        } else if (s[n] == ')' && depth-- == 0) {
            break;
        }
        n++;
    }
    return n;
}

/* Does a link target start with a URL scheme ("https:", "mailto:")? */
static int has_scheme(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (is_path_char(s[i]) && s[i] != '/' && s[i] != '.')) {
        i++;
    }
    return i > 0 && i < n && s[i] == ':';
}

/* Build the path of a file named in the docs: for a link target, relative
 * to the docs directory; otherwise relative to SRC_DIR. FULL is the path to
 * open, SHOWN the path for messages. 0, or -1 if a path is too long. */
static int resolve(const struct checker *c, const char *name, size_t n,
                   int is_link, char *full, char *shown)
{
    int a, b;
    if (is_link) {
        a = snprintf(full, PATH_LEN, "%s/%.*s", c->docs_dir, (int)n, name);
        b = snprintf(shown, PATH_LEN, "%s/%.*s", c->docs_shown, (int)n, name);
    } else {
        a = snprintf(full, PATH_LEN, "%s/%.*s", c->src_dir, (int)n, name);
        b = snprintf(shown, PATH_LEN, "%.*s", (int)n, name);
    }
    if (a < 0 || a >= PATH_LEN || b < 0 || b >= PATH_LEN) {
        return -1;
    }
    normalize(shown);
    return 0;
}

/* Does the link label of N bytes at LABEL name the same file as the
 * link target of K bytes at TARGET? (Only checked when the docs are inside
 * SRC_DIR, where both can be shown relative to it.) */
static int same_file(const struct checker *c, const char *label, size_t n,
                     const char *target, size_t k)
{
    char full[PATH_LEN], a[PATH_LEN], b[PATH_LEN];
    return !c->docs_inside || resolve(c, label, n, 0, full, a) < 0 ||
           resolve(c, target, k, 1, full, b) < 0 || strcmp(a, b) == 0;
}

/* Find the file a ```c block names on LINE: the last path-looking token
 * ending in .c or .h, in backticks, bare, or as a link target. Fills FULL
 * and SHOWN as resolve does. Returns 0; -1 if the line names no file; -2
 * if a link's label and target name different files ("[`a.c`](../b.c)"),
 * with SHOWN naming the link target. */
static int named_file(const struct checker *c, const char *line, char *full,
                      char *shown)
{
    const char *name = NULL, *label = NULL, *bracket = line;
    size_t name_len = 0, label_len = 0;
    int is_link = 0, mismatch = 0;

    for (const char *p = line; *p != '\0';) {
        int link = 0;
        size_t n = 0;
        if (p[0] == '[') {
            bracket = p;
        }
        if (p[0] == ']' && p[1] == '(') {
            p += 2;
            n = link_target_len(p);
            link = 1;
        } else if (is_path_char(*p)) {
            while (is_path_char(p[n])) {
                n++;
            }
            if (strncmp(p + n, "://", 3) == 0) { /* a bare URL */
                p += n + strcspn(p + n, " \t)>");
                continue;
            }
            while (n > 0 && p[n - 1] == '.') { /* "see x.c." */
                n--;
            }
        }
        if (is_c_path(p, n) && !has_scheme(p, n)) {
            /* A link whose label names a file must name the same one. */
            if (link && label != NULL && label > bracket &&
                !same_file(c, label, label_len, p, n)) {
                mismatch = 1;
            }
            if (!link) {
                label = p;
                label_len = n;
            }
            name = p;
            name_len = n;
            is_link = link;
        }
        p += n > 0 ? n : 1;
    }
    if (name == NULL || resolve(c, name, name_len, is_link, full, shown) < 0) {
        return -1;
    }
    return mismatch ? -2 : 0;
}

/* ---- checking one ```c block ----------------------------------------- */

/* LINE without up to INDENT leading spaces (a fence's indentation). */
static const char *unindent(const char *line, size_t indent)
{
    for (size_t i = 0; i < indent && *line == ' '; i++) {
        line++;
    }
    return line;
}

/* Is LINE an elision: just "..." with blanks around it? */
static int is_elision(const char *line)
{
    line += strspn(line, " \t");
    return strcmp(line, "...") == 0;
}

/* Split md lines [from, to) into segments at "..." lines, trimming blank
 * lines at each end. Returns the number of non-empty segments in SEG. */
static size_t split_segments(const struct text *md, size_t from, size_t to,
                             struct segment *seg)
{
    size_t count = 0;
    size_t start = from;
    for (size_t i = from; i <= to; i++) {
        if (i < to && !is_elision(md->lines[i])) {
            continue;
        }
        size_t first = start, last = i;
        while (first < last && md->lines[first][0] == '\0') {
            first++;
        }
        while (last > first && md->lines[last - 1][0] == '\0') {
            last--;
        }
        if (first < last) {
            seg[count].first = first;
            seg[count].last = last;
            count++;
        }
        start = i + 1;
    }
    return count;
}

/* How many lines of segment S match the source consecutively from line
 * POS; *CHARS gets how many leading bytes the first differing line
 * shares with the source line there (a measure of "closest"). */
static size_t match_len(const struct text *md, const struct segment *s,
                        size_t indent, const struct text *src, size_t pos,
                        size_t *chars)
{
    size_t k = 0;
    *chars = 0;
    while (s->first + k < s->last && pos + k < src->count) {
        const char *a = unindent(md->lines[s->first + k], indent);
        const char *b = src->lines[pos + k];
        if (strcmp(a, b) != 0) {
            while (a[*chars] != '\0' && a[*chars] == b[*chars]) {
                (*chars)++;
            }
            break;
        }
        k++;
    }
    return k;
}

/* Where segment S appears in SRC at or after line FROM, or -1. */
static long find_segment(const struct text *md, const struct segment *s,
                         size_t indent, const struct text *src, size_t from)
{
    size_t want = s->last - s->first, chars;
    for (size_t pos = from; pos + want <= src->count; pos++) {
        if (match_len(md, s, indent, src, pos, &chars) == want) {
            return (long)pos;
        }
    }
    return -1;
}

/* Explain why segment S is not in SRC after line FROM: either it appears
 * earlier (segments out of order) or the first differing line of the
 * closest match. */
static void explain(struct checker *c, const char *name, const struct text *md,
                    const struct segment *s, size_t indent,
                    const struct text *src, size_t from, const char *shown)
{
    long early = find_segment(md, s, indent, src, 0);
    if (early >= 0) {
        problem(c, name, s->first + 1,
                "block not found in %s (segments out of order: this one is "
                "at %s:%ld, before the previous one)",
                shown, shown, early + 1);
        return;
    }
    size_t best_pos = from, best_k = 0, best_chars = 0;
    for (size_t pos = from; pos < src->count; pos++) {
        size_t chars, k = match_len(md, s, indent, src, pos, &chars);
        if (k > best_k || (k == best_k && chars > best_chars)) {
            best_pos = pos;
            best_k = k;
            best_chars = chars;
        }
    }
    size_t bad = s->first + best_k;
    problem(c, name, bad + 1,
            "block not found in %s (first differing line: \"%s\")", shown,
            unindent(md->lines[bad], indent));
    if (best_k == 0 && best_chars == 0) {
        fprintf(stderr, "%s:%zu: no line from here on starts like it\n", shown,
                from + 1);
    } else if (best_pos + best_k < src->count) {
        fprintf(stderr, "%s:%zu: closest match: \"%s\"\n", shown,
                best_pos + best_k + 1, src->lines[best_pos + best_k]);
    } else {
        fprintf(stderr, "%s:%zu: closest match runs into the end of file\n",
                shown, src->count);
    }
}

/* Check the ```c block whose fence is on md line OPEN (0-based) and whose
 * lines are [OPEN + 1, CLOSE), indented by INDENT. */
static void check_block(struct checker *c, const char *name,
                        const struct text *md, size_t open, size_t close,
                        size_t indent)
{
    char full[PATH_LEN], shown[PATH_LEN];
    size_t head = open;
    while (head > 0 && md->lines[head - 1][0] == '\0') {
        head--;
    }
    int rc = head > 0 ? named_file(c, md->lines[head - 1], full, shown) : -1;
    if (rc == -1) {
        problem(c, name, open + 1,
                "```c block names no source file on the line above; write "
                "e.g. \"From [`dir/file.c`](../dir/file.c):\"");
        return;
    }
    if (rc == -2) {
        problem(c, name, head,
                "a link's label and target name different files (the "
                "target is %s)",
                shown);
        return;
    }

    struct text src;
    if (text_load(full, &src) < 0) {
        problem(c, name, head, "block names %s: %s (%s)", shown,
                errno_name(errno), strerror(errno));
        return;
    }
    struct segment *seg = malloc((close - open) * sizeof *seg);
    if (seg == NULL) {
        die("doc_check: out of memory");
    }
    size_t nseg = split_segments(md, open + 1, close, seg);
    if (nseg == 0) {
        problem(c, name, open + 1, "empty ```c block");
    }
    /* Each segment at its earliest place after the previous one: taking
     * the earliest leaves the most room for the segments still to come. */
    size_t from = 0;
    for (size_t i = 0; i < nseg; i++) {
        long pos = find_segment(md, &seg[i], indent, &src, from);
        if (pos < 0) {
            explain(c, name, md, &seg[i], indent, &src, from, shown);
            break;
        }
        from = (size_t)pos + (seg[i].last - seg[i].first);
    }
    c->blocks++;
    free(seg);
    text_free(&src);
}

/* ---- links ----------------------------------------------------------- */

/* The value of hex digit CH, or -1. */
static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Check one link target (N bytes at T) found at NAME:LINE: skip URLs and
 * pure #anchors; anything else must name a file relative to the docs. */
static void check_target(struct checker *c, const char *name, size_t line,
                         const char *t, size_t n)
{
    char target[PATH_LEN], full[PATH_LEN], shown[PATH_LEN];
    if (n >= 2 && t[0] == '<' && t[n - 1] == '>') {
        t++;
        n -= 2;
    }
    n = strcspn(t, "#?") < n ? strcspn(t, "#?") : n;
    if (n == 0 || has_scheme(t, n)) {
        return;
    }
    if (n >= sizeof target) {
        problem(c, name, line, "link too long");
        return;
    }
    /* Percent-decode: "my%20file.md" is the file "my file.md". */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = i + 2 < n ? hex_digit(t[i + 1]) : -1;
        int lo = i + 2 < n ? hex_digit(t[i + 2]) : -1;
        if (t[i] == '%' && hi >= 0 && lo >= 0) {
            target[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            target[k++] = t[i];
        }
    }
    target[k] = '\0';
    c->links++;
    if (target[0] == '/') {
        problem(c, name, line, "absolute link %s: make it relative", target);
        return;
    }
    struct stat st;
    if (resolve(c, target, k, 1, full, shown) < 0) {
        problem(c, name, line, "link too long");
    } else if (stat(full, &st) < 0) {
        problem(c, name, line, "broken link %s: %s does not exist", target,
                shown);
    }
}

/* Check the links on one Markdown line outside code: "[text](target)",
 * "![alt](target)" and "[label]: target" definitions. */
static void check_md_links(struct checker *c, const char *name, size_t line,
                           const char *s)
{
    const char *p = s + strspn(s, " ");
    if (p - s < 4 && p[0] == '[' && p[1] != '^') {
        const char *def = strstr(p, "]:");
        if (def != NULL && memchr(p, ']', (size_t)(def - p)) == NULL) {
            def += 2 + strspn(def + 2, " \t");
            check_target(c, name, line, def, strcspn(def, " \t"));
            return;
        }
    }
    for (p = s; *p != '\0';) {
        if (*p == '`') {
            /* A code span: skip to the closing run of as many backticks. */
            size_t run = strspn(p, "`");
            const char *q = p + run;
            while ((q = strchr(q, '`')) != NULL && strspn(q, "`") != run) {
                q += strspn(q, "`");
            }
            p = q != NULL ? q + run : p + run;
        } else if (p[0] == ']' && p[1] == '(') {
            size_t n = link_target_len(p + 2);
            check_target(c, name, line, p + 2, n);
            p += 2 + n;
        } else {
            p++;
        }
    }
}

/* Check href="..." and src="..." attributes on one line of HTML. */
static void check_html_links(struct checker *c, const char *name, size_t line,
                             const char *s)
{
    static const char *const attrs[] = {"href=", "src="};
    for (size_t a = 0; a < 2; a++) {
        for (const char *p = s; (p = strstr(p, attrs[a])) != NULL;) {
            p += strlen(attrs[a]);
            if (*p == '"' || *p == '\'') {
                const char *end = strchr(p + 1, *p);
                if (end != NULL) {
                    check_target(c, name, line, p + 1, (size_t)(end - p - 1));
                }
            }
        }
    }
}

/* ---- one file -------------------------------------------------------- */

/* If LINE is a code fence (``` or ~~~, three or more), its length; the
 * fence character goes in *CH, the spaces before it in *INDENT. */
static size_t fence_len(const char *line, char *ch, size_t *indent)
{
    *indent = strspn(line, " ");
    *ch = line[*indent];
    if (*ch != '`' && *ch != '~') {
        return 0;
    }
    size_t n = strspn(line + *indent, *ch == '`' ? "`" : "~");
    return n >= 3 ? n : 0;
}

/* Check one Markdown file: its ```c blocks and its links. */
static void check_markdown(struct checker *c, const char *name,
                           const struct text *md)
{
    size_t open = 0, open_len = 0, indent = 0;
    char open_ch = 0;
    int in_fence = 0, is_c = 0;
    for (size_t i = 0; i < md->count; i++) {
        char ch;
        size_t ind, n = fence_len(md->lines[i], &ch, &ind);
        const char *info = md->lines[i] + ind + n;
        if (in_fence) {
            /* Only the same character, at least as long, nothing after. */
            if (n >= open_len && ch == open_ch && *info == '\0') {
                if (is_c) {
                    check_block(c, name, md, open, i, indent);
                }
                in_fence = 0;
            }
        } else if (n > 0) {
            info += strspn(info, " \t");
            size_t word = strcspn(info, " \t{");
            is_c = word == 1 && info[0] == 'c';
            in_fence = 1;
            open = i;
            open_len = n;
            open_ch = ch;
            indent = ind;
        } else {
            check_md_links(c, name, i + 1, md->lines[i]);
        }
    }
    if (in_fence) {
        problem(c, name, open + 1, "code fence never closed");
    }
}

/* Does NAME end with SUFFIX? */
static int ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Check every .md and .html file in the docs directory, in name order.
 * Returns the number of Markdown files. */
static int check_docs(struct checker *c)
{
    char *names[MAX_FILES];
    size_t count = 0;
    int markdown = 0;
    DIR *dir = opendir(c->docs_dir);
    if (dir == NULL) {
        die_errno("doc_check: %s", c->docs_dir);
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (!ends_with(de->d_name, ".md") && !ends_with(de->d_name, ".html")) {
            continue;
        }
        if (count == MAX_FILES) {
            die("doc_check: more than %d files in %s", MAX_FILES, c->docs_dir);
        }
        names[count] = strdup(de->d_name);
        if (names[count++] == NULL) {
            die("doc_check: out of memory");
        }
    }
    closedir(dir);
    qsort(names, count, sizeof names[0], by_name);

    for (size_t i = 0; i < count; i++) {
        char path[PATH_LEN];
        struct text t;
        snprintf(path, sizeof path, "%s/%s", c->docs_dir, names[i]);
        if (text_load(path, &t) < 0) {
            die_errno("doc_check: %s", path);
        }
        if (ends_with(names[i], ".md")) {
            check_markdown(c, names[i], &t);
            markdown++;
        } else {
            for (size_t k = 0; k < t.count; k++) {
                check_html_links(c, names[i], k + 1, t.lines[k]);
            }
        }
        text_free(&t);
        free(names[i]);
    }
    return markdown;
}

int main(int argc, char **argv)
{
    char docs[PATH_LEN];
    struct checker c;
    memset(&c, 0, sizeof c);

    int i = 1;
    if (argc > 1 &&
        (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "--docs") == 0) {
        c.docs_dir = strip_slashes(argv[2]);
        i = 3;
    }
    if (argc != i + 1) {
        usage(stderr);
        return 2;
    }
    c.src_dir = strip_slashes(argv[i]);
    if (c.docs_dir == NULL) {
        snprintf(docs, sizeof docs, "%s/docs", c.src_dir);
        c.docs_dir = docs;
    }

    /* Messages name files relative to SRC_DIR when the docs are inside it
     * ("docs/01_blocking.md:12: ..."), as a reader would. */
    size_t n = strlen(c.src_dir);
    c.docs_inside = strncmp(c.docs_dir, c.src_dir, n) == 0 &&
                    c.docs_dir[n] == '/' && c.docs_dir[n + 1] != '\0';
    snprintf(c.docs_shown, sizeof c.docs_shown, "%s",
             c.docs_inside ? c.docs_dir + n + 1 : c.docs_dir);

    int files = check_docs(&c);
    if (files == 0) {
        fprintf(stderr, "doc_check: no .md files in %s\n", c.docs_dir);
        return 1;
    }
    const char *verdict = c.problems == 0 ? "ok" : "FAILED";
    printf("doc_check: %d code block%s and %d link%s in %d Markdown "
           "file%s: %s\n",
           c.blocks, c.blocks == 1 ? "" : "s", c.links, c.links == 1 ? "" : "s",
           files, files == 1 ? "" : "s", verdict);
    if (c.problems > 0) {
        fflush(stdout);
        fprintf(stderr, "doc_check: %d problem%s in %s\n", c.problems,
                c.problems == 1 ? "" : "s", c.docs_shown);
        return 1;
    }
    return 0;
}

/*
 * replay_main.c - a plain main() for the fuzz harnesses, for `make check`
 * with any compiler (no libFuzzer): it replays every file of the harness's
 * seed corpus and of its regression inputs through LLVMFuzzerTestOneInput,
 * each input in a malloc'ed buffer of exactly its size (so that ASan builds
 * catch over-reads), and prints TAP: one line per directory.
 *
 *     tests/fuzz/replay_<name> [FILE|DIR ...]
 *
 * Without arguments: $TOP_SRCDIR/tests/fuzz/corpus/<name> (must exist and
 * hold inputs) and $TOP_SRCDIR/tests/fuzz/regress/<name> (crash inputs
 * found by fuzzing, minimised; may be absent). Built with
 * -DFUZZ_NAME='"<name>"'. A crash or sanitizer report ends the process:
 * the runner counts it as a failure, and the log's last "# input" line names
 * the input.
 *
 * Memory: outside sanitizer builds the process's address space is capped
 * (RLIMIT_AS, FUZZ_REPLAY_AS_MB, default 4096 MiB), so that an input that
 * makes the library allocate gigabytes fails fast (as libFuzzer's
 * -rss_limit_mb / -malloc_limit_mb would report it) instead of swapping a CI
 * machine; in ASan builds __asan_default_options() sets
 * max_allocation_size_mb=3072 for the same effect (with tests/runner.sh's
 * allocator_may_return_null=1 a bigger malloc returns NULL).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "../tap.h"
#include "fuzz_common.h"

#ifndef FUZZ_NAME
#error "build with -DFUZZ_NAME='\"<harness>\"'"
#endif

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of path (itself if a file), sorted. Returns the count, -1 if missing. */
static int list(const char *given, char ***out)
{
    struct stat sb;
    char path[4096];
    *out = NULL;
    if (!realpath(given, path) || stat(path, &sb) != 0) return -1;
    if (!S_ISDIR(sb.st_mode)) {
        *out = malloc(sizeof **out);
        (*out)[0] = strdup(path);
        return 1;
    }
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README") || !strcmp(e->d_name, "README.md"))
            continue;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        snprintf(p, len, "%s/%s", path, e->d_name);
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            free(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            v = realloc(v, (size_t)cap * sizeof *v);
        }
        v[n++] = p;
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp);
    *out = v;
    return n;
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if ((long)got != n) {
        free(buf);
        return -1;
    }
    printf("# input %s (%ld bytes)\n", path, n);
    fflush(stdout);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif

#ifdef FUZZ_ASAN
const char *__asan_default_options(void);
__attribute__((visibility("default"), used)) const char *__asan_default_options(void)
{
    return "max_allocation_size_mb=3072";
}
#endif

static void cap_memory(void)
{
#ifndef FUZZ_ASAN
    const char *e = getenv("FUZZ_REPLAY_AS_MB");
    long long mb = e && *e ? atoll(e) : 4096;
    struct rlimit rl;
    if (mb <= 0 || getrlimit(RLIMIT_AS, &rl) != 0) return;
    rlim_t want = (rlim_t)mb << 20;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_AS, &rl) == 0) printf("# address space capped at %lld MiB\n", mb);
    }
#endif
}

int main(int argc, char **argv)
{
    cap_memory();
    const char *src = tap_srcdir();
    char corpus[4096], regress[4096];
    snprintf(corpus, sizeof corpus, "%s/tests/fuzz/corpus/%s", src, FUZZ_NAME);
    snprintf(regress, sizeof regress, "%s/tests/fuzz/regress/%s", src, FUZZ_NAME);
    const char *dflt[2] = {corpus, regress};
    const char **dirs = argc > 1 ? (const char **)argv + 1 : dflt;
    int n_dirs = argc > 1 ? argc - 1 : 2;

    /* List first: the harness's set-up may change the working directory. */
    char **files[64];
    int n_files[64];
    if (n_dirs > 64) n_dirs = 64;
    for (int i = 0; i < n_dirs; i++) n_files[i] = list(dirs[i], &files[i]);

    int one = 1;
    LLVMFuzzerInitialize(&one, &argv);
    for (int i = 0; i < n_dirs; i++) {
        int required = argc > 1 || i == 0;
        if (n_files[i] < 0) {
            if (required) TAP_OK(0, "%s: %s exists", FUZZ_NAME, dirs[i]);
            else tap_diag("%s: no regression inputs (%s absent)", FUZZ_NAME, dirs[i]);
            continue;
        }
        int bad = 0;
        for (int j = 0; j < n_files[i]; j++) {
            if (replay_file(files[i][j])) bad++;
            free(files[i][j]);
        }
        free(files[i]);
        TAP_OK(bad == 0 && (n_files[i] > 0 || !required), "%s: replayed %d input(s) of %s", FUZZ_NAME,
               n_files[i] - bad, dirs[i]);
    }
    return tap_done();
}

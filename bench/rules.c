/* The copy rules in compiled code, for the bench (bench/ingest.py compiles it if it can).

   What a copy that keeps cardingest's rules costs with no interpreter at all: each card
   file read once, one at a time in path order (its turn at the card covers the read only),
   hashed with SHA-256, written through the page cache to a temporary, fsynced, dropped
   from the page cache, read back with O_DIRECT and compared byte for byte with what was
   read from the card, then renamed to its final name; the destination folder fsynced at
   the end. THREADS files are in flight at once. No catalogue, manifest, journal or capture
   time: a floor, not a product.

   usage: rules CARD DEST THREADS    (exit 0 when every copy read back equal) */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char **paths;
static size_t count, room, next_job, turn;
static const char *dest;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t moved = PTHREAD_COND_INITIALIZER;

static void fail(const char *what, const char *path) {
    fprintf(stderr, "rules: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) fail("opening", dir);
    while ((e = readdir(d))) {
        char *path;
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) fail("naming", dir);
        if (lstat(path, &st)) fail("looking at", path);
        if (S_ISDIR(st.st_mode)) {
            walk(path);
            free(path);
        } else if (S_ISREG(st.st_mode)) {
            if (count == room && !(paths = realloc(paths, (room = room ? 2 * room : 1024) * sizeof *paths)))
                fail("listing", dir);
            paths[count++] = path;
        }
    }
    closedir(d);
}

static char *aligned(size_t size) {
    void *p;
    if (posix_memalign(&p, 4096, size)) fail("allocating", "buffers");
    return p;
}

static void pass_turn(void) {
    pthread_mutex_lock(&lock);
    turn++;
    pthread_cond_broadcast(&moved);
    pthread_mutex_unlock(&lock);
}

static void copy(size_t job, char **buf, char **back, size_t *size) {
    const char *source = paths[job];
    char temp[4096], final[4096];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len;
    struct stat st;
    size_t got = 0, at = 0;
    ssize_t n;

    pthread_mutex_lock(&lock);
    while (turn != job) pthread_cond_wait(&moved, &lock);
    pthread_mutex_unlock(&lock);
    int src = open(source, O_RDONLY | O_NOFOLLOW);
    if (src < 0 || fstat(src, &st)) fail("opening", source);
    if ((size_t)st.st_size + 4096 > *size) {
        free(*buf);
        free(*back);
        *size = ((size_t)st.st_size + 8192) & ~(size_t)4095;
        *buf = aligned(*size);
        *back = aligned(*size);
    }
    while ((n = read(src, *buf + got, *size - got)) != 0) {
        if (n < 0 && errno != EINTR) fail("reading", source);
        if (n > 0) got += n;
    }
    close(src);
    pass_turn();

    EVP_Digest(*buf, got, digest, &digest_len, EVP_sha256(), NULL);
    snprintf(temp, sizeof temp, "%s/.%zu.tmp", dest, job);
    snprintf(final, sizeof final, "%s/%zu-%s", dest, job, strrchr(source, '/') + 1);
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) fail("creating", temp);
    while (at < got) {
        n = write(fd, *buf + at, got - at);
        if (n < 0 && errno != EINTR) fail("writing", temp);
        if (n > 0) at += n;
    }
    if (fsync(fd)) fail("syncing", temp);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    fd = open(temp, O_RDONLY | O_DIRECT);
    if (fd < 0) fail("opening", temp);
    at = 0;
    while ((n = pread(fd, *back + at, *size - at, at)) != 0) {
        if (n < 0 && errno != EINTR) fail("reading back", temp);
        if (n > 0) at += n;
    }
    close(fd);
    if (at != got || memcmp(*buf, *back, got)) {
        fprintf(stderr, "rules: %s read back other bytes than %s\n", temp, source);
        exit(3);
    }
    if (rename(temp, final)) fail("naming", final);
}

static void *worker(void *unused) {
    size_t size = 1 << 20;
    char *buf = aligned(size), *back = aligned(size);
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&lock);
        size_t job = next_job++;
        pthread_mutex_unlock(&lock);
        if (job >= count) break;
        copy(job, &buf, &back, &size);
    }
    free(buf);
    free(back);
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t threads[64];
    int n = argc == 4 ? atoi(argv[3]) : 0;
    if (n < 1 || n > 64) {
        fprintf(stderr, "usage: rules CARD DEST THREADS (1-64)\n");
        return 2;
    }
    dest = argv[2];
    walk(argv[1]);
    qsort(paths, count, sizeof *paths, by_name);
    if (mkdir(dest, 0700)) fail("making", dest);
    for (int i = 0; i < n; i++) pthread_create(&threads[i], NULL, worker, NULL);
    for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
    int d = open(dest, O_RDONLY | O_DIRECTORY);
    if (d < 0 || fsync(d)) fail("syncing", dest);
    close(d);
    return 0;
}

/*
 * cordon-exec-guard: allows a program to start only when its content is trusted (issue 18).
 *
 *   cordon-exec-guard --policy FILE [--deadline-ms N] [--no-warm]
 *   cordon-exec-guard --check     (exit 0 when this kernel lets it guard; else 1 and why on stderr)
 *
 * Listens for the kernel's fanotify exec-permission events (FAN_OPEN_EXEC_PERM) on every mount of its
 * own mount namespace (FAN_MARK_MOUNT, never FAN_MARK_FILESYSTEM: started inside a private mount
 * namespace it restricts only that namespace). A file may execute when the policy's md5/sha256 entry
 * for its path matches its content, or its content's SHA-256 is an allow-sha256 entry, or the process
 * that starts it descends from a package manager (below); anything else is answered FAN_DENY (the
 * execve fails with EPERM).
 *
 * Policy file (loaded at start and on SIGHUP; a bad file on SIGHUP keeps the old policy):
 *   cordon-exec-policy 1
 *   md5 <32 hex> <absolute path, rest of the line>
 *   sha256 <64 hex> <absolute path, rest of the line>
 *   allow-sha256 <64 hex>
 *   manager <absolute path, rest of the line>
 * Lines starting with '#' and empty lines are ignored.
 *
 * Package managers (`manager` lines: the agent lists dpkg and rpm where their own files are package-
 * trusted): an upgrade must not lock the machine, and dpkg execs maintainer scripts that no md5sums
 * lists (/var/lib/dpkg/info/<pkg>.postinst, tmp.ci/) which may run programs just unpacked, before the
 * agent has rebuilt the policy. So before refusing a start, the guard walks the starting process and
 * its ancestors (/proc/<pid>/exe and the ppid of /proc/<pid>/stat; at most MANAGER_DEPTH of them,
 * never pid 1, not past the deadline) and allows it when one of them runs a manager path (a
 * " (deleted)" suffix ignored: dpkg upgrading itself replaces its own program) with effective uid 0:
 * a manager run by another user is no upgrade, and dpkg could be made to exec a user's program
 * through PATH. This trusts the package manager and whatever it starts, on purpose (root can run it
 * anyway); it costs nothing on trusted starts, is not cached (it depends on the process, not the
 * file), and a start refused for the deadline is not looked at again. A process that is gone, or a
 * /proc file that cannot be read, ends the walk: the start is refused as before.
 *
 * Output on stdout, one JSON object per line: ready, blocked (pid, ppid, uid, path, sha256, reason and,
 * when readable, parentExe), allowed (why "package-manager", manager, path, sha256: at most
 * ALLOWED_LINES a second, the starts held back counted as "unreported":N on the next allowed line, or
 * on one of its own with no path a second later), reloaded, mounts, warmed (files, bytes, cached,
 * ms), error; ready and reloaded also count the entries, allowed hashes and managers. Strings are
 * JSON-escaped; bytes that are not valid UTF-8 are written as \u00XX of the byte. stdout never
 * blocks: lines wait in a small buffer, and when that is full a line is dropped and counted, the
 * count going out as "dropped":N on the next line that fits.
 *
 * Exits (closing the fanotify fd lets every pending and later execution through) on SIGTERM/SIGINT
 * and when stdin reaches EOF (the agent that started it is gone).
 *
 * Not covered (FAN_MARK_MOUNT marks the mounts that exist in this namespace; measured in the test bed):
 * a process that makes a new mount namespace (unshare -m, containers, systemd units with PrivateTmp or
 * ProtectSystem) gets copies of the mounts that are not marked, so what it execs is not judged; nor is
 * a memfd (memfd_create + execveat: its internal mount is in no mountinfo). A mount is judged from the
 * moment the guard has read its mountinfo line, a few milliseconds after it appears.
 *
 * Single-threaded on poll(): a decision is a cache lookup or one hashing pass over the file, and the
 * kernel queues further events meanwhile, so threads would add locking for little gain on the cached
 * path that dominates. The deadline (--deadline-ms, default 2000) runs from the moment a batch of
 * events is read from the fanotify fd: hashing that outlasts it is abandoned and answered FAN_DENY
 * (reason "deadline", not cached). It cannot interrupt one read() that the filesystem itself stalls.
 *
 * Digests are computed lazily: a path whose md5 entry matches runs on its MD5 alone (dpkg's entries
 * are all md5); SHA-256 is computed only when an entry, the allow-sha256 list or a blocked report
 * needs it, so a file that fails its md5 entry is read twice (once per digest), which only untrusted
 * or allowed-by-hash files pay.
 *
 * Warm-up (off with --no-warm): after ready, while no event waits (poll timeout 0), the guard hashes
 * the digests the policy's entries check for each regular file with an exec bit, WARM_SLICE bytes
 * per loop turn, so a first start finds its digests cached and an event waits at most one slice.
 * It stops at half the cache (room for what actually runs), starts again after each reload (what
 * is cached is skipped) and ends with a "warmed" line (files hashed, their bytes, files found
 * cached, milliseconds). A file changed while it was read (re-fstat at its end) is not cached. Like a
 * start, the warm-up cannot interrupt a filesystem that stalls (a hung network mount under a policy
 * path stalls its lstat or read, and the events with it); --no-warm avoids that exposure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define OUT_CAP (16 * 1024)      /* lines waiting for the agent to read; small so a stalled reader costs little */
#define LINE_CAP (40 * 1024)     /* one JSON line: a PATH_MAX path escaped 6 bytes per byte fits */
#define HASH_CHUNK (128 * 1024)  /* fits the L2 cache: read once, feed to MD5 and SHA-256 while hot */
#define CACHE_SLOTS 16384        /* power of two; cleared whole when 3/4 full */
#define CACHE_FULL (CACHE_SLOTS / 4 * 3)
#define WARM_CAP (CACHE_SLOTS / 2)    /* the warm-up never fills the cache to its clearing point */
#define WARM_SLICE (256 * 1024)      /* hashed per loop turn: well under a millisecond at ~700 MB/s */
#define WARM_LOOKS 256               /* policy entries examined (lstat) per loop turn */
#define EVENT_BUF (64 * 1024)
#define MANAGER_DEPTH 32             /* ancestors looked at for a package manager */
#define ALLOWED_LINES 10             /* allowed lines a second: an upgrade starts thousands of programs */

/* ---------- output ---------- */

static int out_fd = 1;
static char out_buf[OUT_CAP];
static size_t out_len;
static unsigned long out_dropped;

static void out_flush(void) {
  while (out_len > 0) {
    ssize_t n = write(out_fd, out_buf, out_len);
    if (n > 0) {
      memmove(out_buf, out_buf + n, out_len - (size_t)n);
      out_len -= (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno != EAGAIN) {
      out_len = 0; /* reader gone (EPIPE) or broken fd: nobody will read these */
      return;
    } else {
      return;
    }
  }
}

/* A line under construction. */
struct line {
  char buf[LINE_CAP];
  size_t len;
};

/* Appends up to the line's content limit; the last 64 bytes stay for emit()'s tail. */
static void l_raw(struct line *l, const char *s, size_t n) {
  size_t room = LINE_CAP - 64 - l->len;
  if (n > room) n = room; /* never in practice: a PATH_MAX path escaped takes at most 24 KB */
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void l_str(struct line *l, const char *s) { l_raw(l, s, strlen(s)); }

static void l_fmt(struct line *l, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) l_raw(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned int min, cp;
  if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000, cp = c & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

/* A JSON string: quotes, backslash and control characters escaped; invalid UTF-8 bytes as \u00XX. */
static void l_json(struct line *l, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strlen(str);
  l_raw(l, "\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      l_raw(l, e, 2);
      i++;
    } else if (c < 0x20 || c == 0x7F) {
      l_fmt(l, "\\u%04x", c);
      i++;
    } else if (c < 0x80) {
      l_raw(l, (const char *)s + i, 1);
      i++;
    } else {
      size_t k = utf8_seq(s + i, n - i);
      if (k == 0) {
        l_fmt(l, "\\u%04x", c);
        i++;
      } else {
        l_raw(l, (const char *)s + i, k);
        i += k;
      }
    }
  }
  l_raw(l, "\"", 1);
}

/* Queues a finished line (its body without the closing brace); drops and counts it when full. */
static void emit(struct line *l) {
  /* The tail goes into the 64 bytes l_raw() keeps free. */
  if (out_dropped > 0) l->len += (size_t)snprintf(l->buf + l->len, 40, ",\"dropped\":%lu", out_dropped);
  memcpy(l->buf + l->len, "}\n", 2);
  l->len += 2;
  if (out_len + l->len > OUT_CAP) out_flush();
  if (out_len + l->len > OUT_CAP) {
    out_dropped++;
    return;
  }
  memcpy(out_buf + out_len, l->buf, l->len);
  out_len += l->len;
  out_dropped = 0;
  out_flush();
}

static struct line line; /* one line at a time; static because it is large */

static void emit_error(const char *fmt, ...) {
  char msg[PATH_MAX + 512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  line.len = 0;
  l_str(&line, "{\"event\":\"error\",\"message\":");
  l_json(&line, msg);
  emit(&line);
}

/* ---------- policy ---------- */

/* Also bit masks of digests: which ones an entry checks, a cache slot holds, a pass computes. */
enum { KIND_MD5 = 1, KIND_SHA256 = 2 };

struct entry {
  const char *path; /* points into policy.text */
  uint64_t hash;
  int next;         /* next entry in the same bucket, -1 at the end */
  uint8_t kind;
  uint8_t digest[32];
};

struct policy {
  char *text;
  struct entry *entries;
  size_t n_entries;
  int *buckets; /* first entry of each bucket, -1 when empty */
  size_t n_buckets;
  uint8_t (*allowed)[32]; /* sorted, for bsearch */
  size_t n_allowed;
  const char **managers; /* point into text */
  size_t n_managers;
};

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void policy_free(struct policy *p) {
  free(p->text);
  free(p->entries);
  free(p->buckets);
  free(p->allowed);
  free(p->managers);
  memset(p, 0, sizeof *p);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses `n` hex digits followed by a space or the end of the line; 0 on success. */
static int parse_hex(const char *s, size_t bytes, uint8_t *out, int last) {
  for (size_t i = 0; i < bytes; i++) {
    int hi = hexval(s[2 * i]), lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  char end = s[2 * bytes];
  return last ? (end == '\0' ? 0 : -1) : (end == ' ' ? 0 : -1);
}

static int cmp32(const void *a, const void *b) { return memcmp(a, b, 32); }

/* Loads `file` into `out`; on failure writes a message to `err` and leaves `out` untouched. */
static int policy_load(const char *file, struct policy *out, char *err, size_t errlen) {
  struct policy p = {0};
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "policy %s: %s", file, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "policy %s: not a regular file", file);
    close(fd);
    return -1;
  }
  size_t size = (size_t)st.st_size, got = 0;
  p.text = malloc(size + 1);
  if (!p.text) {
    snprintf(err, errlen, "policy %s: out of memory", file);
    close(fd);
    return -1;
  }
  while (got < size) {
    ssize_t n = read(fd, p.text + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  p.text[got] = '\0';

  /* Upper bound of entries: one per line. */
  size_t max_lines = 1;
  for (size_t i = 0; i < got; i++) max_lines += p.text[i] == '\n';
  p.entries = malloc(max_lines * sizeof *p.entries);
  p.allowed = malloc(max_lines * sizeof *p.allowed);
  p.managers = malloc(max_lines * sizeof *p.managers);
  if (!p.entries || !p.allowed || !p.managers) {
    snprintf(err, errlen, "policy %s: out of memory", file);
    policy_free(&p);
    return -1;
  }

  int header = 0;
  size_t lineno = 0;
  for (char *s = p.text; s < p.text + got;) {
    char *nl = memchr(s, '\n', (size_t)(p.text + got - s));
    char *end = nl ? nl : p.text + got;
    *end = '\0';
    lineno++;
    char *cur = s;
    s = end + 1;
    if (cur[0] == '\0' || cur[0] == '#') continue;
    if (!header) {
      if (strcmp(cur, "cordon-exec-policy 1") != 0) {
        snprintf(err, errlen, "policy %s line %zu: expected the header \"cordon-exec-policy 1\"", file, lineno);
        policy_free(&p);
        return -1;
      }
      header = 1;
      continue;
    }
    struct entry *e = &p.entries[p.n_entries];
    const char *path = NULL;
    if (strncmp(cur, "md5 ", 4) == 0 && parse_hex(cur + 4, 16, e->digest, 0) == 0) {
      e->kind = KIND_MD5;
      path = cur + 4 + 32 + 1;
    } else if (strncmp(cur, "sha256 ", 7) == 0 && parse_hex(cur + 7, 32, e->digest, 0) == 0) {
      e->kind = KIND_SHA256;
      path = cur + 7 + 64 + 1;
    } else if (strncmp(cur, "allow-sha256 ", 13) == 0 && parse_hex(cur + 13, 32, p.allowed[p.n_allowed], 1) == 0) {
      p.n_allowed++;
      continue;
    } else if (strncmp(cur, "manager ", 8) == 0) {
      path = cur + 8;
      if (path[0] != '/' || strlen(path) >= PATH_MAX) {
        snprintf(err, errlen, "policy %s line %zu: the path must be absolute and shorter than %d bytes", file, lineno, PATH_MAX);
        policy_free(&p);
        return -1;
      }
      p.managers[p.n_managers++] = path;
      continue;
    } else {
      snprintf(err, errlen, "policy %s line %zu: expected \"md5 <32 hex> <path>\", \"sha256 <64 hex> <path>\", \"allow-sha256 <64 hex>\" or \"manager <path>\"", file, lineno);
      policy_free(&p);
      return -1;
    }
    if (path[0] != '/' || strlen(path) >= PATH_MAX) {
      snprintf(err, errlen, "policy %s line %zu: the path must be absolute and shorter than %d bytes", file, lineno, PATH_MAX);
      policy_free(&p);
      return -1;
    }
    e->path = path;
    e->hash = fnv1a(path);
    p.n_entries++;
  }
  if (!header) {
    snprintf(err, errlen, "policy %s: empty (no \"cordon-exec-policy 1\" header)", file);
    policy_free(&p);
    return -1;
  }

  p.n_buckets = 1024;
  while (p.n_buckets < 2 * p.n_entries) p.n_buckets *= 2;
  p.buckets = malloc(p.n_buckets * sizeof *p.buckets);
  if (!p.buckets) {
    snprintf(err, errlen, "policy %s: out of memory", file);
    policy_free(&p);
    return -1;
  }
  memset(p.buckets, 0xff, p.n_buckets * sizeof *p.buckets); /* all -1 */
  for (size_t i = 0; i < p.n_entries; i++) {
    size_t b = p.entries[i].hash & (p.n_buckets - 1);
    p.entries[i].next = p.buckets[b];
    p.buckets[b] = (int)i;
  }
  qsort(p.allowed, p.n_allowed, 32, cmp32);
  *out = p;
  return 0;
}

/* ---------- decisions ---------- */

struct digests {
  uint8_t md5[16];
  uint8_t sha256[32];
};

struct cache_slot {
  int used;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtim, ctim;
  uint8_t have; /* KIND_* bits: the digests of d that are computed */
  struct digests d;
};

/*
 * The cache holds a file's digests, keyed by its identity and version (device, inode, size, mtime,
 * ctime), rather than the decision itself: the decision also depends on the path (a hard link or a
 * bind mount reaches one inode through a trusted and an untrusted path), and is a hash-table lookup
 * once the digests are known.
 */
static struct cache_slot cache[CACHE_SLOTS];
static size_t cache_used;

static struct cache_slot *cache_find(const struct stat *st, int *found) {
  uint64_t h = ((uint64_t)st->st_dev * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)st->st_ino * 0xC2B2AE3D27D4EB4FULL);
  for (size_t i = 0;; i++) {
    struct cache_slot *c = &cache[(h + i) & (CACHE_SLOTS - 1)];
    if (!c->used) {
      *found = 0;
      return c;
    }
    if (c->dev == st->st_dev && c->ino == st->st_ino && c->size == st->st_size && c->mtim.tv_sec == st->st_mtim.tv_sec &&
        c->mtim.tv_nsec == st->st_mtim.tv_nsec && c->ctim.tv_sec == st->st_ctim.tv_sec && c->ctim.tv_nsec == st->st_ctim.tv_nsec) {
      *found = 1;
      return c;
    }
  }
}

static void cache_clear(void) {
  memset(cache, 0, sizeof cache);
  cache_used = 0;
}

/* Adds the digests `have` says are in `d` to the file's slot. */
static void cache_put(const struct stat *st, const struct digests *d, int have) {
  int found;
  struct cache_slot *slot = cache_find(st, &found);
  if (!found && cache_used >= CACHE_FULL) {
    cache_clear(); /* bounded memory; the working set of programs is far smaller */
    slot = cache_find(st, &found);
  }
  if (!found) {
    slot->used = 1;
    slot->dev = st->st_dev;
    slot->ino = st->st_ino;
    slot->size = st->st_size;
    slot->mtim = st->st_mtim;
    slot->ctim = st->st_ctim;
    slot->have = 0;
    cache_used++;
  }
  if (have & KIND_MD5) memcpy(slot->d.md5, d->md5, sizeof d->md5);
  if (have & KIND_SHA256) memcpy(slot->d.sha256, d->sha256, sizeof d->sha256);
  slot->have |= (uint8_t)have;
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

enum hash_result { HASH_OK, HASH_DEADLINE, HASH_ERROR };

static unsigned char hash_buf[HASH_CHUNK];
static EVP_MD_CTX *md5_ctx, *sha_ctx;

static int digests_init(EVP_MD_CTX *md5, EVP_MD_CTX *sha, int want) {
  return (!(want & KIND_MD5) || EVP_DigestInit_ex(md5, EVP_md5(), NULL)) && (!(want & KIND_SHA256) || EVP_DigestInit_ex(sha, EVP_sha256(), NULL));
}

static int digests_update(EVP_MD_CTX *md5, EVP_MD_CTX *sha, int want, const void *buf, size_t n) {
  return (!(want & KIND_MD5) || EVP_DigestUpdate(md5, buf, n)) && (!(want & KIND_SHA256) || EVP_DigestUpdate(sha, buf, n));
}

static int digests_final(EVP_MD_CTX *md5, EVP_MD_CTX *sha, int want, struct digests *d) {
  return (!(want & KIND_MD5) || EVP_DigestFinal_ex(md5, d->md5, NULL)) && (!(want & KIND_SHA256) || EVP_DigestFinal_ex(sha, d->sha256, NULL));
}

/* The digests `want` asks for (KIND_* bits) in one read pass, checking the deadline between chunks. */
static enum hash_result hash_fd(int fd, int want, int64_t deadline, struct digests *d, char *err, size_t errlen) {
  if (!digests_init(md5_ctx, sha_ctx, want)) {
    snprintf(err, errlen, "digest init failed");
    return HASH_ERROR;
  }
  off_t off = 0;
  for (;;) {
    if (now_ns() > deadline) return HASH_DEADLINE;
    ssize_t n = pread(fd, hash_buf, sizeof hash_buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(err, errlen, "read: %s", strerror(errno));
      return HASH_ERROR;
    }
    if (n == 0) break;
    if (!digests_update(md5_ctx, sha_ctx, want, hash_buf, (size_t)n)) {
      snprintf(err, errlen, "digest update failed");
      return HASH_ERROR;
    }
    off += n;
  }
  if (!digests_final(md5_ctx, sha_ctx, want, d)) {
    snprintf(err, errlen, "digest final failed");
    return HASH_ERROR;
  }
  return HASH_OK;
}

static struct policy policy;

/*
 * Whether an entry of `path` matches one of the digests `have` holds; *kinds gets the KIND_* bits of
 * all its entries (several packages may list one path, dpkg diversions: any match trusts it).
 */
static int entry_matches(const char *path, const struct digests *d, int have, int *kinds) {
  *kinds = 0;
  if (!path) return 0;
  uint64_t h = fnv1a(path);
  for (int i = policy.buckets[h & (policy.n_buckets - 1)]; i >= 0; i = policy.entries[i].next) {
    const struct entry *e = &policy.entries[i];
    if (e->hash != h || strcmp(e->path, path) != 0) continue;
    *kinds |= e->kind;
    if (!(have & e->kind)) continue;
    if (e->kind == KIND_MD5 ? memcmp(e->digest, d->md5, 16) == 0 : memcmp(e->digest, d->sha256, 32) == 0) return 1;
  }
  return 0;
}

/* ppid and real uid of `pid` from /proc/<pid>/status; -1 when it is gone. */
static void proc_ids(int pid, long *ppid, long *uid) {
  *ppid = -1;
  *uid = -1;
  char file[64], buf[4096];
  snprintf(file, sizeof file, "/proc/%d/status", pid);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  char *p = strstr(buf, "\nPPid:");
  if (p) *ppid = strtol(p + 6, NULL, 10);
  p = strstr(buf, "\nUid:");
  if (p) *uid = strtol(p + 5, NULL, 10);
}

static void hex(char *out, const uint8_t *b, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) out[2 * i] = digits[b[i] >> 4], out[2 * i + 1] = digits[b[i] & 15];
  out[2 * n] = '\0';
}

static void respond(int fan, int fd, uint32_t response) {
  struct fanotify_response r = {.fd = fd, .response = response};
  /* ENOENT: the kernel no longer waits for this event (the process was killed); nothing to do. */
  if (write(fan, &r, sizeof r) != sizeof r && errno != ENOENT) emit_error("answering an event: %s", strerror(errno));
}

/* ---------- package managers ---------- */

/* Reads a small /proc file into buf (NUL-terminated); its length, or -1 when the process is gone. */
static ssize_t read_proc(long pid, const char *name, char *buf, size_t cap) {
  char file[64];
  snprintf(file, sizeof file, "/proc/%ld/%s", pid, name);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  return n;
}

/* The parent of `pid` (field 4 of /proc/<pid>/stat, after the name in parentheses, which may hold any byte), -1 when gone. */
static long proc_ppid(long pid) {
  char buf[512]; /* the name is at most 16 bytes: the fields up to the ppid fit */
  if (read_proc(pid, "stat", buf, sizeof buf) < 0) return -1;
  char *p = strrchr(buf, ')');
  char state;
  long ppid;
  if (!p || sscanf(p + 1, " %c %ld", &state, &ppid) != 2) return -1;
  return ppid;
}

/* The effective uid of `pid` (second field of Uid: in /proc/<pid>/status), -1 when gone. */
static long proc_euid(long pid) {
  char buf[4096];
  if (read_proc(pid, "status", buf, sizeof buf) < 0) return -1;
  char *p = strstr(buf, "\nUid:");
  long real, effective;
  if (!p || sscanf(p + 5, "%ld %ld", &real, &effective) != 2) return -1;
  return effective;
}

/* The policy's manager path that `exe` (a /proc/<pid>/exe target) names, or NULL. */
static const char *manager_named(const char *exe, size_t n) {
  static const char deleted[] = " (deleted)";
  const size_t dl = sizeof deleted - 1;
  if (n > dl && memcmp(exe + n - dl, deleted, dl) == 0) n -= dl;
  for (size_t i = 0; i < policy.n_managers; i++)
    if (strlen(policy.managers[i]) == n && memcmp(policy.managers[i], exe, n) == 0) return policy.managers[i];
  return NULL;
}

/* The manager that `pid` or one of its ancestors runs as root (header comment, "Package managers"), or NULL. */
static const char *manager_ancestor(long pid, int64_t deadline) {
  for (int depth = 0; depth < MANAGER_DEPTH && pid > 1 && now_ns() <= deadline; depth++) {
    char link[64], exe[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%ld/exe", pid);
    ssize_t n = readlink(link, exe, sizeof exe - 1); /* fails for kernel threads: they have no program */
    if (n > 0) {
      exe[n] = '\0';
      const char *manager = manager_named(exe, (size_t)n);
      if (manager && proc_euid(pid) == 0) return manager;
    }
    pid = proc_ppid(pid);
  }
  return NULL;
}

/* Allowed lines are rate-limited per second; the starts held back are counted. */
static struct {
  int64_t window; /* when the current second began */
  int lines;      /* lines written in it */
  unsigned long unreported;
} allowed_out;

static void allowed_line(const char *manager, const char *path, const char *sha) {
  line.len = 0;
  l_str(&line, "{\"event\":\"allowed\",\"why\":\"package-manager\"");
  if (manager) {
    l_str(&line, ",\"manager\":");
    l_json(&line, manager);
    l_str(&line, ",\"path\":");
    l_json(&line, path);
    l_fmt(&line, ",\"sha256\":\"%s\"", sha);
  }
  if (allowed_out.unreported > 0) l_fmt(&line, ",\"unreported\":%lu", allowed_out.unreported);
  allowed_out.unreported = 0;
  emit(&line);
}

static void report_allowed(const char *manager, const char *path, const char *sha) {
  int64_t now = now_ns();
  if (now - allowed_out.window >= 1000000000) {
    allowed_out.window = now;
    allowed_out.lines = 0;
  }
  if (allowed_out.lines >= ALLOWED_LINES) {
    allowed_out.unreported++;
    return;
  }
  allowed_out.lines++;
  allowed_line(manager, path, sha);
}

/* Milliseconds until the held-back count is due as a line of its own (-1: nothing held back). */
static int allowed_due_ms(void) {
  if (allowed_out.unreported == 0) return -1;
  int64_t left = allowed_out.window + 1000000000 - now_ns();
  if (left > 0) return (int)(left / 1000000) + 1;
  allowed_line(NULL, NULL, NULL);
  return -1;
}

static void handle_exec(int fan, const struct fanotify_event_metadata *m, int64_t deadline) {
  int fd = m->fd;
  struct stat st;
  char err[256];
  if (fstat(fd, &st) < 0) {
    respond(fan, fd, FAN_ALLOW);
    emit_error("fstat of an executed file failed (allowed): %s", strerror(errno));
    return;
  }

  char path[PATH_MAX + 1], proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  ssize_t plen = readlink(proc, path, PATH_MAX);
  /* No path (too long for the kernel to name): no package entry can match, only an allowed hash. */
  int has_path = plen > 0;
  path[has_path ? plen : 0] = '\0';

  int found, have = 0, kinds;
  struct cache_slot *slot = cache_find(&st, &found);
  struct digests d = {0};
  if (found) {
    d = slot->d;
    have = slot->have;
  }
  const char *entry_path = has_path ? path : NULL;
  const char *reason = NULL;
  int allow = entry_matches(entry_path, &d, have, &kinds);
  /* Only the digests the decision needs: first what the path's entries check (its MD5 for a dpkg
     file, which then runs without SHA-256), then SHA-256 for the allow list and the report. */
  for (int step = 0; step < 2 && !allow; step++) {
    int want = (step == 0 ? ((kinds & KIND_MD5) ? kinds : 0) : KIND_SHA256) & ~have;
    if (want) {
      enum hash_result hr = hash_fd(fd, want, deadline, &d, err, sizeof err);
      if (hr == HASH_ERROR) {
        respond(fan, fd, FAN_ALLOW);
        emit_error("hashing %s failed (allowed): %s", path, err);
        return;
      }
      if (hr == HASH_DEADLINE) {
        reason = "deadline";
        break;
      }
      cache_put(&st, &d, want);
      have |= want;
      allow = entry_matches(entry_path, &d, have, &kinds);
    }
    if (step == 1 && !allow) allow = policy.n_allowed > 0 && bsearch(d.sha256, policy.allowed, policy.n_allowed, 32, cmp32);
  }
  if (allow) {
    respond(fan, fd, FAN_ALLOW);
    return;
  }
  if (!reason) reason = kinds ? "mismatch" : "unknown";
  char sha[65] = "";
  if (strcmp(reason, "deadline") != 0) hex(sha, d.sha256, 32);
  const char *manager = policy.n_managers > 0 && strcmp(reason, "deadline") != 0 ? manager_ancestor(m->pid, deadline) : NULL;
  if (manager) {
    respond(fan, fd, FAN_ALLOW);
    report_allowed(manager, path, sha);
    return;
  }
  long ppid, uid;
  proc_ids(m->pid, &ppid, &uid); /* before answering: the process still exists while it waits */
  /* The parent's program, read now: a parent that only starts one program is often gone by the time the agent reads the line. */
  char parent_exe[PATH_MAX] = "";
  if (ppid > 0) {
    char link[64];
    snprintf(link, sizeof link, "/proc/%ld/exe", ppid);
    ssize_t n = readlink(link, parent_exe, sizeof parent_exe - 1);
    parent_exe[n > 0 ? n : 0] = '\0';
  }
  respond(fan, fd, FAN_DENY);
  line.len = 0;
  l_fmt(&line, "{\"event\":\"blocked\",\"pid\":%d,\"ppid\":%ld,\"uid\":%ld,\"path\":", m->pid, ppid, uid);
  l_json(&line, path);
  l_fmt(&line, ",\"sha256\":\"%s\",\"reason\":\"%s\"", sha, reason);
  if (parent_exe[0]) {
    l_str(&line, ",\"parentExe\":");
    l_json(&line, parent_exe);
  }
  emit(&line);
}

/* ---------- warm-up ---------- */

static struct {
  int enabled; /* --no-warm clears it */
  int active;
  size_t next; /* the next policy entry to look at */
  int fd;      /* the file being hashed, -1 between files */
  struct stat st;
  int want;
  off_t off;
  unsigned long files, cached;
  unsigned long long bytes;
  int64_t started;
  EVP_MD_CTX *md5, *sha; /* its own: a file's hashing spans loop turns, between which events are judged */
} warm = {.enabled = 1, .fd = -1};

static void warm_close(void) {
  if (warm.fd >= 0) close(warm.fd);
  warm.fd = -1;
}

/* From the first entry again (at ready, and after a reload: the entries are new). */
static void warm_start(void) {
  warm_close();
  if (!warm.enabled) return;
  warm.active = 1;
  warm.next = 0;
  warm.files = warm.cached = 0;
  warm.bytes = 0;
  warm.started = now_ns();
}

static void warm_done(void) {
  warm_close();
  warm.active = 0;
  line.len = 0;
  l_fmt(&line, "{\"event\":\"warmed\",\"files\":%lu,\"bytes\":%llu,\"cached\":%lu,\"ms\":%lld", warm.files, warm.bytes, warm.cached,
        (long long)((now_ns() - warm.started) / 1000000));
  emit(&line);
}

/* Opens the entry's file when it is a regular file with an exec bit whose digests are not cached. */
static void warm_open(const struct entry *e) {
  struct stat st;
  if (lstat(e->path, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) return;
  int found;
  struct cache_slot *slot = cache_find(&st, &found);
  int want = e->kind & ~(found ? slot->have : 0);
  if (!want) {
    warm.cached++;
    return;
  }
  /* O_NOATIME: reading every program must not look like using it. */
  int fd = open(e->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open(e->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;
  if (fstat(fd, &warm.st) < 0 || warm.st.st_dev != st.st_dev || warm.st.st_ino != st.st_ino || !digests_init(warm.md5, warm.sha, want)) {
    close(fd);
    return;
  }
  warm.fd = fd;
  warm.want = want;
  warm.off = 0;
}

/* Caches the digests only if the file did not change while it was read (slices apart). */
static void warm_finish(void) {
  struct digests d;
  struct stat now;
  if (digests_final(warm.md5, warm.sha, warm.want, &d) && fstat(warm.fd, &now) == 0 && now.st_size == warm.st.st_size &&
      now.st_mtim.tv_sec == warm.st.st_mtim.tv_sec && now.st_mtim.tv_nsec == warm.st.st_mtim.tv_nsec && now.st_ctim.tv_sec == warm.st.st_ctim.tv_sec &&
      now.st_ctim.tv_nsec == warm.st.st_ctim.tv_nsec) {
    cache_put(&warm.st, &d, warm.want);
    warm.files++;
    warm.bytes += (unsigned long long)warm.off;
  }
  warm_close();
}

/* One loop turn's share: at most WARM_SLICE bytes hashed and WARM_LOOKS entries examined. */
static void warm_step(void) {
  size_t budget = WARM_SLICE;
  int looks = 0;
  while (budget > 0) {
    if (warm.fd < 0) {
      if (warm.next >= policy.n_entries || cache_used >= WARM_CAP) {
        warm_done();
        return;
      }
      if (looks++ == WARM_LOOKS) return;
      warm_open(&policy.entries[warm.next++]);
      continue;
    }
    ssize_t n = pread(warm.fd, hash_buf, budget < sizeof hash_buf ? budget : sizeof hash_buf, warm.off);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      warm_finish();
      continue;
    }
    if (n < 0 || !digests_update(warm.md5, warm.sha, warm.want, hash_buf, (size_t)n)) {
      warm_close(); /* not cached: a start of it hashes it then */
      continue;
    }
    warm.off += n;
    budget -= (size_t)n;
  }
}

/* ---------- mounts ---------- */

/* The mounts seen last time, each as a hash of its mountinfo identity, sorted: only to tell new ones. */
static uint64_t *seen_mounts;
static size_t n_seen_mounts;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s) {
  char *w = s;
  for (char *r = s; *r;) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

static char *read_all(int fd, size_t *len) {
  size_t cap = 64 * 1024, n = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (;;) {
    if (n + 1 >= cap) {
      char *b = realloc(buf, cap *= 2);
      if (!b) {
        free(buf);
        return NULL;
      }
      buf = b;
    }
    ssize_t r = pread(fd, buf + n, cap - n - 1, (off_t)n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      free(buf);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/*
 * Marks every mount of /proc/self/mountinfo, every time: marking is idempotent and costs one syscall
 * per mount, and the kernel reuses mount ids at once, so a mount replaced between two reads could
 * look like one already marked. Returns how many mounts are new (marked now and not listed last
 * time), -1 on error. A mount that cannot be marked is reported when it first appears.
 */
static int mark_mounts(int fan, int mountinfo) {
  size_t len;
  char *text = read_all(mountinfo, &len);
  if (!text) {
    emit_error("reading /proc/self/mountinfo: %s", strerror(errno));
    return -1;
  }
  size_t cap = 64, n = 0;
  uint64_t *seen = malloc(cap * sizeof *seen);
  int added = 0;
  for (char *s = text, *save = NULL; seen; s = NULL) {
    char *ln = strtok_r(s, "\n", &save);
    if (!ln) break;
    char mnt[PATH_MAX * 4 + 1];
    int end = 0;
    /* "<id> <parent> <major:minor> <root> <mount point> ..." */
    if (sscanf(ln, "%*d %*d %*s %*s %16383s%n", mnt, &end) != 1 || end == 0) continue;
    ln[end] = '\0';
    uint64_t key = fnv1a(ln); /* id, parent, device, root and mount point */
    if (n == cap) {
      uint64_t *b = realloc(seen, (cap *= 2) * sizeof *seen);
      if (!b) {
        free(seen);
        seen = NULL;
        break;
      }
      seen = b;
    }
    seen[n++] = key;
    int known = seen_mounts && bsearch(&key, seen_mounts, n_seen_mounts, sizeof key, cmp_u64);
    unescape_octal(mnt);
    if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_MOUNT | FAN_MARK_DONT_FOLLOW, FAN_OPEN_EXEC_PERM, AT_FDCWD, mnt) == 0)
      added += !known;
    else if (!known)
      emit_error("cannot mark mount %s: %s", mnt, strerror(errno));
  }
  free(text);
  if (!seen) {
    emit_error("marking mounts: out of memory");
    return -1;
  }
  qsort(seen, n, sizeof *seen, cmp_u64);
  free(seen_mounts);
  seen_mounts = seen;
  n_seen_mounts = n;
  return added;
}

/* ---------- main ---------- */

static void usage(void) {
  fprintf(stderr, "usage: cordon-exec-guard --policy FILE [--deadline-ms N] [--no-warm] | --check\n");
  exit(2);
}

/*
 * Whether guarding can work here, asked of the kernel itself (a kernel config file may be absent or
 * describe another kernel): a permission-class group, and an exec-permission mark on a memfd of its
 * own, which nothing else can execute, so the check never holds up any program.
 */
static int check_support(void) {
  int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
  if (fan < 0) {
    fprintf(stderr, "fanotify_init: %s (needs root and a kernel with CONFIG_FANOTIFY_ACCESS_PERMISSIONS)\n", strerror(errno));
    return 1;
  }
  int target = memfd_create("cordon-exec-guard-check", MFD_CLOEXEC);
  if (target < 0) {
    fprintf(stderr, "memfd_create: %s\n", strerror(errno));
    close(fan);
    return 1;
  }
  if (fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_EXEC_PERM, target, NULL) < 0) {
    fprintf(stderr, "fanotify_mark FAN_OPEN_EXEC_PERM: %s (needs Linux 5.0 or later with CONFIG_FANOTIFY_ACCESS_PERMISSIONS)\n", strerror(errno));
    close(target);
    close(fan);
    return 1;
  }
  close(target);
  close(fan);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  const char *policy_file = NULL;
  long deadline_ms = 2000;
  if (argc == 2 && strcmp(argv[1], "--check") == 0) return check_support();
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc) {
      policy_file = argv[++i];
    } else if (strcmp(argv[i], "--deadline-ms") == 0 && i + 1 < argc) {
      char *end;
      deadline_ms = strtol(argv[++i], &end, 10);
      if (*end || deadline_ms < 1 || deadline_ms > 60000) {
        fprintf(stderr, "cordon-exec-guard: --deadline-ms must be 1..60000\n");
        return 2;
      }
    } else if (strcmp(argv[i], "--no-warm") == 0) {
      warm.enabled = 0;
    } else {
      usage();
    }
  }
  if (!policy_file) usage();

  char err[PATH_MAX + 256];
  if (policy_load(policy_file, &policy, err, sizeof err) < 0) {
    fprintf(stderr, "cordon-exec-guard: %s\n", err);
    return 1;
  }

  /*
   * A file description of our own on a stdout pipe, so O_NONBLOCK does not leak to whoever shares fd 1.
   * A socket (Node's stdio pipes are socketpairs) cannot be reopened: there fd 1 itself is switched,
   * whose description only this side of the pair holds.
   */
  out_fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (out_fd < 0) {
    out_fd = 1;
    int fl = fcntl(1, F_GETFL);
    if (fl < 0 || fcntl(1, F_SETFL, fl | O_NONBLOCK) < 0) {
      fprintf(stderr, "cordon-exec-guard: stdout: %s\n", strerror(errno));
      return 1;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigprocmask(SIG_BLOCK, &sigs, NULL);
  int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);

  md5_ctx = EVP_MD_CTX_new();
  sha_ctx = EVP_MD_CTX_new();
  warm.md5 = EVP_MD_CTX_new();
  warm.sha = EVP_MD_CTX_new();
  if (sfd < 0 || !md5_ctx || !sha_ctx || !warm.md5 || !warm.sha) {
    fprintf(stderr, "cordon-exec-guard: setup failed: %s\n", strerror(errno));
    return 1;
  }

  /*
   * FAN_UNLIMITED_QUEUE: with the default limit (16384 events) the kernel drops what does not fit and
   * lets a dropped permission event through, so flooding execs would open a gap. Every pending
   * permission event holds a blocked task, so the queue cannot outgrow the machine's task count.
   */
  int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (fan < 0) {
    fprintf(stderr, "cordon-exec-guard: fanotify_init: %s (needs root and CONFIG_FANOTIFY_ACCESS_PERMISSIONS)\n", strerror(errno));
    return 1;
  }
  int mountinfo = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (mountinfo < 0) {
    fprintf(stderr, "cordon-exec-guard: /proc/self/mountinfo: %s\n", strerror(errno));
    return 1;
  }
  int marked = mark_mounts(fan, mountinfo);
  if (marked <= 0) {
    fprintf(stderr, "cordon-exec-guard: no mount could be marked\n");
    return 1;
  }
  line.len = 0;
  l_fmt(&line, "{\"event\":\"ready\",\"mounts\":%d,\"entries\":%zu,\"allowed\":%zu,\"managers\":%zu", marked, policy.n_entries, policy.n_allowed, policy.n_managers);
  emit(&line);
  warm_start();

  static char events[EVENT_BUF] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
  for (;;) {
    /* A held-back count of allowed starts is due a second after its window began (written here when it is). */
    int due = allowed_due_ms();
    struct pollfd pfd[5] = {
        {.fd = fan, .events = POLLIN},
        {.fd = sfd, .events = POLLIN},
        {.fd = 0, .events = POLLIN},
        {.fd = mountinfo, .events = POLLPRI},
        {.fd = out_len > 0 ? out_fd : -1, .events = POLLOUT},
    };
    /* While the warm-up has work, poll only looks: events first, then one slice of it. */
    if (poll(pfd, 5, warm.active ? 0 : due) < 0) {
      if (errno == EINTR) continue;
      emit_error("poll: %s", strerror(errno));
      break;
    }

    if (pfd[0].revents & POLLIN) {
      ssize_t n = read(fan, events, sizeof events);
      int64_t deadline = now_ns() + deadline_ms * 1000000;
      if (n < 0 && errno != EAGAIN && errno != EINTR) emit_error("reading events: %s", strerror(errno));
      const struct fanotify_event_metadata *m = (const void *)events;
      for (; n > 0 && FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
        if (m->vers != FANOTIFY_METADATA_VERSION) {
          emit_error("fanotify metadata version %d, expected %d", m->vers, FANOTIFY_METADATA_VERSION);
          return 1; /* closing the fd lets everything through */
        }
        if (m->mask & FAN_Q_OVERFLOW) emit_error("fanotify queue overflow: events were lost");
        if (m->fd == FAN_NOFD) continue;
        if (m->fd < 0) {
          emit_error("an event without a file (fd %d)", m->fd);
          continue;
        }
        if (m->mask & FAN_OPEN_EXEC_PERM) handle_exec(fan, m, deadline);
        close(m->fd);
      }
    }

    if (pfd[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          struct policy next;
          if (policy_load(policy_file, &next, err, sizeof err) < 0) {
            emit_error("%s (the previous policy stays)", err);
          } else {
            /* The cache stays: digests do not depend on the policy, and each decision is made anew. */
            policy_free(&policy);
            policy = next;
            line.len = 0;
            l_fmt(&line, "{\"event\":\"reloaded\",\"entries\":%zu,\"allowed\":%zu,\"managers\":%zu", policy.n_entries, policy.n_allowed, policy.n_managers);
            emit(&line);
            warm_start();
          }
        } else {
          out_flush();
          return 0;
        }
      }
    }

    if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
      char buf[512];
      ssize_t n = pfd[2].revents & POLLNVAL ? 0 : read(0, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        out_flush();
        return 0; /* the agent is gone */
      }
    }

    if (pfd[3].revents & (POLLPRI | POLLERR)) {
      int m = mark_mounts(fan, mountinfo);
      if (m > 0) {
        line.len = 0;
        l_fmt(&line, "{\"event\":\"mounts\",\"marked\":%d", m);
        emit(&line);
      }
    }

    if (pfd[4].revents) out_flush();

    if (warm.active) warm_step();
  }
  return 1;
}

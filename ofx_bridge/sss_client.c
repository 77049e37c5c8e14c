/*
 * The link to `sss-vfx serve` (see sss_client.h). The runtime folder and socket are
 * found exactly as sss_vfx/ofx/runtime.py finds them:
 *   $SSS_VFX_RUNTIME_DIR, else $XDG_RUNTIME_DIR/sss-vfx, else /tmp/sss-vfx-<uid>;
 * the folder must be ours with mode 0700 and the socket ours too, or we refuse it.
 * Only the socket, the lock and the log live there ($XDG_RUNTIME_DIR is often a small
 * tmpfs): frames go to the spool folder on disk,
 *   $XDG_CACHE_HOME/sss-vfx/ofx-frames, else ~/.cache/sss-vfx/ofx-frames,
 * which the plugin names in every request.
 */
#define _GNU_SOURCE
#include "sss_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Set by `sss-vfx ofx install`: the interpreter of the installing environment, run as
 * `python -I -m sss_vfx.ofx serve`, or a program run as `PROGRAM serve` (--executable). */
#ifndef SSS_DEFAULT_PYTHON
#define SSS_DEFAULT_PYTHON "python3"
#endif
#ifndef SSS_DEFAULT_EXECUTABLE
#define SSS_DEFAULT_EXECUTABLE ""
#endif

#define SOCKET_NAME "server.sock"
#define LOG_NAME "serve.log"
#define POLL_MS 100
#define START_TIMEOUT_S 120

static int private_dir(const char *path, char *error, size_t error_size)
{
    struct stat st;
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(error, error_size, "cannot create the runtime folder %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(error, error_size, "the runtime folder %s is not a folder; remove it",
                 path);
        return -1;
    }
    if (st.st_uid != getuid()) {
        snprintf(error, error_size, "the runtime folder %s belongs to user %ld, not to "
                 "you; remove it or set SSS_VFX_RUNTIME_DIR", path, (long)st.st_uid);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(error, error_size, "the runtime folder %s has mode %03o, open to other "
                 "users; chmod 700 it", path, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

int sss_runtime_dir(char *out, size_t size, char *error, size_t error_size)
{
    const char *own = getenv("SSS_VFX_RUNTIME_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (own && *own)
        n = snprintf(out, size, "%s", own);
    else if (xdg && *xdg)
        n = snprintf(out, size, "%s/sss-vfx", xdg);
    else
        n = snprintf(out, size, "/tmp/sss-vfx-%ld", (long)getuid());
    if (n < 0 || (size_t)n >= size || n > 1024) {
        snprintf(error, error_size, "the runtime folder path is too long");
        return -1;
    }
    return private_dir(out, error, error_size);
}

/* mkdir -p of the folders above `path` (mode 0700 for the ones we create). */
static void make_parents(char *path)
{
    char *slash;
    for (slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
}

int sss_spool_dir(char *out, size_t size, char *error, size_t error_size)
{
    const char *cache = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char path[SSS_PATH_MAX];
    int n;
    if (cache && *cache == '/')
        n = snprintf(path, sizeof path, "%s/sss-vfx/ofx-frames", cache);
    else if (home && *home == '/')
        n = snprintf(path, sizeof path, "%s/.cache/sss-vfx/ofx-frames", home);
    else {
        snprintf(error, error_size, "neither XDG_CACHE_HOME nor HOME names a folder for "
                 "the frames this effect hands to its render server; set XDG_CACHE_HOME");
        return -1;
    }
    if (n < 0 || (size_t)n >= sizeof path || n > 1024) {
        snprintf(error, error_size, "the spool folder path is too long");
        return -1;
    }
    make_parents(path);
    if (private_dir(path, error, error_size) != 0)
        return -1;
    /* The server answers with resolved paths; compare like with like. */
    if (!realpath(path, out) || strlen(out) + 64 >= size) {
        snprintf(error, error_size, "cannot resolve the spool folder %s", path);
        return -1;
    }
    return 0;
}

int sss_same_folder(const char *path, const char *folder)
{
    char parent[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash || (size_t)(slash - path) >= sizeof parent)
        return 0;
    memcpy(parent, path, (size_t)(slash - path));
    parent[slash - path] = '\0';
    return realpath(parent, a) && realpath(folder, b) && strcmp(a, b) == 0;
}

int sss_connect(const char *dir, char *error, size_t error_size)
{
    struct sockaddr_un address;
    struct stat st;
    int fd;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if ((size_t)snprintf(address.sun_path, sizeof address.sun_path, "%s/%s", dir,
                         SOCKET_NAME) >= sizeof address.sun_path) {
        snprintf(error, error_size, "the socket path %s/%s is longer than a Unix socket "
                 "allows; set SSS_VFX_RUNTIME_DIR to a shorter folder", dir, SOCKET_NAME);
        return -1;
    }
    if (lstat(address.sun_path, &st) != 0) {
        snprintf(error, error_size, "no render server is running (%s)", address.sun_path);
        return -1;
    }
    if (!S_ISSOCK(st.st_mode) || st.st_uid != getuid()) {
        snprintf(error, error_size, "%s is not a socket of yours; refusing it (remove "
                 "it, then render again)", address.sun_path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(error, error_size, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        snprintf(error, error_size, "cannot reach the render server at %s: %s",
                 address.sun_path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void log_tail(const char *dir, char *out, size_t size)
{
    char path[SSS_PATH_MAX];
    char buffer[2048];
    FILE *f;
    size_t n;
    char *line, *end;
    out[0] = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, LOG_NAME);
    f = fopen(path, "rb");
    if (!f)
        return;
    if (fseek(f, 0, SEEK_END) == 0) {
        long length = ftell(f);
        fseek(f, length > (long)sizeof buffer - 1 ? length - (long)sizeof buffer + 1 : 0,
              SEEK_SET);
    }
    n = fread(buffer, 1, sizeof buffer - 1, f);
    fclose(f);
    buffer[n] = '\0';
    while (n > 0 && (buffer[n - 1] == '\n' || buffer[n - 1] == '\r'))
        buffer[--n] = '\0';
    end = buffer + n;
    line = end;
    while (line > buffer && line[-1] != '\n')
        line--;
    snprintf(out, size, "%.400s", line);
}

/* The host's environment without what would change which Python runs the server or
 * what it imports: hosts that bundle Python (Nuke, Natron's binaries) set PYTHONPATH
 * and PYTHONHOME to their own standard library. Built before fork (it allocates). */
static char **clean_environment(void)
{
    extern char **environ;
    size_t n = 0, k = 0;
    char **out;
    while (environ && environ[n])
        n++;
    out = calloc(n + 1, sizeof *out);
    if (!out)
        return NULL;
    for (n = 0; environ && environ[n]; n++) {
        if (strncmp(environ[n], "PYTHON", 6) == 0 ||
            strncmp(environ[n], "LD_PRELOAD=", 11) == 0)
            continue;
        out[k++] = environ[n];
    }
    return out;
}

/* `name` as a path execve can run: itself when it holds a slash, else found on PATH. */
static int find_program(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (strchr(name, '/'))
        return snprintf(out, size, "%s", name) < (int)size ? 0 : -1;
    while (path && *path) {
        const char *end = strchr(path, ':');
        size_t length = end ? (size_t)(end - path) : strlen(path);
        if (length > 0 && (size_t)snprintf(out, size, "%.*s/%s", (int)length, path, name) <
                              size && access(out, X_OK) == 0)
            return 0;
        path = end ? end + 1 : NULL;
    }
    return -1;
}

/* In the child, before exec: default signal dispositions, an empty signal mask, and
 * nothing of the host's open beyond stdin/stdout/stderr and the ready pipe (fd 3).
 * Only async-signal-safe calls. */
static void reset_process_state(void)
{
    struct sigaction action;
    sigset_t empty;
    int sig, fd;
    long most;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &action, NULL);
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 4U, ~0U, 0U) == 0)
        return;
#endif
    most = sysconf(_SC_OPEN_MAX);
    if (most < 0 || most > 65536)
        most = 65536;
    for (fd = 4; fd < most; fd++)
        close(fd);
}

/*
 * Start the render server detached from the host (double fork, new session, output to
 * serve.log) and wait until it says it is listening on fd 3, or closes fd 3 without
 * saying so (it failed: its log says why). The server runs as
 *   $SSS_VFX_EXECUTABLE serve --ready-fd 3        (a program or wrapper script), else
 *   <recorded program> serve --ready-fd 3         (`ofx install --executable`), else
 *   <recorded python> -I -m sss_vfx.ofx serve --ready-fd 3,
 * with the host's environment less PYTHON* and LD_PRELOAD, default signal handling and
 * none of the host's file descriptors.
 */
int sss_start_server(const char *dir, sss_abort_fn should_abort, void *context,
                     char *error, size_t error_size)
{
    const char *executable = getenv("SSS_VFX_EXECUTABLE");
    const char *argv_program[] = {NULL, "serve", "--ready-fd", "3", NULL};
    const char *argv_python[] = {NULL, "-I", "-m", "sss_vfx.ofx", "serve", "--ready-fd",
                                 "3", NULL};
    const char **argv;
    char program[SSS_PATH_MAX];
    char log_path[SSS_PATH_MAX];
    char tail[512];
    char **environment;
    int ready[2];
    pid_t child;
    int status;
    time_t deadline;
    if (!executable || !*executable)
        executable = SSS_DEFAULT_EXECUTABLE;
    if (*executable) {
        argv = argv_program;
    } else {
        executable = SSS_DEFAULT_PYTHON;
        argv = argv_python;
    }
    if (find_program(executable, program, sizeof program) != 0) {
        snprintf(error, error_size, "cannot find the program %s that runs the render "
                 "server; set SSS_VFX_EXECUTABLE or run `sss-vfx ofx install` again",
                 executable);
        return -1;
    }
    argv[0] = program;
    snprintf(log_path, sizeof log_path, "%s/%s", dir, LOG_NAME);
    environment = clean_environment();
    if (!environment) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    if (pipe2(ready, O_CLOEXEC) != 0) {
        snprintf(error, error_size, "cannot create a pipe: %s", strerror(errno));
        free(environment);
        return -1;
    }
    child = fork();
    if (child < 0) {
        snprintf(error, error_size, "cannot start %s: %s", program, strerror(errno));
        close(ready[0]);
        close(ready[1]);
        free(environment);
        return -1;
    }
    if (child == 0) {
        /* Only async-signal-safe calls from here to exec. */
        int null_fd, log_fd, ready_fd;
        setsid();
        if (fork() != 0)
            _exit(0);
        ready_fd = fcntl(ready[1], F_DUPFD, 10); /* out of the way of 0-3 */
        null_fd = open("/dev/null", O_RDONLY);
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (null_fd >= 0)
            dup2(null_fd, 0);
        if (log_fd >= 0) {
            dup2(log_fd, 1);
            dup2(log_fd, 2);
        }
        if (ready_fd < 0 || dup2(ready_fd, 3) < 0) /* dup2 clears close-on-exec */
            _exit(126);
        reset_process_state();
        execve(program, (char *const *)argv, environment);
        {
            static const char message[] = "sss-vfx: error: cannot run the program that "
                                          "serves the OpenFX plugin (SSS_VFX_EXECUTABLE "
                                          "or the one recorded at install)\n";
            ssize_t ignored = write(2, message, sizeof message - 1);
            (void)ignored;
        }
        _exit(127);
    }
    free(environment);
    close(ready[1]);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    deadline = time(NULL) + START_TIMEOUT_S;
    for (;;) {
        struct pollfd p = {ready[0], POLLIN, 0};
        int r = poll(&p, 1, POLL_MS);
        if (r > 0) {
            char word[16] = {0};
            ssize_t n = read(ready[0], word, sizeof word - 1);
            close(ready[0]);
            if (n > 0 && strncmp(word, "ready", 5) == 0)
                return 0;
            log_tail(dir, tail, sizeof tail);
            snprintf(error, error_size, "the render server (%s) did not start: %s "
                     "(log: %s)", program, tail[0] ? tail : "no message", log_path);
            return -1;
        }
        if (r < 0 && errno != EINTR)
            break;
        if (should_abort && should_abort(context)) {
            close(ready[0]);
            return -2;
        }
        if (time(NULL) > deadline)
            break;
    }
    close(ready[0]);
    snprintf(error, error_size, "the render server (%s) did not start within %d s "
             "(log: %s)", program, START_TIMEOUT_S, log_path);
    return -1;
}

static int write_all(int fd, const void *data, size_t length)
{
    const char *p = data;
    while (length > 0) {
        ssize_t n = send(fd, p, length, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        length -= (size_t)n;
    }
    return 0;
}

int sss_send(int fd, const char *message, size_t length)
{
    unsigned char header[4];
    if (length > SSS_MAX_MESSAGE)
        return -1;
    header[0] = (unsigned char)(length >> 24);
    header[1] = (unsigned char)(length >> 16);
    header[2] = (unsigned char)(length >> 8);
    header[3] = (unsigned char)length;
    if (write_all(fd, header, 4) != 0)
        return -1;
    return write_all(fd, message, length);
}

/* Read exactly `length` bytes, polling so that the host can abort a long wait. */
static int read_exact(int fd, void *data, size_t length, sss_abort_fn should_abort,
                      void *context)
{
    char *p = data;
    while (length > 0) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, POLL_MS);
        ssize_t n;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return SSS_RECV_ERROR;
        }
        if (r == 0) {
            if (should_abort && should_abort(context))
                return SSS_RECV_ABORTED;
            continue;
        }
        n = recv(fd, p, length, 0);
        if (n == 0)
            return SSS_RECV_CLOSED;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return SSS_RECV_ERROR;
        }
        p += n;
        length -= (size_t)n;
    }
    return SSS_RECV_MESSAGE;
}

int sss_receive(int fd, char **message, sss_abort_fn should_abort, void *context)
{
    unsigned char header[4];
    size_t length;
    int r;
    *message = NULL;
    r = read_exact(fd, header, 4, should_abort, context);
    if (r != SSS_RECV_MESSAGE)
        return r;
    length = ((size_t)header[0] << 24) | ((size_t)header[1] << 16) |
             ((size_t)header[2] << 8) | header[3];
    if (length > SSS_MAX_MESSAGE)
        return SSS_RECV_ERROR;
    *message = malloc(length + 1);
    if (!*message)
        return SSS_RECV_ERROR;
    r = read_exact(fd, *message, length, should_abort, context);
    if (r != SSS_RECV_MESSAGE) {
        free(*message);
        *message = NULL;
        return r == SSS_RECV_CLOSED ? SSS_RECV_ERROR : r;
    }
    (*message)[length] = '\0';
    return SSS_RECV_MESSAGE;
}

/* FNV-1a over 64-bit words, seeded with the size: a frame's identity in the cache. */
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

uint64_t sss_hash_begin(int width, int height)
{
    uint64_t h = FNV_OFFSET;
    h = (h ^ (uint64_t)(uint32_t)width) * FNV_PRIME;
    h = (h ^ (uint64_t)(uint32_t)height) * FNV_PRIME;
    return h;
}

uint64_t sss_hash_update(uint64_t h, const void *data, size_t bytes)
{
    const unsigned char *p = data;
    size_t i;
    for (i = 0; i + 8 <= bytes; i += 8) {
        uint64_t word;
        memcpy(&word, p + i, 8);
        h = (h ^ word) * FNV_PRIME;
    }
    for (; i < bytes; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

void sss_hash_hex(uint64_t h, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int sss_write_frame(const char *spool, const char *hash_hex, const float *pixels,
                    size_t bytes, char *error, size_t error_size)
{
    char folder[SSS_PATH_MAX - 64], temporary[SSS_PATH_MAX], final[SSS_PATH_MAX];
    const char *p = (const char *)pixels;
    int fd;
    snprintf(folder, sizeof folder, "%s/frames", spool);
    if (private_dir(folder, error, error_size) != 0)
        return -1;
    snprintf(final, sizeof final, "%s/%s.f32", folder, hash_hex);
    snprintf(temporary, sizeof temporary, "%s/.%s.XXXXXX", folder, hash_hex);
    fd = mkstemp(temporary);
    if (fd < 0) {
        snprintf(error, error_size, "cannot write a frame into %s: %s", folder,
                 strerror(errno));
        return -1;
    }
    while (bytes > 0) {
        ssize_t n = write(fd, p, bytes);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(error, error_size, "cannot write a frame into %s: %s", folder,
                     strerror(errno));
            close(fd);
            unlink(temporary);
            return -1;
        }
        p += n;
        bytes -= (size_t)n;
    }
    if (close(fd) != 0 || rename(temporary, final) != 0) {
        snprintf(error, error_size, "cannot write a frame into %s: %s", folder,
                 strerror(errno));
        unlink(temporary);
        return -1;
    }
    return 0;
}

/* ---- JSON: walk the top-level object of a reply ---- */

static const char *skip_space(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

static const char *skip_string(const char *p)
{
    if (*p != '"')
        return NULL;
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!p[1])
                return NULL;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

static const char *skip_value(const char *p)
{
    int depth = 0;
    p = skip_space(p);
    for (;;) {
        if (!*p)
            return NULL;
        if (*p == '"') {
            p = skip_string(p);
            if (!p || depth == 0)
                return p;
            continue;
        }
        if (*p == '[' || *p == '{') {
            depth++;
        } else if (*p == ']' || *p == '}') {
            if (depth == 0)
                return p;
            if (--depth == 0)
                return p + 1;
        } else if (depth == 0 && (*p == ',' || isspace((unsigned char)*p))) {
            return p;
        }
        p++;
    }
}

const char *sss_json_value(const char *json, const char *key)
{
    const char *p = skip_space(json);
    size_t key_length = strlen(key);
    if (*p != '{')
        return NULL;
    p = skip_space(p + 1);
    while (*p == '"') {
        const char *name = p + 1;
        const char *end = skip_string(p);
        const char *value;
        if (!end)
            return NULL;
        p = skip_space(end);
        if (*p != ':')
            return NULL;
        value = skip_space(p + 1);
        if ((size_t)(end - 1 - name) == key_length && strncmp(name, key, key_length) == 0)
            return value;
        p = skip_value(value);
        if (!p)
            return NULL;
        p = skip_space(p);
        if (*p != ',')
            return NULL;
        p = skip_space(p + 1);
    }
    return NULL;
}

int sss_json_string(const char *json, const char *key, char *out, size_t size)
{
    const char *p = sss_json_value(json, key);
    size_t n = 0;
    if (!p || *p != '"' || size == 0)
        return -1;
    for (p++; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            p++;
            switch (*p) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': { /* a code point of the Basic Multilingual Plane, as UTF-8 */
                char hex[5] = {0};
                unsigned long code;
                char *end;
                if (!p[1] || !p[2] || !p[3] || !p[4])
                    return -1;
                memcpy(hex, p + 1, 4);
                code = strtoul(hex, &end, 16);
                if (*end)
                    return -1;
                p += 4;
                if (code >= 0x80) {
                    unsigned char bytes[3];
                    int count = 0, k;
                    if (code < 0x800) {
                        bytes[0] = (unsigned char)(0xC0 | (code >> 6));
                        bytes[1] = (unsigned char)(0x80 | (code & 0x3F));
                        count = 2;
                    } else {
                        bytes[0] = (unsigned char)(0xE0 | (code >> 12));
                        bytes[1] = (unsigned char)(0x80 | ((code >> 6) & 0x3F));
                        bytes[2] = (unsigned char)(0x80 | (code & 0x3F));
                        count = 3;
                    }
                    for (k = 0; k < count; k++)
                        if (n + 1 < size)
                            out[n++] = (char)bytes[k];
                    continue;
                }
                c = (char)code;
                break;
            }
            case '\0': return -1;
            default: c = *p;
            }
        }
        if (n + 1 < size)
            out[n++] = c;
    }
    out[n] = '\0';
    return *p == '"' ? 0 : -1;
}

int sss_json_long(const char *json, const char *key, long *out)
{
    const char *p = sss_json_value(json, key);
    char *end;
    if (!p)
        return -1;
    errno = 0;
    *out = strtol(p, &end, 10);
    return (end == p || errno) ? -1 : 0;
}

int sss_json_double(const char *json, const char *key, double *out)
{
    const char *p = sss_json_value(json, key);
    char *end;
    if (!p)
        return -1;
    *out = strtod(p, &end);
    return end == p ? -1 : 0;
}

int sss_json_long_array(const char *json, const char *key, long *out, int capacity)
{
    const char *p = sss_json_value(json, key);
    int count = 0;
    if (!p || *p != '[')
        return -1;
    p = skip_space(p + 1);
    if (*p == ']')
        return 0;
    for (;;) {
        char *end;
        long value = strtol(p, &end, 10);
        if (end == p)
            return -1;
        if (count < capacity)
            out[count] = value;
        count++;
        p = skip_space(end);
        if (*p == ']')
            return count;
        if (*p != ',')
            return -1;
        p = skip_space(p + 1);
    }
}

int sss_json_quote(char *buffer, size_t size, const char *text)
{
    size_t n = 0;
    const unsigned char *t = (const unsigned char *)text;
#define PUT(c)                      \
    do {                            \
        if (n + 1 >= size)          \
            return -1;              \
        buffer[n++] = (char)(c);    \
    } while (0)
    PUT('"');
    for (; *t; t++) {
        if (*t == '"' || *t == '\\') {
            PUT('\\');
            PUT(*t);
        } else if (*t < 0x20) {
            char escape[8];
            int k;
            snprintf(escape, sizeof escape, "\\u%04x", *t);
            for (k = 0; escape[k]; k++)
                PUT(escape[k]);
        } else {
            PUT(*t);
        }
    }
    PUT('"');
    buffer[n] = '\0';
    return (int)n;
#undef PUT
}

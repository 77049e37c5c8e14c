/*
 * The plugin's side of the link to `sss-vfx serve`: where the per-user runtime folder
 * (the socket) and the spool folder (frames on disk) are, connecting to (and starting)
 * the server, length-prefixed JSON messages, the frame content hash and frame files.
 * No OFX here, no global state: every function may run on any render thread at once.
 */
#ifndef SSS_CLIENT_H
#define SSS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define SSS_REQUEST_SCHEMA "SssRequest.2"
#define SSS_REPLY_SCHEMA "SssReply.1"
/* Largest message either side sends or accepts (the server's limit is the same): a
 * request for the longest clip (100000 frames of 19 bytes of hash) fits. */
#define SSS_MAX_MESSAGE (4 << 20)
#define SSS_PATH_MAX 4096
#define SSS_ERROR_MAX 1024

/* Return codes of sss_receive */
#define SSS_RECV_MESSAGE 1
#define SSS_RECV_CLOSED 0
#define SSS_RECV_ERROR (-1)
#define SSS_RECV_ABORTED (-2)

/* Called while waiting; returns nonzero to abandon the wait. */
typedef int (*sss_abort_fn)(void *context);

int sss_runtime_dir(char *out, size_t size, char *error, size_t error_size);
int sss_spool_dir(char *out, size_t size, char *error, size_t error_size);
int sss_same_folder(const char *path, const char *folder);
int sss_connect(const char *dir, char *error, size_t error_size);
int sss_start_server(const char *dir, sss_abort_fn should_abort, void *context,
                     char *error, size_t error_size);
int sss_send(int fd, const char *message, size_t length);
int sss_receive(int fd, char **message, sss_abort_fn should_abort, void *context);

uint64_t sss_hash_begin(int width, int height);
uint64_t sss_hash_update(uint64_t state, const void *data, size_t bytes);
void sss_hash_hex(uint64_t state, char out[17]);
int sss_write_frame(const char *spool, const char *hash_hex, const float *pixels,
                    size_t bytes, char *error, size_t error_size);

/* Tiny reader for the server's flat JSON replies. */
const char *sss_json_value(const char *json, const char *key);
int sss_json_string(const char *json, const char *key, char *out, size_t size);
int sss_json_long(const char *json, const char *key, long *out);
int sss_json_double(const char *json, const char *key, double *out);
int sss_json_long_array(const char *json, const char *key, long *out, int capacity);

/* Appends `text` to `buffer` as a JSON string literal; returns bytes written or -1. */
int sss_json_quote(char *buffer, size_t size, const char *text);

#endif

/* Internal: the functions the Python side of the bridge (gvc1d_bridge.py) implements.
 *
 * build_ffi.py passes the declarations between the markers to cffi's ffi.embedding_api(); cffi
 * generates their C bodies, which take the GIL and call the @ffi.def_extern() functions. The public
 * API (src/gvc1d.c) calls them after its own pointer checks. A linker version script keeps them
 * out of the library's exported symbols.
 *
 * Return values: 1 = success, a negative gvc1d_status = failure (message written to err, at most
 * errsize bytes with the NUL). 0 is what cffi returns when no Python code could run: the caller
 * turns it into GVC1D_ERR_INTERNAL.
 */
#ifndef GVC1D_HOOKS_H
#define GVC1D_HOOKS_H
#include "gvc1d.h"

/* cffi-begin */
int _gvc1dpy_encoder_open(const gvc1d_encoder_params *p, int64_t *id, const uint8_t **header,
                          size_t *header_size, char *err, size_t errsize);
int _gvc1dpy_encoder_encode(int64_t id, const uint8_t *const *planes, const int *strides,
                            const uint8_t **packet, size_t *size, char *err, size_t errsize);
int _gvc1dpy_encoder_stats(int64_t id, const char **text, char *err, size_t errsize);
int _gvc1dpy_decoder_open(const uint8_t *header, size_t size, const char *weights,
                          const char *device, int out_pix_fmt, int64_t *id,
                          gvc1d_stream_info *info, char *err, size_t errsize);
int _gvc1dpy_decoder_decode(int64_t id, const uint8_t *data, size_t size, int unit, gvc1d_picture *out,
                            char *err, size_t errsize);
int _gvc1dpy_decoder_restart(int64_t id, uint32_t frame_index, char *err, size_t errsize);
int _gvc1dpy_release(int64_t id);
/* cffi-end */

/* Implemented in C (src/gvc1d.c), called from Python: 1 if libgvc1d started the interpreter. */
int _gvc1d_started_python(void);

#endif

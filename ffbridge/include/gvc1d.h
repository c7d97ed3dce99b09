/*
 * gvc1d.h: the C API of the gvc1d learned video codec (libgvc1d).
 *
 * libgvc1d is a shared library that embeds CPython (through cffi's embedding API) and drives
 * the public Python API of gvc1d_codec (Encoder / Decoder). Streams are byte-identical to the
 * ones gvc1d-pipe and the Python API produce for the same input and settings.
 *
 * Build:  make -C ffbridge            ->  ffbridge/build/libgvc1d.so, gvc1d.pc
 * Link:   cc app.c $(pkg-config --cflags --libs gvc1d)     (PKG_CONFIG_PATH=ffbridge/build)
 * Example: ffbridge/examples/example.c (encode and decode a few frames; built as build/example)
 *
 * ---- Conventions ------------------------------------------------------------------------------
 * - Functions returning int return GVC1D_OK (0) or a negative gvc1d_status.
 * - Opens return NULL on failure; gvc1d_open_error() / gvc1d_open_error_code() then describe the
 *   failure. They are thread-local: each thread sees its own most recent open. Calls made with a
 *   NULL handle also report there (there is no handle to hold the message).
 * - gvc1d_encoder_last_error() / gvc1d_decoder_last_error() describe the most recent call on that
 *   handle: the message of its failure, or "" if it succeeded. Never NULL. Valid until the next
 *   call on the handle.
 * - Buffers handed out by the library (header, packets, decoded planes) are owned by the handle;
 *   packets and pictures stay valid until the next call on that handle or its close, the header
 *   until close. Do not free them.
 * - Nothing in the library exits, aborts or prints: every Python exception is caught and turned
 *   into a status code and a one-line message. (Exception: set GVC1D_DEBUG=1 in the environment
 *   to get Python tracebacks of internal errors on stderr.)
 *
 * ---- Threads ----------------------------------------------------------------------------------
 * Independent handles may be used from different threads at the same time. Python runs under
 * its global interpreter lock, which cffi takes around each call into the library; torch
 * releases it inside its kernels, so independent handles do overlap in part. A single handle
 * must not be used from two threads at once (calls on one handle are serialised by a per-handle
 * mutex, so this cannot crash, but each call invalidates the buffers of the previous one).
 * The first call that needs Python starts the embedded interpreter (about a second: torch and
 * the model are imported); if the host process already runs Python, that interpreter is used.
 * torch's thread count follows OMP_NUM_THREADS (default: the cores the process may use, at most
 * 4, and one inter-op thread; gvc1d_codec/runtime.py).
 *
 * ---- Python environment -------------------------------------------------------------------
 * The embedded interpreter is the Python that built the library (its executable is recorded at
 * build time, so a venv's site-packages are found); gvc1d_codec is imported from that Python's
 * path, PYTHONPATH, or the source tree the library was built from. GVC1D_WEIGHTS names the
 * default weights, as for gvc1d-pipe.
 */
#ifndef GVC1D_H
#define GVC1D_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GVC1D_API_VERSION 6  /* 2: gvc1d_encoder_params.quality_value and .bitrate; 3 (format version 5):
                              * gvc1d_encoder_params.units, .sar_num, .sar_den, .chroma_location,
                              * the same in gvc1d_stream_info, gvc1d_decoder_decode_unit;
                              * 4: gvc1d_decoder_restart (random access); 5: gvc1d_encoder_params.preset;
                              * 6: two-pass rate control: gvc1d_encoder_params.pass and .stats_in,
                              * gvc1d_encoder_stats */

/* Longest message (bytes, including the terminating NUL) an error string can hold. */
#define GVC1D_ERROR_MAX 512

/* .gvc stream layout (docs/bitstream.md), for programs that split a stream into packets
 * themselves. The stream header: GVC1D_HEADER_PREFIX_SIZE bytes (magic "GVC1", u8 format version
 * at offset 4, little-endian u16 at offset 5: the number of header bytes that follow), then those
 * bytes. The encoder writes format version 5 (a compact header of varints, about 45 bytes);
 * decoders read versions 4 and 5.
 *
 * Version 5 packet: a head byte (bit 0: intra; bits 1-2 q: quality bytes, 0..2; bit 3 X: a varint
 * frame index follows; bits 4-7 n: the length L of quality bytes + data if below 15, 15: a varint
 * L follows), [frame index], [L], L bytes (q quality bytes, data), then a CRC over the frame index
 * as 4 little-endian bytes and every packet byte before it: 4 bytes (CRC-32) if X or L >= 4096,
 * else 2 (CRC-16/CCITT-FALSE) if L >= 32, else 1 (CRC-8). Varints are LEB128, at most 5 bytes.
 * A *unit* (what a container carries per frame, gvc1d_encoder_params.units, and
 * gvc1d_decoder_decode_unit) is the head with X = 0 and n = 0, then the q quality bytes and data.
 *
 * Version 4 packet (82-byte header): GVC1D_V4_PACKET_SYNC, type 'I'/'P', u32 frame index, u32
 * payload length (at offset 6), payload, u32 CRC-32: GVC1D_V4_PACKET_OVERHEAD bytes + payload. */
#define GVC1D_HEADER_PREFIX_SIZE 7
#define GVC1D_HEAD_INTRA 0x01         /* v5 head bit 0 */
#define GVC1D_HEAD_QUALITY_SHIFT 1    /* v5 head bits 1-2: quality bytes stated */
#define GVC1D_HEAD_INDEX 0x08         /* v5 head bit 3: a frame index follows */
#define GVC1D_HEAD_LENGTH_SHIFT 4     /* v5 head bits 4-7: the length, or GVC1D_LENGTH_FOLLOWS */
#define GVC1D_LENGTH_FOLLOWS 15
#define GVC1D_VARINT_MAX_BYTES 5
#define GVC1D_V4_PACKET_HEAD_SIZE 10
#define GVC1D_V4_PACKET_OVERHEAD 14
#define GVC1D_V4_PACKET_SYNC 0xA5

/* Limits and defaults, as in gvc1d_codec/limits.py and gvc1d_codec/config.py (a test keeps them in
 * step): width and height are 1..GVC1D_MAX_DIMENSION; an encoder or decoder refuses frames of more
 * than GVC1D_DEFAULT_MAX_PIXELS luma samples (8192 x 4320); an intra frame every
 * GVC1D_DEFAULT_INTRA_PERIOD frames unless gvc1d_encoder_params.intra_period says otherwise. */
#define GVC1D_MAX_DIMENSION 16384
#define GVC1D_DEFAULT_MAX_PIXELS (8192 * 4320)
#define GVC1D_DEFAULT_INTRA_PERIOD 32

/* The declarations between the cffi markers are also read by ffbridge/build_ffi.py: keep them
 * plain C (no preprocessor lines inside). */
/* cffi-begin */
typedef enum gvc1d_status {
    GVC1D_OK = 0,
    GVC1D_ERR_INVALID_ARG = -1, /* a NULL pointer, a value out of range, a call in the wrong state */
    GVC1D_ERR_UNSUPPORTED = -2, /* a valid stream this library cannot decode (other weights, version) */
    GVC1D_ERR_CORRUPT = -3,     /* a malformed header or packet: bad magic, field, sync, index or CRC */
    GVC1D_ERR_TRUNCATED = -4,   /* the data ends inside a header or a packet */
    GVC1D_ERR_WEIGHTS = -5,     /* the weights file is missing, damaged or not a gvc1d model */
    GVC1D_ERR_INTERNAL = -6,    /* a bug, or the embedded Python / gvc1d_codec could not start */
    GVC1D_ERR_NOMEM = -7        /* out of memory */
} gvc1d_status;

typedef enum gvc1d_pix_fmt {
    GVC1D_PIX_FMT_NONE = -1,    /* decoder output: the stream's own source format */
    GVC1D_PIX_FMT_YUV420P = 0,  /* 3 planes: Y WxH, U and V ((W+1)/2)x((H+1)/2); 8 bit */
    GVC1D_PIX_FMT_RGB24 = 1     /* 1 plane: packed R,G,B, 3*W bytes per row */
} gvc1d_pix_fmt;

typedef enum gvc1d_color_matrix {
    GVC1D_COLOR_MATRIX_BT709 = 0,
    GVC1D_COLOR_MATRIX_BT601 = 1
} gvc1d_color_matrix;

typedef enum gvc1d_color_range {
    GVC1D_COLOR_RANGE_LIMITED = 0, /* 16-235 (luma), 16-240 (chroma) */
    GVC1D_COLOR_RANGE_FULL = 1     /* 0-255 */
} gvc1d_color_range;

/* Where the 4:2:0 chroma samples sit (FFmpeg's AVChromaLocation order; carried in the stream
 * header, not used by the codec's conversions). */
typedef enum gvc1d_chroma_location {
    GVC1D_CHROMA_LOCATION_UNSPECIFIED = 0,
    GVC1D_CHROMA_LOCATION_LEFT = 1,       /* MPEG-2, Y4M C420mpeg2 */
    GVC1D_CHROMA_LOCATION_CENTER = 2,     /* JPEG, Y4M C420jpeg */
    GVC1D_CHROMA_LOCATION_TOPLEFT = 3,    /* Y4M C420paldv */
    GVC1D_CHROMA_LOCATION_TOP = 4,
    GVC1D_CHROMA_LOCATION_BOTTOMLEFT = 5,
    GVC1D_CHROMA_LOCATION_BOTTOM = 6
} gvc1d_chroma_location;

/* Encoder settings. Start from gvc1d_encoder_params_default() so that fields added in later
 * versions get their defaults. */
typedef struct gvc1d_encoder_params {
    int width;            /* 1..GVC1D_MAX_DIMENSION luma samples; width * height at most GVC1D_DEFAULT_MAX_PIXELS, else GVC1D_ERR_INVALID_ARG */
    int height;           /* 1..GVC1D_MAX_DIMENSION */
    uint32_t fps_num;     /* frame rate fps_num / fps_den, both > 0 (default 25/1) */
    uint32_t fps_den;
    int pix_fmt;          /* gvc1d_pix_fmt of the frames passed to encode: YUV420P or RGB24 */
    int quality;          /* 0..Q+3 (higher = better; Q depends on the model; above Q-2 the enhancement layer), -1 = the model's default */
    int intra_period;     /* N > 0 = an intra frame every N frames (default GVC1D_DEFAULT_INTRA_PERIOD), -1 = only the first */
    const char *weights;  /* weights file or registry name; NULL = $GVC1D_WEIGHTS or the shipped model */
    const char *device;   /* "cpu" (default when NULL), "cuda" or "auto" */
    int color_matrix;     /* gvc1d_color_matrix: how Y'CbCr relates to RGB (default BT709) */
    int color_range;      /* gvc1d_color_range (default LIMITED) */
    double quality_value; /* >= 0: a quality between levels, e.g. 1.5 (0..Q+3 in steps of 1/16), used instead of
                           * quality; < 0 (default -1): use quality */
    int64_t bitrate;      /* > 0: target bits per second; one-pass rate control chooses each frame's quality (the
                           * quality fields must stay at their defaults); 0 (default): off */
    int units;            /* 0 (default): gvc1d_encoder_encode returns raw .gvc packets; 1: container units (head,
                           * quality bytes where they change or at resync points, data: for Matroska, NUT, MP4) */
    uint32_t sar_num;     /* sample (pixel) aspect ratio sar_num:sar_den, stored in the stream header; */
    uint32_t sar_den;     /* 0:0 (default) = unknown */
    int chroma_location;  /* gvc1d_chroma_location, stored in the stream header (default UNSPECIFIED) */
    const char *preset;   /* how hard the encoder searches, as gvc1d-pipe --preset: "fast" (the skip decision
                           * before the one synthesis of each P frame, fewer motion refinement passes), "medium"
                           * (default when NULL) or "slow" (a decoder update fitted to each intra frame, sent
                           * in the stream); every decoder reads every preset's streams (API version 5) */
    int pass;             /* two-pass rate control, as gvc1d-pipe --pass (API version 6): 0 (default) = one pass;
                           * 1 = first pass: a one-pass encode (bitrate > 0) that also records what each frame
                           * costs (gvc1d_encoder_stats); 2 = second pass over the same input (bitrate > 0 and
                           * stats_in; the same size, intra period and weights as the first pass): the frames
                           * get an even quality that meets the bitrate. Else GVC1D_ERR_INVALID_ARG */
    const char *stats_in; /* pass 2: the first pass's whole stats text, NUL-terminated (every text
                           * gvc1d_encoder_stats gave, in order; FFmpeg's AVCodecContext.stats_in); NULL otherwise.
                           * Read during gvc1d_encoder_open only */
} gvc1d_encoder_params;

/* What a stream header says (gvc1d_decoder_info). */
typedef struct gvc1d_stream_info {
    int width;
    int height;
    uint32_t fps_num;
    uint32_t fps_den;
    int pix_fmt;          /* the source's format */
    int out_pix_fmt;      /* the format gvc1d_decoder_decode returns */
    int color_matrix;
    int color_range;
    int quality;          /* the header's quality code: 16 x the encoder's quality, 255 = rate control (variable) */
    int intra_period;
    size_t max_payload;   /* largest payload length a conforming packet of this stream has */
    uint32_t sar_num;     /* sample aspect ratio; 0:0 = unknown (and in version-4 streams) */
    uint32_t sar_den;
    int chroma_location;  /* gvc1d_chroma_location */
    int format_version;   /* the stream header's: 5, or 4 (whose containers carry whole packets) */
} gvc1d_stream_info;

/* A decoded picture. The planes belong to the decoder (valid until its next call). */
typedef struct gvc1d_picture {
    const uint8_t *planes[3]; /* YUV420P: Y, U, V; RGB24: planes[0] only (others NULL) */
    int strides[3];           /* bytes from one row to the next */
    int width;
    int height;
    int pix_fmt;
    uint32_t frame_index;     /* display index, from 0 */
    int frame_type;           /* 'I' or 'P' */
} gvc1d_picture;
/* cffi-end */

typedef struct gvc1d_encoder gvc1d_encoder;
typedef struct gvc1d_decoder gvc1d_decoder;

/* "gvc1d <version> (C API <GVC1D_API_VERSION>)". Does not start Python. */
const char *gvc1d_version(void);

/* A short description of a status code ("invalid argument", ...). Never NULL. */
const char *gvc1d_strerror(int status);

/* Thread-local: the message and status of this thread's most recent open, or of a later call
 * made with a NULL handle. "" and GVC1D_OK after an open that succeeded (or before any). */
const char *gvc1d_open_error(void);
int gvc1d_open_error_code(void);

/* ---- Encoder -------------------------------------------------------------------------------- */

/* Fill *p with the defaults: 0x0 (must be set), 25/1 fps, YUV420P, quality -1, intra period
 * GVC1D_DEFAULT_INTRA_PERIOD (32), default weights, cpu, BT.709 limited range, raw packets,
 * unknown sample aspect ratio and chroma location, preset medium, one pass (pass 0, no stats_in). */
void gvc1d_encoder_params_default(gvc1d_encoder_params *p);

/* Load the model and check the settings. NULL on failure (see gvc1d_open_error). */
gvc1d_encoder *gvc1d_encoder_open(const gvc1d_encoder_params *p);

/* The stream header (format version 5: its size varies, about 45 bytes): write it before the
 * first packet; in a container it is the codec private data. Valid until close. */
int gvc1d_encoder_header(gvc1d_encoder *enc, const uint8_t **data, size_t *size);

/* Encode one frame; *packet / *size receive one complete raw packet (head, index and length where
 * present, payload, CRC), or with params.units = 1 the frame's unit, valid until the next call on
 * enc. Packets and units are in order: each may leave out the quality bytes of the one before. planes[i] points at the first row of plane i, strides[i] is the
 * byte distance between rows (|stride| >= the row's bytes; negative strides are accepted).
 * YUV420P uses 3 planes, RGB24 uses planes[0] (others ignored). Low delay: one packet per call. */
int gvc1d_encoder_encode(gvc1d_encoder *enc, const uint8_t *const planes[3], const int strides[3],
                         const uint8_t **packet, size_t *size);

/* Drain delayed packets at end of stream. gvc1d has none: sets *packet = NULL, *size = 0 and
 * returns GVC1D_OK. Present so that wrappers can call it like any codec's flush. */
int gvc1d_encoder_flush(gvc1d_encoder *enc, const uint8_t **packet, size_t *size);

/* Two-pass rate control, first pass (params.pass = 1): *text receives the stats text of the frames
 * encoded since the previous call, NUL-terminated; the first call's text starts with the stats'
 * head lines (the stream's shape), later ones hold one line per new frame, "" when there is none.
 * Concatenated, every call's text is the whole stats file, which a second pass takes as
 * params.stats_in (call it after each encode, as FFmpeg's stats_out, or once at the end). Owned by
 * the encoder, valid until the next call on enc; the packet of the last gvc1d_encoder_encode stays
 * valid across this call. GVC1D_ERR_INVALID_ARG if enc is not a first pass (API version 6). */
int gvc1d_encoder_stats(gvc1d_encoder *enc, const char **text);

const char *gvc1d_encoder_last_error(const gvc1d_encoder *enc);

/* Free everything the encoder owns. NULL is a no-op. */
void gvc1d_encoder_close(gvc1d_encoder *enc);

/* ---- Decoder -------------------------------------------------------------------------------- */

/* Parse a stream header (exactly the header's bytes) and load the model it needs. weights: NULL
 * = $GVC1D_WEIGHTS or the shipped model; device: NULL = "cpu"; out_pix_fmt: GVC1D_PIX_FMT_NONE
 * (the stream's source format), YUV420P or RGB24. NULL on failure (see gvc1d_open_error). */
gvc1d_decoder *gvc1d_decoder_open(const uint8_t *header, size_t size, const char *weights,
                                  const char *device, int out_pix_fmt);

/* The stream's parameters. */
int gvc1d_decoder_info(const gvc1d_decoder *dec, gvc1d_stream_info *info);

/* Decode exactly one raw packet (as in the .gvc stream: version 5 or 4, as the header says) into
 * *out. Packets must come in order. A packet rejected before its payload is decoded (truncated,
 * bad head or sync, type, index, length or CRC: GVC1D_ERR_TRUNCATED / GVC1D_ERR_CORRUPT) leaves
 * the decoder unchanged, so the right packet can still follow. A failure while decoding a payload
 * that passed its CRC leaves the reconstruction loop broken: later calls fail with the same status. */
int gvc1d_decoder_decode(gvc1d_decoder *dec, const uint8_t *packet, size_t size, gvc1d_picture *out);

/* Decode exactly one unit (a container's sample of a version-5 stream: head, quality bytes, data)
 * of the next frame into *out; the decoder counts the frames (frame 0 must be intra). A unit that
 * repeats the quality of the unit before (q = 0) needs that unit decoded first. Errors as for
 * gvc1d_decoder_decode: a unit rejected before decoding (empty, X or length bits set, q = 3, a
 * P frame first, a quality that is not known, too long: GVC1D_ERR_CORRUPT) leaves the decoder
 * unchanged. For a version-4 stream, whose containers carry whole packets, this is
 * gvc1d_decoder_decode. */
int gvc1d_decoder_decode_unit(gvc1d_decoder *dec, const uint8_t *unit, size_t size, gvc1d_picture *out);

/* Random access (after a seek, or to start decoding at a later intra frame): the decoder starts
 * again at frame frame_index, whose packet or unit must come next and be an intra frame (anything
 * else is refused with GVC1D_ERR_CORRUPT and leaves the decoder waiting for it). An intra frame
 * resets all decoding state, so the frames from there are exactly those of a decode from frame 0.
 * Raw packets: the packet must state that index (version 5: every intra packet does); the quality
 * bytes carried over from packet to packet start afresh. Units carry no index: frame_index only
 * numbers the pictures (gvc1d_picture.frame_index), e.g. from the container's timestamp. Also
 * recovers a decoder whose reconstruction loop broke. Works at any time, also before the first
 * packet (a stream cut at an intra frame). */
int gvc1d_decoder_restart(gvc1d_decoder *dec, uint32_t frame_index);

const char *gvc1d_decoder_last_error(const gvc1d_decoder *dec);

/* Free everything the decoder owns. NULL is a no-op. */
void gvc1d_decoder_close(gvc1d_decoder *dec);

#ifdef __cplusplus
}
#endif

#endif /* GVC1D_H */

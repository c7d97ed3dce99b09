/*
 * api_test: exercises the C API of libgvc1d (compiled and run by tests/test_ffbridge.py).
 *
 *   api_test errors  WEIGHTS OTHER_WEIGHTS     bad arguments, corrupt and truncated data
 *   api_test strides WEIGHTS OUT_PREFIX W H N  yuv420p with padded / negative strides, and rgb24
 *                                              (padded stride), to OUT_PREFIX.{yuv,rgb}.gvc
 *   api_test threads WEIGHTS                   thread-local open errors; two encoders in two
 *                                              threads give the same stream as one alone
 *   api_test units WEIGHTS OUT_PREFIX W H N    an encoder with units = 1 (and a sample aspect ratio
 *                                              and chroma location) next to one with raw packets:
 *                                              decode_unit gives the pictures decode gives;
 *                                              unit errors; OUT_PREFIX.gvc (raw stream) and
 *                                              OUT_PREFIX.units (each unit after a u32 LE size)
 *   api_test restart WEIGHTS W H N             random access: gvc1d_decoder_restart at an intra frame
 *                                              (raw packets and units, intra period 4) gives the
 *                                              pictures of a full decode; a P frame after a restart
 *                                              is refused and the decoder keeps waiting for the intra
 *   api_test twopass WEIGHTS OUT_PREFIX W H N BITRATE
 *                                              two-pass rate control (intra period 4): a first pass
 *                                              whose gvc1d_encoder_stats texts, concatenated, are the
 *                                              stats a second pass takes as stats_in; the second
 *                                              pass's stream decodes; the errors of pass, stats_in
 *                                              and gvc1d_encoder_stats; OUT_PREFIX.stats (the text),
 *                                              OUT_PREFIX.p1.gvc and OUT_PREFIX.p2.gvc (the streams)
 *
 * Prints one line per check ("ok ..." / "FAIL ..."); exit status 1 if any check failed.
 * Frames follow tests/conftest.py's moving_gradient(), so Python can make the same ones.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gvc1d.h"

static int failures;

static void check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", cond ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!cond)
        failures++;
}

/* status and message of a failed call: the code is as expected, the message non-empty, one line,
 * and it names `word` (case-sensitive; NULL = any). */
static void expect(const char *name, int got, int want, const char *msg, const char *word)
{
    int msg_ok = msg && msg[0] && !strchr(msg, '\n') && (!word || strstr(msg, word));
    check(got == want && msg_ok, "%s: status %d (want %d) message \"%s\"%s%s", name, got, want, msg ? msg : "(null)",
          word ? " must name " : "", word ? word : "");
}

static void expect_open_fail(const char *name, const void *handle, int want, const char *word)
{
    check(handle == NULL, "%s: open returns NULL", name);
    expect(name, gvc1d_open_error_code(), want, gvc1d_open_error(), word);
}

/* ---- frames (tests/conftest.py moving_gradient) ---------------------------------------------- */

static int pymod(int a, int m) { return ((a % m) + m) % m; }

typedef struct frame {
    int w, h;
    uint8_t *y, *u, *v, *rgb; /* contiguous planes */
} frame;

static frame make_frame(int w, int h, int t)
{
    frame f = {w, h, NULL, NULL, NULL, NULL};
    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    f.y = malloc((size_t)w * h);
    f.u = malloc((size_t)cw * ch);
    f.v = malloc((size_t)cw * ch);
    f.rgb = malloc((size_t)w * h * 3);
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            f.y[r * w + c] = (uint8_t)(16 + pymod(c * 3 + r * 2 + t * 6, 220));
            uint8_t *px = f.rgb + ((size_t)r * w + c) * 3;
            px[0] = (uint8_t)pymod(c * 4 + t * 5, 256);
            px[1] = (uint8_t)pymod(r * 3 + t * 3, 256);
            px[2] = (uint8_t)pymod((c + r) * 2 + 64, 256);
        }
    for (int r = 0; r < ch; r++)
        for (int c = 0; c < cw; c++) {
            f.u[r * cw + c] = (uint8_t)(128 + pymod(c * 2 - t * 3, 60) - 30);
            f.v[r * cw + c] = (uint8_t)(128 + pymod(r * 2 + t * 2, 60) - 30);
        }
    return f;
}

static void free_frame(frame *f)
{
    free(f->y);
    free(f->u);
    free(f->v);
    free(f->rgb);
}

/* A copy of a plane with `stride` bytes per row (negative: rows stored bottom-up); returns the
 * pointer to row 0 and the allocation in *block. */
static const uint8_t *restride(const uint8_t *src, int row_bytes, int rows, int stride, uint8_t **block)
{
    int a = stride < 0 ? -stride : stride;
    *block = malloc((size_t)a * rows);
    memset(*block, 0xEE, (size_t)a * rows);
    uint8_t *row0 = stride < 0 ? *block + (size_t)a * (rows - 1) : *block;
    for (int r = 0; r < rows; r++)
        memcpy(row0 + (ptrdiff_t)r * stride, src + (size_t)r * row_bytes, row_bytes);
    return row0;
}

static gvc1d_encoder *open_encoder(const char *weights, int w, int h, int pix_fmt)
{
    gvc1d_encoder_params p;
    gvc1d_encoder_params_default(&p);
    p.width = w;
    p.height = h;
    p.pix_fmt = pix_fmt;
    p.weights = weights;
    gvc1d_encoder *enc = gvc1d_encoder_open(&p);
    if (!enc) {
        printf("FAIL cannot open an encoder: %s\n", gvc1d_open_error());
        exit(1);
    }
    return enc;
}

/* ---- a small in-memory stream ----------------------------------------------------------------- */

#define MAX_HEADER 256 /* a version-5 header of the test streams is about 45 bytes */
#define MAX_PACKETS 16

typedef struct stream {
    uint8_t header[MAX_HEADER];
    size_t header_size;
    uint8_t *packets[MAX_PACKETS];
    size_t sizes[MAX_PACKETS];
    int count;
} stream;

static void encode_stream(gvc1d_encoder *enc, int w, int h, int n, stream *s)
{
    const uint8_t *data;
    size_t size;
    gvc1d_encoder_header(enc, &data, &size);
    if (size > MAX_HEADER || n > MAX_PACKETS) {
        printf("FAIL header of %zu bytes or %d frames: too many for the test\n", size, n);
        exit(1);
    }
    memcpy(s->header, data, size);
    s->header_size = size;
    s->count = n;
    for (int t = 0; t < n; t++) {
        frame f = make_frame(w, h, t);
        const uint8_t *planes[3] = {f.y, f.u, f.v};
        const int strides[3] = {w, (w + 1) / 2, (w + 1) / 2};
        int rc = gvc1d_encoder_encode(enc, planes, strides, &data, &size);
        if (rc != GVC1D_OK) {
            printf("FAIL encode: %s\n", gvc1d_encoder_last_error(enc));
            exit(1);
        }
        s->packets[t] = malloc(size);
        memcpy(s->packets[t], data, size);
        s->sizes[t] = size;
        free_frame(&f);
    }
}

static void encode_frames(const char *weights, int w, int h, int n, stream *s)
{
    gvc1d_encoder *enc = open_encoder(weights, w, h, GVC1D_PIX_FMT_YUV420P);
    encode_stream(enc, w, h, n, s);
    gvc1d_encoder_close(enc);
}

static void free_stream(stream *s)
{
    for (int t = 0; t < s->count; t++)
        free(s->packets[t]);
}

/* ---- errors ----------------------------------------------------------------------------------- */

static int test_errors(const char *weights, const char *other_weights, const char *self)
{
    const int W = 45, H = 35;
    gvc1d_encoder_params p;

    check(strncmp(gvc1d_version(), "gvc1d ", 6) == 0, "version \"%s\"", gvc1d_version());
    check(strcmp(gvc1d_strerror(GVC1D_ERR_CORRUPT), "corrupt data") == 0 && gvc1d_strerror(12345) != NULL,
          "strerror");

    /* encoder parameters */
    expect_open_fail("open(NULL)", gvc1d_encoder_open(NULL), GVC1D_ERR_INVALID_ARG, "NULL");
#define BAD_PARAMS(name, field, value, status, word)       \
    do {                                                   \
        gvc1d_encoder_params_default(&p);                  \
        p.width = W;                                       \
        p.height = H;                                      \
        p.weights = weights;                               \
        p.field = value;                                   \
        expect_open_fail(name, gvc1d_encoder_open(&p), status, word); \
    } while (0)
    BAD_PARAMS("width 0", width, 0, GVC1D_ERR_INVALID_ARG, "width");
    BAD_PARAMS("width -3", width, -3, GVC1D_ERR_INVALID_ARG, "width");
    BAD_PARAMS("height 20000", height, 20000, GVC1D_ERR_INVALID_ARG, "height");
    BAD_PARAMS("pix_fmt 7", pix_fmt, 7, GVC1D_ERR_INVALID_ARG, "pixel format");
    BAD_PARAMS("pix_fmt NONE", pix_fmt, GVC1D_PIX_FMT_NONE, GVC1D_ERR_INVALID_ARG, "pixel format");
    BAD_PARAMS("quality 99", quality, 99, GVC1D_ERR_INVALID_ARG, "quality");
    BAD_PARAMS("quality -7", quality, -7, GVC1D_ERR_INVALID_ARG, "quality");
    BAD_PARAMS("quality_value 7.5", quality_value, 7.5, GVC1D_ERR_INVALID_ARG, "quality");
    BAD_PARAMS("bitrate -1", bitrate, -1, GVC1D_ERR_INVALID_ARG, "bitrate");
    gvc1d_encoder_params_default(&p);
    p.width = W;
    p.height = H;
    p.weights = weights;
    p.quality = 1;
    p.bitrate = 100000;
    expect_open_fail("bitrate with quality", gvc1d_encoder_open(&p), GVC1D_ERR_INVALID_ARG, "not both");
    p.quality = -1; /* a bitrate alone, or a quality between levels alone: both open */
    gvc1d_encoder *rc_enc = gvc1d_encoder_open(&p);
    check(rc_enc != NULL, "open with bitrate 100000: %s", gvc1d_open_error());
    gvc1d_encoder_close(rc_enc);
    p.bitrate = 0;
    p.quality_value = 1.5;
    rc_enc = gvc1d_encoder_open(&p);
    check(rc_enc != NULL, "open with quality_value 1.5: %s", gvc1d_open_error());
    gvc1d_encoder_close(rc_enc);
    BAD_PARAMS("intra period 0", intra_period, 0, GVC1D_ERR_INVALID_ARG, "intra period");
    BAD_PARAMS("fps_den 0", fps_den, 0, GVC1D_ERR_INVALID_ARG, "frame rate");
    BAD_PARAMS("color range 5", color_range, 5, GVC1D_ERR_INVALID_ARG, "range");
    BAD_PARAMS("color matrix 9", color_matrix, 9, GVC1D_ERR_INVALID_ARG, "matrix");
    BAD_PARAMS("missing weights", weights, "/nonexistent/w.safetensors", GVC1D_ERR_WEIGHTS, "not found");
    BAD_PARAMS("weights not safetensors", weights, self, GVC1D_ERR_WEIGHTS, NULL);
    BAD_PARAMS("device tpu", device, "tpu", GVC1D_ERR_INVALID_ARG, "device");
    BAD_PARAMS("units 2", units, 2, GVC1D_ERR_INVALID_ARG, "units");
    BAD_PARAMS("chroma location 7", chroma_location, 7, GVC1D_ERR_INVALID_ARG, "chroma location");
    BAD_PARAMS("sample aspect 4:0", sar_num, 4, GVC1D_ERR_INVALID_ARG, "aspect");

    /* encoder calls */
    gvc1d_encoder *enc = open_encoder(weights, W, H, GVC1D_PIX_FMT_YUV420P);
    check(gvc1d_open_error()[0] == '\0' && gvc1d_open_error_code() == GVC1D_OK, "a successful open clears the open error");
    const uint8_t *data = NULL;
    size_t size = 0;
    expect("header(NULL enc)", gvc1d_encoder_header(NULL, &data, &size), GVC1D_ERR_INVALID_ARG, gvc1d_open_error(), "NULL");
    expect("header(data NULL)", gvc1d_encoder_header(enc, NULL, &size), GVC1D_ERR_INVALID_ARG,
           gvc1d_encoder_last_error(enc), "NULL");
    int rc = gvc1d_encoder_header(enc, &data, &size);
    check(rc == GVC1D_OK && size > GVC1D_HEADER_PREFIX_SIZE && size < MAX_HEADER && memcmp(data, "GVC1", 4) == 0 &&
              data[4] == 5 && size == GVC1D_HEADER_PREFIX_SIZE + (size_t)(data[5] | data[6] << 8),
          "header: %zu bytes, GVC1 magic, format version 5, its header_length", size);
    check(gvc1d_encoder_last_error(enc)[0] == '\0', "last_error is empty after a success");

    frame f = make_frame(W, H, 0);
    const uint8_t *planes[3] = {f.y, f.u, f.v};
    int strides[3] = {W, (W + 1) / 2, (W + 1) / 2};
    const uint8_t *packet = (const uint8_t *)"x";
    expect("encode(NULL enc)", gvc1d_encoder_encode(NULL, planes, strides, &packet, &size), GVC1D_ERR_INVALID_ARG,
           gvc1d_open_error(), "NULL");
    expect("encode(planes NULL)", gvc1d_encoder_encode(enc, NULL, strides, &packet, &size), GVC1D_ERR_INVALID_ARG,
           gvc1d_encoder_last_error(enc), "NULL");
    check(packet == NULL && size == 0, "a failed encode clears *packet and *size");
    const uint8_t *no_u[3] = {f.y, NULL, f.v};
    expect("encode(planes[1] NULL)", gvc1d_encoder_encode(enc, no_u, strides, &packet, &size), GVC1D_ERR_INVALID_ARG,
           gvc1d_encoder_last_error(enc), "planes[1]");
    int short_stride[3] = {10, (W + 1) / 2, (W + 1) / 2};
    expect("encode(stride 10)", gvc1d_encoder_encode(enc, planes, short_stride, &packet, &size), GVC1D_ERR_INVALID_ARG,
           gvc1d_encoder_last_error(enc), "strides[0]");
    expect("encode(packet NULL)", gvc1d_encoder_encode(enc, planes, strides, NULL, &size), GVC1D_ERR_INVALID_ARG,
           gvc1d_encoder_last_error(enc), "NULL");
    rc = gvc1d_encoder_encode(enc, planes, strides, &packet, &size);
    check(rc == GVC1D_OK && packet && size > 4 && (packet[0] & GVC1D_HEAD_INTRA) && (packet[0] & GVC1D_HEAD_INDEX) &&
              packet[1] == 0,
          "encode after the errors: an I packet of %zu bytes, stating frame index 0 (%s)", size,
          gvc1d_encoder_last_error(enc));
    rc = gvc1d_encoder_flush(enc, &packet, &size);
    check(rc == GVC1D_OK && packet == NULL && size == 0, "flush: nothing delayed");
    expect("flush(NULL enc)", gvc1d_encoder_flush(NULL, &packet, &size), GVC1D_ERR_INVALID_ARG, gvc1d_open_error(), "NULL");
    check(gvc1d_encoder_last_error(NULL) != NULL && gvc1d_decoder_last_error(NULL) != NULL, "last_error(NULL) is not NULL");
    gvc1d_encoder_close(enc);
    gvc1d_encoder_close(NULL);
    free_frame(&f);

    /* decoder open */
    stream s;
    encode_frames(weights, W, H, 3, &s);
    uint8_t hdr[MAX_HEADER + 1];
    const size_t hs = s.header_size;
    memcpy(hdr, s.header, hs);
    gvc1d_decoder *dec;
    expect_open_fail("decoder open(NULL)", gvc1d_decoder_open(NULL, hs, weights, NULL, -1), GVC1D_ERR_INVALID_ARG, "NULL");
    expect_open_fail("decoder open(0 bytes)", gvc1d_decoder_open(hdr, 0, weights, NULL, -1), GVC1D_ERR_TRUNCATED, "empty");
    expect_open_fail("decoder open(all but 3 bytes)", gvc1d_decoder_open(hdr, hs - 3, weights, NULL, -1), GVC1D_ERR_TRUNCATED,
                     "truncated");
    hdr[0] = 'X';
    expect_open_fail("decoder open(bad magic)", gvc1d_decoder_open(hdr, hs, weights, NULL, -1), GVC1D_ERR_CORRUPT, "magic");
    hdr[0] = 'G';
    hdr[hs / 2] ^= 0x10;
    expect_open_fail("decoder open(flipped bit)", gvc1d_decoder_open(hdr, hs, weights, NULL, -1), GVC1D_ERR_CORRUPT, "CRC");
    hdr[hs / 2] ^= 0x10;
    const uint8_t version = hdr[4];  /* the stream's own format version, restored below */
    hdr[4] = 9;
    expect_open_fail("decoder open(version 9)", gvc1d_decoder_open(hdr, hs, weights, NULL, -1), GVC1D_ERR_UNSUPPORTED, "version");
    hdr[4] = version;
    hdr[hs] = 0;
    expect_open_fail("decoder open(one byte more)", gvc1d_decoder_open(hdr, hs + 1, weights, NULL, -1), GVC1D_ERR_INVALID_ARG, "exactly");
    expect_open_fail("decoder open(other weights)", gvc1d_decoder_open(hdr, hs, other_weights, NULL, -1),
                     GVC1D_ERR_UNSUPPORTED, "weights");
    expect_open_fail("decoder open(out_pix_fmt 5)", gvc1d_decoder_open(hdr, hs, weights, NULL, 5), GVC1D_ERR_INVALID_ARG,
                     "pixel format");
    expect_open_fail("decoder open(missing weights)", gvc1d_decoder_open(hdr, hs, "/nonexistent/w", NULL, -1),
                     GVC1D_ERR_WEIGHTS, "not found");
    dec = gvc1d_decoder_open(hdr, hs, weights, NULL, GVC1D_PIX_FMT_NONE);
    check(dec != NULL, "decoder open: %s", dec ? "ok" : gvc1d_open_error());
    if (!dec)
        return 1;
    gvc1d_stream_info info;
    rc = gvc1d_decoder_info(dec, &info);
    check(rc == GVC1D_OK && info.width == W && info.height == H && info.fps_num == 25 && info.fps_den == 1 &&
              info.pix_fmt == GVC1D_PIX_FMT_YUV420P && info.out_pix_fmt == GVC1D_PIX_FMT_YUV420P &&
              info.intra_period == GVC1D_DEFAULT_INTRA_PERIOD && info.max_payload == 4u * W * H + 65536,
          "decoder info: %dx%d %u/%u q%d intra period %d", info.width, info.height, info.fps_num, info.fps_den, info.quality, info.intra_period);
    expect("info(NULL info)", gvc1d_decoder_info(dec, NULL), GVC1D_ERR_INVALID_ARG, gvc1d_open_error(), "NULL");

    /* decode: bad packets leave the decoder unchanged */
    gvc1d_picture pic;
    uint8_t *pkt = malloc(s.sizes[0] + 1);
    size_t n0 = s.sizes[0];
    memcpy(pkt, s.packets[0], n0);
    expect("decode(NULL dec)", gvc1d_decoder_decode(NULL, pkt, n0, &pic), GVC1D_ERR_INVALID_ARG, gvc1d_open_error(), "NULL");
    expect("decode(packet NULL)", gvc1d_decoder_decode(dec, NULL, n0, &pic), GVC1D_ERR_INVALID_ARG,
           gvc1d_decoder_last_error(dec), "NULL");
    expect("decode(out NULL)", gvc1d_decoder_decode(dec, pkt, n0, NULL), GVC1D_ERR_INVALID_ARG,
           gvc1d_decoder_last_error(dec), "NULL");
    expect("decode(0 bytes)", gvc1d_decoder_decode(dec, pkt, 0, &pic), GVC1D_ERR_TRUNCATED, gvc1d_decoder_last_error(dec),
           "empty");
    expect("decode(5 bytes)", gvc1d_decoder_decode(dec, pkt, 5, &pic), GVC1D_ERR_TRUNCATED, gvc1d_decoder_last_error(dec),
           "truncated in frame 0");
    expect("decode(all but 1 byte)", gvc1d_decoder_decode(dec, pkt, n0 - 1, &pic), GVC1D_ERR_TRUNCATED,
           gvc1d_decoder_last_error(dec), "truncated in frame 0");
    pkt[n0 / 2] ^= 0x01;
    expect("decode(flipped payload bit)", gvc1d_decoder_decode(dec, pkt, n0, &pic), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(dec), "CRC");
    check(pic.planes[0] == NULL && pic.width == 0, "a failed decode zeroes *out");
    pkt[n0 / 2] ^= 0x01;
    pkt[0] |= 3 << GVC1D_HEAD_QUALITY_SHIFT;
    expect("decode(bad head: q = 3)", gvc1d_decoder_decode(dec, pkt, n0, &pic), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(dec), "head");
    pkt[0] = s.packets[0][0] & ~GVC1D_HEAD_INDEX;
    expect("decode(I frame without its index)", gvc1d_decoder_decode(dec, pkt, n0, &pic), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(dec), "lacks its frame index");
    /* head: intra, 1 quality byte, index, a varint length: 2**32-1 */
    const uint8_t huge[] = {GVC1D_LENGTH_FOLLOWS << GVC1D_HEAD_LENGTH_SHIFT | GVC1D_HEAD_INDEX |
                                1 << GVC1D_HEAD_QUALITY_SHIFT | GVC1D_HEAD_INTRA,
                            0, 0xff, 0xff, 0xff, 0xff, 0x0f, 16, 1, 2, 3};
    expect("decode(huge length)", gvc1d_decoder_decode(dec, huge, sizeof huge, &pic), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(dec), "exceeds");
    memcpy(pkt, s.packets[0], n0);
    pkt[n0] = 0;
    expect("decode(trailing byte)", gvc1d_decoder_decode(dec, pkt, n0 + 1, &pic), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(dec), "after the end");
    expect("decode(frame 1 first)", gvc1d_decoder_decode(dec, s.packets[1], s.sizes[1], &pic), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(dec), "not an I frame");
    rc = gvc1d_decoder_decode(dec, pkt, n0, &pic);
    check(rc == GVC1D_OK && pic.width == W && pic.height == H && pic.pix_fmt == GVC1D_PIX_FMT_YUV420P && pic.planes[0] &&
              pic.planes[1] && pic.planes[2] && pic.strides[0] >= W && pic.strides[1] >= (W + 1) / 2 &&
              pic.frame_index == 0 && pic.frame_type == 'I' && gvc1d_decoder_last_error(dec)[0] == '\0',
          "decode frame 0 after the errors (%s)", gvc1d_decoder_last_error(dec));
    expect("decode(frame 0 again)", gvc1d_decoder_decode(dec, pkt, n0, &pic), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(dec), "out of order");
    rc = gvc1d_decoder_decode(dec, s.packets[1], s.sizes[1], &pic);
    check(rc == GVC1D_OK && pic.frame_index == 1 && pic.frame_type == 'P', "decode frame 1 (%s)", gvc1d_decoder_last_error(dec));
    gvc1d_decoder_close(dec);
    gvc1d_decoder_close(NULL);

    /* rgb24 output: one plane */
    dec = gvc1d_decoder_open(hdr, hs, weights, NULL, GVC1D_PIX_FMT_RGB24);
    check(dec != NULL, "decoder open rgb24");
    if (dec) {
        rc = gvc1d_decoder_decode(dec, s.packets[0], s.sizes[0], &pic);
        check(rc == GVC1D_OK && pic.pix_fmt == GVC1D_PIX_FMT_RGB24 && pic.planes[0] && !pic.planes[1] &&
                  pic.strides[0] == 3 * W,
              "decode to rgb24: stride %d", pic.strides[0]);
        gvc1d_decoder_close(dec);
    }
    free(pkt);
    free_stream(&s);
    return failures ? 1 : 0;
}

/* ---- strides ---------------------------------------------------------------------------------- */

static int write_file(const char *path, const uint8_t *header, size_t hsize, const uint8_t *data, size_t size, int append)
{
    FILE *f = fopen(path, append ? "ab" : "wb");
    if (!f)
        return -1;
    if (header)
        fwrite(header, 1, hsize, f);
    if (data)
        fwrite(data, 1, size, f);
    return fclose(f);
}

static int test_strides(const char *weights, const char *prefix, int w, int h, int n)
{
    char path_yuv[1024], path_rgb[1024];
    snprintf(path_yuv, sizeof path_yuv, "%s.yuv.gvc", prefix);
    snprintf(path_rgb, sizeof path_rgb, "%s.rgb.gvc", prefix);
    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    for (int rgb = 0; rgb <= 1; rgb++) {
        const char *path = rgb ? path_rgb : path_yuv;
        gvc1d_encoder *enc = open_encoder(weights, w, h, rgb ? GVC1D_PIX_FMT_RGB24 : GVC1D_PIX_FMT_YUV420P);
        const uint8_t *data;
        size_t size;
        gvc1d_encoder_header(enc, &data, &size);
        write_file(path, data, size, NULL, 0, 0);
        for (int t = 0; t < n; t++) {
            frame f = make_frame(w, h, t);
            uint8_t *blocks[3] = {NULL, NULL, NULL};
            const uint8_t *planes[3] = {NULL, NULL, NULL};
            int strides[3] = {0, 0, 0};
            int mode = t % 3; /* 0: padded, 1: negative, 2: contiguous */
            if (rgb) {
                strides[0] = mode == 0 ? 3 * w + 17 : mode == 1 ? -3 * w : 3 * w;
                planes[0] = restride(f.rgb, 3 * w, h, strides[0], &blocks[0]);
            } else {
                const uint8_t *src[3] = {f.y, f.u, f.v};
                for (int i = 0; i < 3; i++) {
                    int rb = i ? cw : w, rows = i ? ch : h;
                    strides[i] = mode == 0 ? rb + 5 + 8 * i : mode == 1 ? -rb - i : rb;
                    planes[i] = restride(src[i], rb, rows, strides[i], &blocks[i]);
                }
            }
            int rc = gvc1d_encoder_encode(enc, planes, strides, &data, &size);
            check(rc == GVC1D_OK, "%s frame %d strides %d %d %d (%s)", rgb ? "rgb24" : "yuv420p", t, strides[0],
                  strides[1], strides[2], gvc1d_encoder_last_error(enc));
            if (rc == GVC1D_OK)
                write_file(path, NULL, 0, data, size, 1);
            for (int i = 0; i < 3; i++)
                free(blocks[i]);
            free_frame(&f);
        }
        gvc1d_encoder_close(enc);
    }
    return failures ? 1 : 0;
}

/* ---- units ------------------------------------------------------------------------------------ */

static int same_picture(const gvc1d_picture *a, const gvc1d_picture *b)
{
    if (a->width != b->width || a->height != b->height || a->pix_fmt != b->pix_fmt ||
        a->frame_index != b->frame_index || a->frame_type != b->frame_type)
        return 0;
    for (int i = 0; i < 3; i++) {
        int rb = i ? (a->width + 1) / 2 : a->width, rows = i ? (a->height + 1) / 2 : a->height;
        for (int r = 0; r < rows; r++)
            if (memcmp(a->planes[i] + (ptrdiff_t)r * a->strides[i], b->planes[i] + (ptrdiff_t)r * b->strides[i], rb))
                return 0;
    }
    return 1;
}

static int test_units(const char *weights, const char *prefix, int w, int h, int n)
{
    char path[1024];
    stream raw, units;
    gvc1d_encoder_params p;

    encode_frames(weights, w, h, n, &raw);
    gvc1d_encoder_params_default(&p);
    p.width = w;
    p.height = h;
    p.weights = weights;
    p.units = 1;
    p.sar_num = 16; /* the header is another then: compared below with the raw stream's fields */
    p.sar_den = 11;
    p.chroma_location = GVC1D_CHROMA_LOCATION_TOPLEFT;
    gvc1d_encoder *enc = gvc1d_encoder_open(&p);
    check(enc != NULL, "open an encoder with units = 1: %s", gvc1d_open_error());
    if (!enc)
        return 1;
    encode_stream(enc, w, h, n, &units);
    gvc1d_encoder_close(enc);

    int plain = 1;
    for (int t = 0; t < n; t++)
        plain &= units.sizes[t] >= 1 && (units.packets[t][0] & (GVC1D_HEAD_INDEX | 0xF0)) == 0 &&
                 (units.packets[t][0] & GVC1D_HEAD_INTRA) == (raw.packets[t][0] & GVC1D_HEAD_INTRA) &&
                 units.sizes[t] < raw.sizes[t];
    check(plain, "units: X = 0, n = 0, the frame type of the raw packet, shorter than it");

    snprintf(path, sizeof path, "%s.gvc", prefix);
    write_file(path, raw.header, raw.header_size, NULL, 0, 0);
    for (int t = 0; t < n; t++)
        write_file(path, NULL, 0, raw.packets[t], raw.sizes[t], 1);
    snprintf(path, sizeof path, "%s.units", prefix);
    write_file(path, NULL, 0, NULL, 0, 0);
    for (int t = 0; t < n; t++) {
        uint8_t len[4] = {(uint8_t)units.sizes[t], (uint8_t)(units.sizes[t] >> 8), (uint8_t)(units.sizes[t] >> 16),
                          (uint8_t)(units.sizes[t] >> 24)};
        write_file(path, len, 4, units.packets[t], units.sizes[t], 1);
    }

    gvc1d_decoder *dr = gvc1d_decoder_open(raw.header, raw.header_size, weights, NULL, GVC1D_PIX_FMT_NONE);
    gvc1d_decoder *du = gvc1d_decoder_open(units.header, units.header_size, weights, NULL, GVC1D_PIX_FMT_NONE);
    check(dr && du, "open two decoders: %s", gvc1d_open_error());
    if (!dr || !du)
        return 1;
    gvc1d_stream_info ir, iu;
    gvc1d_decoder_info(dr, &ir);
    gvc1d_decoder_info(du, &iu);
    check(ir.format_version == 5 && ir.sar_num == 0 && ir.sar_den == 0 &&
              ir.chroma_location == GVC1D_CHROMA_LOCATION_UNSPECIFIED && iu.format_version == 5 &&
              iu.sar_num == 16 && iu.sar_den == 11 && iu.chroma_location == GVC1D_CHROMA_LOCATION_TOPLEFT &&
              iu.width == ir.width && iu.intra_period == ir.intra_period && iu.quality == ir.quality,
          "stream info: version %d, sample aspect %u:%u and %u:%u, chroma location %d and %d", iu.format_version,
          ir.sar_num, ir.sar_den, iu.sar_num, iu.sar_den, ir.chroma_location, iu.chroma_location);
    gvc1d_picture a, b;
    uint8_t bad[4096];
    expect("decode_unit(NULL dec)", gvc1d_decoder_decode_unit(NULL, units.packets[0], units.sizes[0], &b),
           GVC1D_ERR_INVALID_ARG, gvc1d_open_error(), "NULL");
    expect("decode_unit(unit NULL)", gvc1d_decoder_decode_unit(du, NULL, 1, &b), GVC1D_ERR_INVALID_ARG,
           gvc1d_decoder_last_error(du), "NULL");
    expect("decode_unit(0 bytes)", gvc1d_decoder_decode_unit(du, units.packets[0], 0, &b), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(du), "empty");
    size_t n0 = units.sizes[0] < sizeof bad ? units.sizes[0] : sizeof bad;
    memcpy(bad, units.packets[0], n0);
    bad[0] |= GVC1D_HEAD_INDEX;
    expect("decode_unit(X set)", gvc1d_decoder_decode_unit(du, bad, n0, &b), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(du), "index or length bits");
    bad[0] = units.packets[0][0] | 3 << GVC1D_HEAD_QUALITY_SHIFT;
    expect("decode_unit(q = 3)", gvc1d_decoder_decode_unit(du, bad, n0, &b), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(du), "reserved quality length");
    expect("decode_unit(frame 1 first)", gvc1d_decoder_decode_unit(du, units.packets[1], units.sizes[1], &b),
           GVC1D_ERR_CORRUPT, gvc1d_decoder_last_error(du), "frame 0");
    check(b.planes[0] == NULL && b.width == 0, "a failed decode_unit zeroes *out");
    int same = 1, elided = 0;
    for (int t = 0; t < n; t++) {
        if (t == 1) { /* a bad unit between two good ones leaves the decoder unchanged */
            size_t n1 = units.sizes[1] < sizeof bad ? units.sizes[1] : sizeof bad;
            memcpy(bad, units.packets[1], n1);
            bad[0] |= 3 << GVC1D_HEAD_QUALITY_SHIFT;
            expect("decode_unit(bad head in frame 1)", gvc1d_decoder_decode_unit(du, bad, n1, &b),
                   GVC1D_ERR_CORRUPT, gvc1d_decoder_last_error(du), "frame 1");
        }
        elided += ((units.packets[t][0] >> GVC1D_HEAD_QUALITY_SHIFT) & 3) == 0;
        int ra = gvc1d_decoder_decode(dr, raw.packets[t], raw.sizes[t], &a);
        int rb = gvc1d_decoder_decode_unit(du, units.packets[t], units.sizes[t], &b);
        check(ra == GVC1D_OK && rb == GVC1D_OK, "frame %d: decode (%s) and decode_unit (%s)", t,
              gvc1d_decoder_last_error(dr), gvc1d_decoder_last_error(du));
        same &= ra == GVC1D_OK && rb == GVC1D_OK && same_picture(&a, &b) && b.frame_index == (uint32_t)t;
    }
    check(same, "decode_unit gives the pictures, frame indices and types of decode");
    check(n < 3 || elided > 0, "%d of %d units leave out their quality bytes", elided, n);
    gvc1d_decoder_close(dr);
    gvc1d_decoder_close(du);
    free_stream(&raw);
    free_stream(&units);
    return failures ? 1 : 0;
}

/* ---- restart ---------------------------------------------------------------------------------- */

static gvc1d_encoder *open_encoder_units(const char *weights, int w, int h, int units, int intra_period)
{
    gvc1d_encoder_params p;
    gvc1d_encoder_params_default(&p);
    p.width = w;
    p.height = h;
    p.weights = weights;
    p.units = units;
    p.intra_period = intra_period;
    gvc1d_encoder *enc = gvc1d_encoder_open(&p);
    if (!enc) {
        printf("FAIL cannot open an encoder: %s\n", gvc1d_open_error());
        exit(1);
    }
    return enc;
}

static int test_restart(const char *weights, int w, int h, int n)
{
    stream raw, units;
    gvc1d_picture full[MAX_PACKETS], pic;
    uint8_t *copies[MAX_PACKETS][3];
    gvc1d_encoder *enc = open_encoder_units(weights, w, h, 0, 4);
    encode_stream(enc, w, h, n, &raw);
    gvc1d_encoder_close(enc);
    enc = open_encoder_units(weights, w, h, 1, 4);
    encode_stream(enc, w, h, n, &units);
    gvc1d_encoder_close(enc);
    if (n < 7) {
        printf("FAIL restart needs at least 7 frames\n");
        return 1;
    }

    /* the full decode, kept (pictures are valid only until the next call) */
    gvc1d_decoder *dec = gvc1d_decoder_open(raw.header, raw.header_size, weights, NULL, GVC1D_PIX_FMT_NONE);
    check(dec != NULL, "open a decoder: %s", gvc1d_open_error());
    if (!dec)
        return 1;
    for (int t = 0; t < n; t++) {
        int rc = gvc1d_decoder_decode(dec, raw.packets[t], raw.sizes[t], &full[t]);
        check(rc == GVC1D_OK, "full decode, frame %d (%s)", t, gvc1d_decoder_last_error(dec));
        for (int i = 0; i < 3; i++) {
            int rows = i ? (h + 1) / 2 : h;
            size_t bytes = (size_t)rows * full[t].strides[i];
            copies[t][i] = malloc(bytes);
            memcpy(copies[t][i], full[t].planes[i], bytes);
            full[t].planes[i] = copies[t][i];
        }
    }
    check(full[4].frame_type == 'I' && full[5].frame_type == 'P', "intra period 4: frame 4 is I, frame 5 P");

    /* raw packets: restart in the middle of the stream (after frame 1), at frame 4 */
    int same = gvc1d_decoder_restart(dec, 4) == GVC1D_OK;
    expect("decode(P frame 5 after restart at 4)", gvc1d_decoder_decode(dec, raw.packets[5], raw.sizes[5], &pic),
           GVC1D_ERR_CORRUPT, gvc1d_decoder_last_error(dec), NULL);
    for (int t = 4; t < n; t++)
        same &= gvc1d_decoder_decode(dec, raw.packets[t], raw.sizes[t], &pic) == GVC1D_OK && same_picture(&pic, &full[t]);
    check(same, "raw packets: restart at the intra frame 4 gives the pictures of the full decode (%s)",
          gvc1d_decoder_last_error(dec));
    expect("restart(NULL)", gvc1d_decoder_restart(NULL, 0), GVC1D_ERR_INVALID_ARG, gvc1d_open_error(), "NULL");
    gvc1d_decoder_close(dec);

    /* units: a fresh decoder whose stream starts at frame 4 (a cut stream), then back to frame 0 */
    dec = gvc1d_decoder_open(units.header, units.header_size, weights, NULL, GVC1D_PIX_FMT_NONE);
    check(dec != NULL, "open a unit decoder: %s", gvc1d_open_error());
    if (!dec)
        return 1;
    same = gvc1d_decoder_restart(dec, 4) == GVC1D_OK;
    expect("decode_unit(P frame 5 after restart at 4)",
           gvc1d_decoder_decode_unit(dec, units.packets[5], units.sizes[5], &pic), GVC1D_ERR_CORRUPT,
           gvc1d_decoder_last_error(dec), "intra");
    for (int t = 4; t < n; t++)
        same &= gvc1d_decoder_decode_unit(dec, units.packets[t], units.sizes[t], &pic) == GVC1D_OK &&
                same_picture(&pic, &full[t]);
    same &= gvc1d_decoder_restart(dec, 0) == GVC1D_OK;
    for (int t = 0; t < 3; t++)
        same &= gvc1d_decoder_decode_unit(dec, units.packets[t], units.sizes[t], &pic) == GVC1D_OK &&
                same_picture(&pic, &full[t]);
    check(same, "units: a decoder restarted at frame 4, then at frame 0, gives the pictures of the full decode (%s)",
          gvc1d_decoder_last_error(dec));
    gvc1d_decoder_close(dec);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < 3; i++)
            free(copies[t][i]);
    free_stream(&raw);
    free_stream(&units);
    return failures ? 1 : 0;
}

/* ---- threads ---------------------------------------------------------------------------------- */

typedef struct job {
    const char *weights;
    int bad_width; /* 1: fail an open on the width; 0: on the weights */
    char message[GVC1D_ERROR_MAX];
    int code;
    stream s;
} job;

static void *open_fail_thread(void *arg)
{
    job *j = arg;
    gvc1d_encoder_params p;
    gvc1d_encoder_params_default(&p);
    p.width = j->bad_width ? 0 : 32;
    p.height = 32;
    p.weights = j->bad_width ? j->weights : "/nonexistent/thread.safetensors";
    for (int k = 0; k < 3; k++) { /* several times, interleaved with the other thread */
        if (gvc1d_encoder_open(&p) != NULL)
            return NULL;
    }
    snprintf(j->message, sizeof j->message, "%s", gvc1d_open_error());
    j->code = gvc1d_open_error_code();
    return NULL;
}

static void *encode_thread(void *arg)
{
    job *j = arg;
    encode_frames(j->weights, 40, 24, 3, &j->s);
    return NULL;
}

static int test_threads(const char *weights)
{
    gvc1d_encoder_params p;
    gvc1d_encoder_params_default(&p);
    p.width = 16;
    p.height = 16;
    p.pix_fmt = 42;
    gvc1d_encoder_open(&p); /* this thread's error: the pixel format */
    job a = {weights, 1, "", 0, {{0}, 0, {0}, {0}, 0}}, b = {weights, 0, "", 0, {{0}, 0, {0}, {0}, 0}};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, open_fail_thread, &a);
    pthread_create(&tb, NULL, open_fail_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    check(a.code == GVC1D_ERR_INVALID_ARG && strstr(a.message, "width"), "thread A sees its own open error: %s", a.message);
    check(b.code == GVC1D_ERR_WEIGHTS && strstr(b.message, "not found"), "thread B sees its own open error: %s", b.message);
    check(gvc1d_open_error_code() == GVC1D_ERR_INVALID_ARG && strstr(gvc1d_open_error(), "pixel format"),
          "the main thread keeps its own: %s", gvc1d_open_error());

    stream alone;
    encode_frames(weights, 40, 24, 3, &alone);
    job c = a, d = a;
    pthread_create(&ta, NULL, encode_thread, &c);
    pthread_create(&tb, NULL, encode_thread, &d);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    int same = 1;
    for (int t = 0; t < 3; t++)
        for (job *j = &c; j; j = j == &c ? &d : NULL)
            same &= j->s.sizes[t] == alone.sizes[t] && memcmp(j->s.packets[t], alone.packets[t], alone.sizes[t]) == 0;
    check(same, "two encoders in two threads produce the stream of one alone");
    free_stream(&alone);
    free_stream(&c.s);
    free_stream(&d.s);
    return failures ? 1 : 0;
}

/* ---- two passes ------------------------------------------------------------------------------- */

/* Open an encoder of the twopass test: bitrate, intra period 4, pass, stats_in. */
static gvc1d_encoder *open_pass(const char *weights, int w, int h, int64_t bitrate, int pass, const char *stats_in)
{
    gvc1d_encoder_params p;
    gvc1d_encoder_params_default(&p);
    p.width = w;
    p.height = h;
    p.weights = weights;
    p.intra_period = 4;
    p.bitrate = bitrate;
    p.pass = pass;
    p.stats_in = stats_in;
    return gvc1d_encoder_open(&p);
}

/* Append text to the growing buffer *buf. */
static void append(char **buf, size_t *len, const char *text)
{
    size_t n = strlen(text);
    *buf = realloc(*buf, *len + n + 1);
    memcpy(*buf + *len, text, n + 1);
    *len += n;
}

static int test_twopass(const char *weights, const char *prefix, int w, int h, int n, int64_t bitrate)
{
    char path[1024];
    const char *text = NULL;
    char *stats = NULL;
    size_t stats_len = 0;
    gvc1d_encoder_params p;

    gvc1d_encoder_params_default(&p);
    check(p.pass == 0 && p.stats_in == NULL, "params default: pass 0, stats_in NULL");

    /* pass 1: the stats as they grow */
    gvc1d_encoder *enc = open_pass(weights, w, h, bitrate, 1, NULL);
    check(enc != NULL, "open pass 1: %s", enc ? "ok" : gvc1d_open_error());
    if (!enc)
        return 1;
    expect("stats(NULL enc)", gvc1d_encoder_stats(NULL, &text), GVC1D_ERR_INVALID_ARG, gvc1d_open_error(), "NULL");
    expect("stats(text NULL)", gvc1d_encoder_stats(enc, NULL), GVC1D_ERR_INVALID_ARG, gvc1d_encoder_last_error(enc),
           "NULL");
    int rc = gvc1d_encoder_stats(enc, &text);
    check(rc == GVC1D_OK && text && strncmp(text, "gvc1d-pass-stats ", 17) == 0 && !strstr(text, "\"frame\"") &&
              gvc1d_encoder_last_error(enc)[0] == '\0',
          "stats before any frame: the head lines only (%s)", text ? text : gvc1d_encoder_last_error(enc));
    if (rc == GVC1D_OK)
        append(&stats, &stats_len, text);
    stream s1;
    encode_stream(enc, w, h, 2, &s1); /* frames 0 and 1, then the stats of both at once */
    rc = gvc1d_encoder_stats(enc, &text);
    check(rc == GVC1D_OK && strncmp(text, "{\"frame\": 0,", 12) == 0 && strstr(text, "\n{\"frame\": 1,") &&
              !strstr(text, "gvc1d-pass-stats"),
          "stats after frames 0 and 1: their lines, without the head (%.40s...)", rc == GVC1D_OK ? text : "");
    if (rc == GVC1D_OK)
        append(&stats, &stats_len, text);
    rc = gvc1d_encoder_stats(enc, &text);
    check(rc == GVC1D_OK && text && text[0] == '\0', "stats again: nothing new, \"\"");
    snprintf(path, sizeof path, "%s.p1.gvc", prefix);
    write_file(path, s1.header, s1.header_size, NULL, 0, 0);
    for (int t = 0; t < s1.count; t++)
        write_file(path, NULL, 0, s1.packets[t], s1.sizes[t], 1);
    free_stream(&s1);
    for (int t = 2; t < n; t++) { /* one frame at a time: one line each */
        frame f = make_frame(w, h, t);
        const uint8_t *planes[3] = {f.y, f.u, f.v};
        const int strides[3] = {w, (w + 1) / 2, (w + 1) / 2};
        const uint8_t *data;
        size_t size;
        rc = gvc1d_encoder_encode(enc, planes, strides, &data, &size);
        check(rc == GVC1D_OK, "pass 1 encode frame %d (%s)", t, gvc1d_encoder_last_error(enc));
        if (rc == GVC1D_OK)
            write_file(path, NULL, 0, data, size, 1);
        free_frame(&f);
        rc = gvc1d_encoder_stats(enc, &text);
        char want[32];
        snprintf(want, sizeof want, "{\"frame\": %d,", t);
        check(rc == GVC1D_OK && strncmp(text, want, strlen(want)) == 0 && strchr(text, '\n') == text + strlen(text) - 1,
              "stats after frame %d: its one line", t);
        if (rc == GVC1D_OK)
            append(&stats, &stats_len, text);
    }
    gvc1d_encoder_close(enc);
    snprintf(path, sizeof path, "%s.stats", prefix);
    write_file(path, (const uint8_t *)stats, stats_len, NULL, 0, 0);

    /* pass 2 with those stats */
    enc = open_pass(weights, w, h, bitrate, 2, stats);
    check(enc != NULL, "open pass 2: %s", enc ? "ok" : gvc1d_open_error());
    if (!enc)
        return 1;
    expect("stats(pass 2)", gvc1d_encoder_stats(enc, &text), GVC1D_ERR_INVALID_ARG, gvc1d_encoder_last_error(enc),
           "not a first pass");
    stream s2;
    encode_stream(enc, w, h, n, &s2);
    frame f = make_frame(w, h, n);
    const uint8_t *planes[3] = {f.y, f.u, f.v};
    const int strides[3] = {w, (w + 1) / 2, (w + 1) / 2};
    const uint8_t *data;
    size_t size;
    expect("pass 2: a frame more than pass 1 saw", gvc1d_encoder_encode(enc, planes, strides, &data, &size),
           GVC1D_ERR_INVALID_ARG, gvc1d_encoder_last_error(enc), "more frames than the first pass");
    free_frame(&f);
    gvc1d_encoder_close(enc);
    snprintf(path, sizeof path, "%s.p2.gvc", prefix);
    write_file(path, s2.header, s2.header_size, NULL, 0, 0);
    for (int t = 0; t < s2.count; t++)
        write_file(path, NULL, 0, s2.packets[t], s2.sizes[t], 1);
    gvc1d_decoder *dec = gvc1d_decoder_open(s2.header, s2.header_size, weights, NULL, GVC1D_PIX_FMT_NONE);
    check(dec != NULL, "decoder of the pass 2 stream: %s", dec ? "ok" : gvc1d_open_error());
    int decoded = 0;
    for (int t = 0; dec && t < s2.count; t++) {
        gvc1d_picture pic;
        if (gvc1d_decoder_decode(dec, s2.packets[t], s2.sizes[t], &pic) == GVC1D_OK && pic.frame_index == (uint32_t)t)
            decoded++;
    }
    check(decoded == n, "the pass 2 stream decodes: %d of %d frames", decoded, n);
    gvc1d_decoder_close(dec);
    free_stream(&s2);

    /* a one-pass encoder has no stats */
    enc = open_pass(weights, w, h, bitrate, 0, NULL);
    check(enc != NULL, "open one pass with a bitrate");
    if (enc)
        expect("stats(one pass)", gvc1d_encoder_stats(enc, &text), GVC1D_ERR_INVALID_ARG,
               gvc1d_encoder_last_error(enc), "not a first pass");
    gvc1d_encoder_close(enc);

    /* settings and stats refused at open */
    expect_open_fail("pass 3", open_pass(weights, w, h, bitrate, 3, NULL), GVC1D_ERR_INVALID_ARG, "pass 3");
    expect_open_fail("pass -1", open_pass(weights, w, h, bitrate, -1, NULL), GVC1D_ERR_INVALID_ARG, "pass -1");
    expect_open_fail("pass 1 without a bitrate", open_pass(weights, w, h, 0, 1, NULL), GVC1D_ERR_INVALID_ARG, "bitrate");
    expect_open_fail("pass 2 without a bitrate", open_pass(weights, w, h, 0, 2, stats), GVC1D_ERR_INVALID_ARG, "bitrate");
    expect_open_fail("pass 2 without stats_in", open_pass(weights, w, h, bitrate, 2, NULL), GVC1D_ERR_INVALID_ARG,
                     "stats_in");
    expect_open_fail("stats_in with pass 0", open_pass(weights, w, h, bitrate, 0, stats), GVC1D_ERR_INVALID_ARG,
                     "stats_in");
    expect_open_fail("pass 2 with no stats", open_pass(weights, w, h, bitrate, 2, ""), GVC1D_ERR_INVALID_ARG,
                     "not a gvc1d first-pass stats file");
    expect_open_fail("pass 2 with a stream as stats", open_pass(weights, w, h, bitrate, 2, "GVC1 not stats\n"),
                     GVC1D_ERR_INVALID_ARG, "not a gvc1d first-pass stats file");
    stats[stats_len - 1] = '\0'; /* the last line loses its newline */
    expect_open_fail("pass 2 with stats cut short", open_pass(weights, w, h, bitrate, 2, stats), GVC1D_ERR_INVALID_ARG,
                     "cut short");
    stats[stats_len - 1] = '\n';
    char *damaged = strstr(stats, "\"curve\": ["); /* its '[' becomes 'x': not JSON */
    if (damaged)
        damaged[9] = 'x';
    expect_open_fail("pass 2 with damaged stats", open_pass(weights, w, h, bitrate, 2, stats), GVC1D_ERR_INVALID_ARG,
                     "damaged");
    if (damaged)
        damaged[9] = '[';
    expect_open_fail("pass 2 at another size", open_pass(weights, w + 2, h, bitrate, 2, stats), GVC1D_ERR_INVALID_ARG,
                     "frame size");
    gvc1d_encoder_params_default(&p);
    p.width = w;
    p.height = h;
    p.weights = weights;
    p.bitrate = bitrate;
    p.pass = 2;
    p.stats_in = stats; /* intra period 32, not the first pass's 4 */
    expect_open_fail("pass 2 at another intra period", gvc1d_encoder_open(&p), GVC1D_ERR_INVALID_ARG, "intra period");
    free(stats);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "errors") == 0)
        return test_errors(argv[2], argv[3], argv[0]);
    if (argc >= 7 && strcmp(argv[1], "strides") == 0)
        return test_strides(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    if (argc >= 3 && strcmp(argv[1], "threads") == 0)
        return test_threads(argv[2]);
    if (argc >= 7 && strcmp(argv[1], "units") == 0)
        return test_units(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    if (argc >= 6 && strcmp(argv[1], "restart") == 0)
        return test_restart(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 8 && strcmp(argv[1], "twopass") == 0)
        return test_twopass(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), atoll(argv[7]));
    fprintf(stderr, "usage: api_test errors WEIGHTS OTHER | strides WEIGHTS PREFIX W H N | threads WEIGHTS | "
                    "units WEIGHTS PREFIX W H N | restart WEIGHTS W H N | twopass WEIGHTS PREFIX W H N BITRATE\n");
    return 2;
}

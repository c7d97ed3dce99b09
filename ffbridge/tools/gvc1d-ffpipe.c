/*
 * gvc1d-ffpipe: gvc1d-pipe's encode and decode, written against the C API only (gvc1d.h).
 *
 *   ffmpeg -i in.mp4 -f yuv4mpegpipe - | gvc1d-ffpipe encode [-q Q | -b RATE] [--intra-period N] [--preset P] [-w WEIGHTS] > out.gvc
 *   gvc1d-ffpipe decode [-w WEIGHTS] < out.gvc | ffmpeg -i - out.mp4
 *
 * Two-pass rate control, as gvc1d-pipe's --pass 1|2 --stats FILE (default gvc1d-2pass.log):
 *   ... | gvc1d-ffpipe encode -b 500k --pass 1 > /dev/null     (writes FILE: FILE.tmp as it goes, renamed at the end)
 *   ... | gvc1d-ffpipe encode -b 500k --pass 2 > out.gvc       (reads FILE into gvc1d_encoder_params.stats_in)
 *
 * Same defaults and the same bytes as gvc1d-pipe: quality = the model's default, intra period 32 (GVC1D_DEFAULT_INTRA_PERIOD),
 * weights = $GVC1D_WEIGHTS or the shipped model, device cpu. Input Y4M must be 8-bit 4:2:0 and
 * progressive; the output Y4M is what gvc1d-pipe writes. Errors are one line on stderr,
 * "gvc1d-ffpipe: error: ...", with exit status 1 (2 for bad arguments). stdout carries only data.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gvc1d.h"

#define PROG "gvc1d-ffpipe"
#define MAX_LINE 1024
#define CONVERT_HINT "add -pix_fmt yuv420p to the ffmpeg command"
#define DEFAULT_STATS "gvc1d-2pass.log"
#define MAX_STATS (64L << 20) /* a stats file holds ~100 bytes a frame: 64 MiB is beyond any clip */

/* Everything that must be released before exiting, also on errors. */
static gvc1d_encoder *g_enc;
static gvc1d_decoder *g_dec;
static uint8_t *g_buf;
static char *g_stats_in;      /* pass 2: the first pass's stats text */
static FILE *g_stats_out;     /* pass 1: the stats being written, to g_stats_tmp */
static char *g_stats_tmp;     /* its name (FILE.tmp), removed unless the pass completes */

static void cleanup(void)
{
    gvc1d_encoder_close(g_enc);
    gvc1d_decoder_close(g_dec);
    free(g_buf);
    free(g_stats_in);
    if (g_stats_out)
        fclose(g_stats_out);
    if (g_stats_tmp)
        remove(g_stats_tmp); /* a failed first pass leaves no stats behind */
    free(g_stats_tmp);
    g_enc = NULL;
    g_dec = NULL;
    g_buf = NULL;
    g_stats_in = NULL;
    g_stats_out = NULL;
    g_stats_tmp = NULL;
}

static void fail_status(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail_status(int status, const char *fmt, ...)
{
    char msg[GVC1D_ERROR_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* one line, whatever the message holds */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fflush(stdout);
    fprintf(stderr, PROG ": error: %s\n", msg);
    cleanup();
    exit(status);
}
#define fail(...) fail_status(1, __VA_ARGS__)
#define usage_error(...) fail_status(2, __VA_ARGS__)

static void write_out(const void *data, size_t size)
{
    if (size && fwrite(data, 1, size, stdout) != size)
        fail("cannot write the output: %s", strerror(errno));
}

static void flush_out(void)
{
    if (fflush(stdout) != 0)
        fail("cannot write the output: %s", strerror(errno));
}

/* Read up to n bytes; fewer only at end of input. */
static size_t read_in(void *buf, size_t n)
{
    size_t got = fread(buf, 1, n, stdin);
    if (got < n && ferror(stdin))
        fail("cannot read the input: %s", strerror(errno));
    return got;
}

/* ---- arguments ------------------------------------------------------------------------------- */

typedef struct options {
    double quality;   /* < 0: the model's default */
    int64_t bitrate;  /* bits per second, 0 = off */
    int intra_period;
    const char *weights;
    const char *device;
    const char *preset; /* NULL: the library's default (medium) */
    int pass;           /* 0: one pass; 1 or 2: two-pass rate control */
    const char *stats;  /* the two-pass stats file */
} options;

/* If argv[*i] is option short_name / long_name (also --long=VALUE, -qVALUE), return its value. */
static const char *option_value(int argc, char **argv, int *i, const char *short_name, const char *long_name)
{
    const char *arg = argv[*i];
    size_t long_len = strlen(long_name);
    const char *inline_value = NULL;
    if (strcmp(arg, long_name) == 0 || (short_name && strcmp(arg, short_name) == 0)) {
        if (*i + 1 >= argc)
            usage_error("argument %s: expected one argument", arg);
        return argv[++*i];
    }
    if (strncmp(arg, long_name, long_len) == 0 && arg[long_len] == '=')
        inline_value = arg + long_len + 1;
    else if (short_name && strncmp(arg, short_name, 2) == 0 && arg[2] != '\0' && arg[1] != '-')
        inline_value = arg + 2;
    return inline_value;
}

static int parse_int(const char *text, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < INT_MIN || v > INT_MAX)
        usage_error("argument %s: invalid int value: '%s'", what, text);
    return (int)v;
}

static double parse_quality(const char *text)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !(v >= 0 && v <= 255))
        usage_error("argument -q/--quality: invalid quality value: '%s'", text);
    return v;
}

/* "500k", "1.5M", "800000": bits per second (k = 1000, M = 10^6, as FFmpeg's -b). */
static int64_t parse_bitrate(const char *text)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end != text && (*end == 'k' || *end == 'K'))
        v *= 1e3, end++;
    else if (end != text && (*end == 'm' || *end == 'M'))
        v *= 1e6, end++;
    if (errno || end == text || *end != '\0' || !(v >= 1 && v < 9.2e18))
        usage_error("argument -b/--bitrate: invalid bitrate value: '%s' (bits per second, e.g. 500k or 1.5M)", text);
    return (int64_t)v;
}

static void parse_options(int argc, char **argv, int encode, options *o)
{
    o->quality = -1;
    o->bitrate = 0;
    o->intra_period = GVC1D_DEFAULT_INTRA_PERIOD;
    o->weights = NULL;
    o->device = NULL;
    o->preset = NULL;
    o->pass = 0;
    o->stats = DEFAULT_STATS;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (encode && (v = option_value(argc, argv, &i, "-q", "--quality")))
            o->quality = parse_quality(v);
        else if (encode && (v = option_value(argc, argv, &i, "-b", "--bitrate")))
            o->bitrate = parse_bitrate(v);
        else if (encode && (v = option_value(argc, argv, &i, NULL, "--intra-period")))
            o->intra_period = parse_int(v, "--intra-period");
        else if (encode && (v = option_value(argc, argv, &i, NULL, "--preset")))
            o->preset = v; /* checked by the library, as gvc1d-pipe's names */
        else if (encode && (v = option_value(argc, argv, &i, NULL, "--pass"))) {
            if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0)
                usage_error("argument --pass: invalid choice: %s (choose from 1, 2)", v);
            o->pass = v[0] - '0';
        } else if (encode && (v = option_value(argc, argv, &i, NULL, "--stats")))
            o->stats = v;
        else if ((v = option_value(argc, argv, &i, "-w", "--weights")))
            o->weights = v;
        else if ((v = option_value(argc, argv, &i, NULL, "--device")))
            o->device = v;
        else
            usage_error("unrecognized arguments: %s", argv[i]);
    }
    if (o->bitrate && o->quality >= 0)
        usage_error("argument -b/--bitrate: not allowed with argument -q/--quality");
    if (o->pass && !o->bitrate)
        usage_error("--pass needs a target rate: give -b");
}

/* ---- Y4M input ------------------------------------------------------------------------------- */

/* One '\n'-terminated line without the newline. Returns its length, or -1 if the input ends
 * before any byte. */
static int read_line(char *line, const char *what)
{
    int n = 0;
    for (;;) {
        int c = getc(stdin);
        if (c == EOF) {
            if (ferror(stdin))
                fail("cannot read the input: %s", strerror(errno));
            if (n == 0)
                return -1;
            fail("truncated %s: stream ends before the end of the line", what);
        }
        if (c == '\n')
            break;
        if (n >= MAX_LINE)
            fail("%s is longer than %d bytes; not a valid Y4M stream", what, MAX_LINE);
        line[n++] = (char)c;
    }
    line[n] = '\0';
    return n;
}

static long parse_y4m_int(const char *value, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0')
        fail("bad Y4M %s '%s' (expected an integer)", what, value);
    return v;
}

static void parse_ratio(const char *value, const char *what, long *num, long *den)
{
    char *end;
    const char *colon = strchr(value, ':');
    errno = 0;
    if (!colon)
        fail("bad Y4M %s '%s' (expected N:D)", what, value);
    *num = strtol(value, &end, 10);
    if (errno || end != colon || end == value)
        fail("bad Y4M %s '%s' (expected N:D)", what, value);
    *den = strtol(colon + 1, &end, 10);
    if (errno || *end != '\0' || end == colon + 1)
        fail("bad Y4M %s '%s' (expected N:D)", what, value);
}

static void check_colourspace(const char *value)
{
    static const char *const ok[] = {"420jpeg", "420paldv", "420mpeg2", "420"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(value, ok[i]) == 0)
            return;
    if (strncmp(value, "420", 3) == 0)
        fail("unsupported Y4M high bit depth 4:2:0 (C%s); the encoder takes 8-bit 4:2:0: " CONVERT_HINT, value);
    if (strncmp(value, "mono", 4) == 0)
        fail("unsupported Y4M greyscale (C%s); the encoder takes 8-bit 4:2:0: " CONVERT_HINT, value);
    fail("unsupported Y4M chroma format C%s; the encoder takes 8-bit 4:2:0: " CONVERT_HINT, value);
}

static void check_interlace(const char *value)
{
    if (strcmp(value, "p") == 0 || strcmp(value, "?") == 0)
        return;
    const char *kind = strcmp(value, "t") == 0   ? "interlaced top field first"
                       : strcmp(value, "b") == 0 ? "interlaced bottom field first"
                       : strcmp(value, "m") == 0 ? "mixed interlacing"
                                                 : NULL;
    if (kind)
        fail("unsupported Y4M %s (I%s); the encoder takes progressive video: "
             "add -vf yadif -pix_fmt yuv420p to the ffmpeg command", kind, value);
    fail("unsupported Y4M interlace mode I%s (I%s); the encoder takes progressive video: "
         "add -vf yadif -pix_fmt yuv420p to the ffmpeg command", value, value);
}

typedef struct y4m_info {
    long width, height;
    long fps_num, fps_den;
    long sar_num, sar_den; /* A tag; 0:0 = unknown */
    int full_range;
    int chroma_location;   /* from the C tag, as gvc1d-pipe (and FFmpeg) read it */
} y4m_info;

/* Y4M chroma tags and chroma locations, both ways (as gvc1d_codec/io/y4m.py) */
static int chroma_of_tag(const char *value)
{
    if (strcasecmp(value, "420mpeg2") == 0)
        return GVC1D_CHROMA_LOCATION_LEFT;
    if (strcasecmp(value, "420paldv") == 0)
        return GVC1D_CHROMA_LOCATION_TOPLEFT;
    return GVC1D_CHROMA_LOCATION_CENTER; /* 420jpeg, 420 */
}

static const char *tag_of_chroma(int chroma_location)
{
    return chroma_location == GVC1D_CHROMA_LOCATION_LEFT      ? "420mpeg2"
           : chroma_location == GVC1D_CHROMA_LOCATION_TOPLEFT ? "420paldv"
                                                              : "420jpeg";
}

static void read_y4m_header(y4m_info *y)
{
    static const char magic[] = "YUV4MPEG2";
    char head[sizeof magic - 1];
    char line[MAX_LINE + 1];
    size_t got = read_in(head, sizeof head);
    if (got == 0)
        fail("empty input: no video to encode");
    if (got < sizeof head || memcmp(head, magic, sizeof head) != 0)
        fail("input is not a YUV4MPEG2 stream (bad magic); use -f yuv4mpegpipe with ffmpeg");
    int n = read_line(line, "Y4M header");
    if (n < 0)
        fail("truncated Y4M header: the stream ends after the magic");
    if (n > 0 && line[0] != ' ')
        fail("input is not a YUV4MPEG2 stream (bad magic); use -f yuv4mpegpipe with ffmpeg");
    y->width = y->height = -1;
    y->fps_num = 25;
    y->fps_den = 1;
    y->sar_num = y->sar_den = 0;
    y->full_range = 0;
    y->chroma_location = GVC1D_CHROMA_LOCATION_UNSPECIFIED;
    for (char *save = NULL, *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        const char *value = tok + 1;
        long num, den;
        switch (tok[0]) {
        case 'W': y->width = parse_y4m_int(value, "width"); break;
        case 'H': y->height = parse_y4m_int(value, "height"); break;
        case 'F':
            parse_ratio(value, "frame rate", &num, &den);
            if (num <= 0 || den <= 0 || num > UINT32_MAX || den > UINT32_MAX)
                fail("bad Y4M frame rate F%s (need positive N:D)", value);
            y->fps_num = num;
            y->fps_den = den;
            break;
        case 'A':
            parse_ratio(value, "pixel aspect ratio", &num, &den);
            if (num < 0 || den < 0 || num > UINT32_MAX || den > UINT32_MAX)
                fail("bad Y4M pixel aspect ratio A%s (need N:D, 0:0 = unknown)", value);
            y->sar_num = num;
            y->sar_den = den;
            break;
        case 'I': check_interlace(value); break;
        case 'C':
            check_colourspace(value);
            y->chroma_location = chroma_of_tag(value);
            break;
        case 'X':
            if (strncmp(value, "COLORRANGE=", 11) == 0) {
                const char *r = value + 11;
                if (strcasecmp(r, "FULL") == 0)
                    y->full_range = 1;
                else if (strcasecmp(r, "LIMITED") == 0)
                    y->full_range = 0;
                else
                    fail("bad Y4M XCOLORRANGE=%s (expected FULL or LIMITED)", r);
            }
            break;
        default: break;
        }
    }
    if (y->width < 0 || y->height < 0)
        fail("Y4M header lacks the W (width) or H (height) field");
    if (y->width < 1 || y->width > GVC1D_MAX_DIMENSION)
        fail("video width %ld is out of range (need 1..%d)", y->width, GVC1D_MAX_DIMENSION);
    if (y->height < 1 || y->height > GVC1D_MAX_DIMENSION)
        fail("video height %ld is out of range (need 1..%d)", y->height, GVC1D_MAX_DIMENSION);
}

/* ---- encode ---------------------------------------------------------------------------------- */

/* Pass 2: the whole stats file `name` into g_stats_in (NUL-terminated), at most MAX_STATS bytes. */
static void read_stats(const char *name)
{
    FILE *f = fopen(name, "rb");
    if (!f)
        fail("cannot read the first-pass stats %s: %s (run --pass 1 first)", name, strerror(errno));
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            if (cap > (size_t)MAX_STATS)
                break; /* MAX_STATS + 1 bytes read: too large */
            cap = cap ? 2 * cap : 1 << 16;
            if (cap > (size_t)MAX_STATS)
                cap = (size_t)MAX_STATS + 1;
            char *bigger = realloc(g_stats_in, cap + 1);
            if (!bigger) {
                fclose(f);
                fail("out of memory");
            }
            g_stats_in = bigger;
        }
        size_t got = fread(g_stats_in + size, 1, cap - size, f);
        size += got;
        if (got == 0)
            break;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err)
        fail("cannot read the first-pass stats %s: %s", name, strerror(err));
    if (size > (size_t)MAX_STATS)
        fail("%s: the first-pass stats file is larger than %ld MiB: not a gvc1d stats file", name, MAX_STATS >> 20);
    if (memchr(g_stats_in, '\0', size))
        fail("%s: not a gvc1d first-pass stats file (it holds NUL bytes)", name);
    g_stats_in[size] = '\0';
}

/* Pass 1: append the stats text the encoder has produced since the last call to FILE.tmp. */
static void write_stats(void)
{
    const char *text;
    if (gvc1d_encoder_stats(g_enc, &text) != GVC1D_OK)
        fail("%s", gvc1d_encoder_last_error(g_enc));
    size_t n = strlen(text);
    if ((n && fwrite(text, 1, n, g_stats_out) != n) || fflush(g_stats_out) != 0)
        fail("cannot write the first-pass stats %s: %s", g_stats_tmp, strerror(errno));
}

static int cmd_encode(const options *o)
{
    if (o->pass == 2)
        read_stats(o->stats); /* before the input, as gvc1d-pipe */
    y4m_info y;
    read_y4m_header(&y);

    gvc1d_encoder_params p;
    gvc1d_encoder_params_default(&p);
    p.width = (int)y.width;
    p.height = (int)y.height;
    p.fps_num = (uint32_t)y.fps_num;
    p.fps_den = (uint32_t)y.fps_den;
    p.pix_fmt = GVC1D_PIX_FMT_YUV420P;
    p.color_range = y.full_range ? GVC1D_COLOR_RANGE_FULL : GVC1D_COLOR_RANGE_LIMITED;
    p.sar_num = (uint32_t)y.sar_num;
    p.sar_den = (uint32_t)y.sar_den;
    p.chroma_location = y.chroma_location;
    p.quality_value = o->quality;
    p.bitrate = o->bitrate;
    p.intra_period = o->intra_period;
    p.weights = o->weights;
    p.device = o->device;
    p.preset = o->preset;
    p.pass = o->pass;
    p.stats_in = g_stats_in;
    g_enc = gvc1d_encoder_open(&p);
    if (!g_enc && o->pass == 2 && strstr(gvc1d_open_error(), "first-pass stats file"))
        fail("%s: %s", o->stats, gvc1d_open_error()); /* what is wrong with the file: named as gvc1d-pipe does */
    if (!g_enc)
        fail("%s", gvc1d_open_error());
    free(g_stats_in); /* read by the open only */
    g_stats_in = NULL;
    if (o->pass == 1) {
        size_t n = strlen(o->stats) + 5;
        g_stats_tmp = malloc(n);
        if (!g_stats_tmp)
            fail("out of memory");
        snprintf(g_stats_tmp, n, "%s.tmp", o->stats);
        g_stats_out = fopen(g_stats_tmp, "wb");
        if (!g_stats_out) {
            int err = errno;
            free(g_stats_tmp);
            g_stats_tmp = NULL; /* not ours to remove */
            fail("cannot write the first-pass stats %s: %s", o->stats, strerror(err));
        }
    }

    const uint8_t *header;
    size_t header_size;
    if (gvc1d_encoder_header(g_enc, &header, &header_size) != GVC1D_OK)
        fail("%s", gvc1d_encoder_last_error(g_enc));

    size_t w = (size_t)y.width, h = (size_t)y.height, cw = (w + 1) / 2, ch = (h + 1) / 2;
    size_t frame_size = w * h + 2 * cw * ch;
    g_buf = malloc(frame_size);
    if (!g_buf)
        fail("out of memory");
    const uint8_t *planes[3] = {g_buf, g_buf + w * h, g_buf + w * h + cw * ch};
    const int strides[3] = {(int)w, (int)cw, (int)cw};

    char line[MAX_LINE + 1];
    char what[64];
    unsigned long frames = 0;
    for (;; frames++) {
        snprintf(what, sizeof what, "FRAME header of frame %lu", frames);
        int n = read_line(line, what);
        if (n < 0)
            break;
        if (strncmp(line, "FRAME", 5) != 0 || (line[5] != '\0' && line[5] != ' '))
            fail("frame %lu: expected a FRAME marker, got '%.16s'", frames, line);
        size_t got = read_in(g_buf, frame_size);
        if (got < frame_size)
            fail("truncated frame %lu: got %zu of %zu bytes", frames, got, frame_size);
        const uint8_t *packet;
        size_t size;
        if (gvc1d_encoder_encode(g_enc, planes, strides, &packet, &size) != GVC1D_OK)
            fail("%s", gvc1d_encoder_last_error(g_enc));
        if (frames == 0) /* the header goes out with the first packet: no lone header on failure */
            write_out(header, header_size);
        write_out(packet, size);
        flush_out();
        if (g_stats_out)
            write_stats(); /* the frame's line, as it goes (the first with the head lines) */
    }
    if (frames == 0)
        fail("empty input: no frames to encode");
    const uint8_t *packet;
    size_t size;
    if (gvc1d_encoder_flush(g_enc, &packet, &size) != GVC1D_OK)
        fail("%s", gvc1d_encoder_last_error(g_enc));
    write_out(packet, size);
    flush_out();
    if (g_stats_out) { /* complete: FILE.tmp becomes FILE */
        write_stats();
        int bad = fclose(g_stats_out) != 0;
        g_stats_out = NULL;
        if (bad || rename(g_stats_tmp, o->stats) != 0)
            fail("cannot write the first-pass stats %s: %s", o->stats, strerror(errno));
        free(g_stats_tmp);
        g_stats_tmp = NULL;
    }
    cleanup();
    return 0;
}

/* ---- decode ---------------------------------------------------------------------------------- */

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t gcd_u32(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void write_plane(const uint8_t *data, int stride, size_t row_bytes, size_t rows)
{
    if ((size_t)stride == row_bytes) {
        write_out(data, row_bytes * rows);
        return;
    }
    for (size_t r = 0; r < rows; r++)
        write_out(data + (ptrdiff_t)r * stride, row_bytes);
}

static void decode_or_fail(const uint8_t *data, size_t size, gvc1d_picture *pic)
{
    if (gvc1d_decoder_decode(g_dec, data, size, pic) != GVC1D_OK)
        fail("%s", gvc1d_decoder_last_error(g_dec));
}

static size_t g_capacity;

/* Make g_buf hold at least `size` bytes. */
static void reserve(size_t size)
{
    if (size <= g_capacity)
        return;
    uint8_t *bigger = realloc(g_buf, size);
    if (!bigger)
        fail("out of memory");
    g_buf = bigger;
    g_capacity = size;
}

/* Append a varint (LEB128) from the input to g_buf at *used; its value, or -1 if the input ends
 * inside it or it is longer than GVC1D_VARINT_MAX_BYTES (the library then names the problem). */
static long long read_varint(size_t *used)
{
    unsigned long long value = 0;
    for (int k = 0; k < GVC1D_VARINT_MAX_BYTES; k++) {
        uint8_t b;
        if (read_in(&b, 1) != 1)
            return -1;
        g_buf[(*used)++] = b;
        value |= (unsigned long long)(b & 0x7F) << (7 * k);
        if (!(b & 0x80))
            return (long long)value;
    }
    return -1;
}

/* Read one packet into g_buf: its size, 0 at a clean end between packets. Splitting goes by the
 * length fields only; a packet that is malformed or cut short is handed to the library as far as
 * it was read, and the library says what is wrong with it. */
static size_t read_packet(int version, size_t max_payload, gvc1d_picture *pic)
{
    size_t used, total;

    reserve(1 + 2 * GVC1D_VARINT_MAX_BYTES + GVC1D_V4_PACKET_HEAD_SIZE);
    if (version < 5) {
        used = read_in(g_buf, GVC1D_V4_PACKET_HEAD_SIZE);
        if (used == 0)
            return 0;
        uint32_t length = used == GVC1D_V4_PACKET_HEAD_SIZE ? get_u32(g_buf + 6) : 0;
        if (used < GVC1D_V4_PACKET_HEAD_SIZE || g_buf[0] != GVC1D_V4_PACKET_SYNC || length > max_payload) {
            decode_or_fail(g_buf, used, pic);
            fail("internal error: a malformed packet was accepted");
        }
        total = GVC1D_V4_PACKET_OVERHEAD + (size_t)length;
    } else {
        if (read_in(g_buf, 1) != 1)
            return 0;
        used = 1;
        uint8_t head = g_buf[0];
        int x = (head & GVC1D_HEAD_INDEX) != 0;
        long long length = head >> GVC1D_HEAD_LENGTH_SHIFT;
        if (x && read_varint(&used) < 0)
            length = -1;
        if (length == GVC1D_LENGTH_FOLLOWS)
            length = read_varint(&used);
        if (length < 0 || (unsigned long long)length > max_payload + 2) {
            decode_or_fail(g_buf, used, pic);
            fail("internal error: a malformed packet was accepted");
        }
        total = used + (size_t)length + (x || length >= 4096 ? 4 : length >= 32 ? 2 : 1);
    }
    reserve(total);
    return used + read_in(g_buf + used, total - used); /* a short packet is reported as truncated */
}

static int cmd_decode(const options *o)
{
    /* the header: a fixed prefix whose u16 at offset 5 is the length of the rest */
    uint8_t header[GVC1D_HEADER_PREFIX_SIZE + 65535];
    size_t got = read_in(header, GVC1D_HEADER_PREFIX_SIZE);
    if (got == GVC1D_HEADER_PREFIX_SIZE) {
        size_t rest = (size_t)header[5] | (size_t)header[6] << 8;
        got += read_in(header + got, rest);
    }
    /* whatever arrived: the library says what is wrong with it */
    g_dec = gvc1d_decoder_open(header, got, o->weights, o->device, GVC1D_PIX_FMT_YUV420P);
    if (!g_dec)
        fail("%s", gvc1d_open_error());
    gvc1d_stream_info info;
    if (gvc1d_decoder_info(g_dec, &info) != GVC1D_OK)
        fail("%s", gvc1d_open_error());

    uint32_t g = gcd_u32(info.fps_num, info.fps_den); /* gvc1d-pipe writes the reduced rate */
    /* as gvc1d-pipe writes it: the aspect (A0:0 = unknown), the chroma tag as FFmpeg's muxer
     * writes it, the range always; Y4M has no matrix tag that ffmpeg reads */
    printf("YUV4MPEG2 W%d H%d F%u:%u Ip A%u:%u C%s XCOLORRANGE=%s\n", info.width, info.height,
           (unsigned)(info.fps_num / g), (unsigned)(info.fps_den / g), (unsigned)info.sar_num,
           (unsigned)info.sar_den, tag_of_chroma(info.chroma_location),
           info.color_range == GVC1D_COLOR_RANGE_FULL ? "FULL" : "LIMITED");
    flush_out();

    for (;;) {
        gvc1d_picture pic;
        got = read_packet(header[4], info.max_payload, &pic);
        if (got == 0)
            break; /* clean end between packets */
        decode_or_fail(g_buf, got, &pic);
        size_t w = (size_t)pic.width, h = (size_t)pic.height;
        write_out("FRAME\n", 6);
        write_plane(pic.planes[0], pic.strides[0], w, h);
        write_plane(pic.planes[1], pic.strides[1], (w + 1) / 2, (h + 1) / 2);
        write_plane(pic.planes[2], pic.strides[2], (w + 1) / 2, (h + 1) / 2);
        flush_out();
    }
    cleanup();
    return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

static const char usage[] =
    "usage: " PROG " encode [-q Q | -b RATE [--pass 1|2] [--stats FILE]] [--intra-period N] [--preset P] [-w WEIGHTS]\n"
    "                           [--device DEV] < in.y4m > out.gvc\n"
    "       " PROG " decode [-w WEIGHTS] [--device DEV] < in.gvc > out.y4m\n"
    "       " PROG " --version\n";

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("%s\n", gvc1d_version());
        return 0;
    }
    if (argc < 2)
        usage_error("the following arguments are required: command (encode or decode)");
    options o;
    if (strcmp(argv[1], "encode") == 0) {
        parse_options(argc, argv, 1, &o);
        return cmd_encode(&o);
    }
    if (strcmp(argv[1], "decode") == 0) {
        parse_options(argc, argv, 0, &o);
        return cmd_decode(&o);
    }
    usage_error("invalid command '%s' (choose from 'encode', 'decode')", argv[1]);
}

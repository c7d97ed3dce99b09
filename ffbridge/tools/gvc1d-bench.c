/*
 * gvc1d-bench: per-frame encode and decode time through the C API (benchmarks/bridge.py).
 *
 *   gvc1d-bench -s WxH [-n FRAMES] [-q Q] [--intra-period N] [-w WEIGHTS] [-o OUT.gvc] < frames.yuv
 *
 * Reads FRAMES raw yuv420p frames (all of them, before timing), encodes them with one encoder and
 * decodes the packets with one decoder. Timed: each gvc1d_encoder_encode() and
 * gvc1d_decoder_decode() call, with CLOCK_MONOTONIC. Prints one JSON object on stdout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gvc1d.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *msg, const char *detail)
{
    fprintf(stderr, "gvc1d-bench: error: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void print_list(const char *name, const double *v, int n)
{
    printf("\"%s\": [", name);
    for (int i = 0; i < n; i++)
        printf("%s%.4f", i ? ", " : "", v[i]);
    printf("]");
}

int main(int argc, char **argv)
{
    int width = 0, height = 0, frames = 8;
    gvc1d_encoder_params p;
    gvc1d_encoder_params_default(&p);
    const char *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("missing value for", a);
        if (strcmp(a, "-s") == 0) {
            if (sscanf(v, "%dx%d", &width, &height) != 2 || width <= 0 || height <= 0)
                die("bad size", v);
        } else if (strcmp(a, "-n") == 0) {
            frames = atoi(v);
        } else if (strcmp(a, "-q") == 0) {
            p.quality = atoi(v);
        } else if (strcmp(a, "--intra-period") == 0) {
            p.intra_period = atoi(v);
        } else if (strcmp(a, "-w") == 0) {
            p.weights = v;
        } else if (strcmp(a, "-o") == 0) {
            out_path = v;
        } else {
            die("unknown argument", a);
        }
        i++;
    }
    if (width <= 0 || frames <= 0)
        die("need -s WxH and -n > 0", NULL);
    p.width = width;
    p.height = height;
    size_t cw = (width + 1) / 2, ch = (height + 1) / 2;
    size_t frame_size = (size_t)width * height + 2 * cw * ch;
    uint8_t *video = malloc(frame_size * frames);
    uint8_t **packets = calloc(frames, sizeof *packets);
    size_t *packet_sizes = calloc(frames, sizeof *packet_sizes);
    double *enc_ms = calloc(frames, sizeof *enc_ms), *dec_ms = calloc(frames, sizeof *dec_ms);
    if (!video || !packets || !packet_sizes || !enc_ms || !dec_ms)
        die("out of memory", NULL);
    if (fread(video, 1, frame_size * frames, stdin) != frame_size * frames)
        die("short input", NULL);

    double t0 = now_ms();
    gvc1d_encoder *enc = gvc1d_encoder_open(&p);
    if (!enc)
        die("encoder open", gvc1d_open_error());
    double open_enc_ms = now_ms() - t0;
    const uint8_t *header;
    size_t header_size;
    if (gvc1d_encoder_header(enc, &header, &header_size) != GVC1D_OK)
        die("header", gvc1d_encoder_last_error(enc));
    uint8_t header_copy[GVC1D_HEADER_PREFIX_SIZE + 65535]; /* the largest header */
    if (header_size > sizeof header_copy)
        die("header too large", NULL);
    memcpy(header_copy, header, header_size);
    size_t total = header_size;
    for (int f = 0; f < frames; f++) {
        const uint8_t *base = video + frame_size * f;
        const uint8_t *planes[3] = {base, base + (size_t)width * height, base + (size_t)width * height + cw * ch};
        const int strides[3] = {width, (int)cw, (int)cw};
        const uint8_t *pkt;
        size_t size;
        double t = now_ms();
        if (gvc1d_encoder_encode(enc, planes, strides, &pkt, &size) != GVC1D_OK)
            die("encode", gvc1d_encoder_last_error(enc));
        enc_ms[f] = now_ms() - t;
        packets[f] = malloc(size);
        if (!packets[f])
            die("out of memory", NULL);
        memcpy(packets[f], pkt, size);
        packet_sizes[f] = size;
        total += size;
    }
    gvc1d_encoder_close(enc);

    t0 = now_ms();
    gvc1d_decoder *dec = gvc1d_decoder_open(header_copy, header_size, p.weights, NULL, GVC1D_PIX_FMT_NONE);
    if (!dec)
        die("decoder open", gvc1d_open_error());
    double open_dec_ms = now_ms() - t0;
    for (int f = 0; f < frames; f++) {
        gvc1d_picture pic;
        double t = now_ms();
        if (gvc1d_decoder_decode(dec, packets[f], packet_sizes[f], &pic) != GVC1D_OK)
            die("decode", gvc1d_decoder_last_error(dec));
        dec_ms[f] = now_ms() - t;
    }
    gvc1d_decoder_close(dec);

    if (out_path) {
        FILE *out = fopen(out_path, "wb");
        if (!out)
            die("cannot write", out_path);
        fwrite(header_copy, 1, header_size, out);
        for (int f = 0; f < frames; f++)
            fwrite(packets[f], 1, packet_sizes[f], out);
        if (fclose(out) != 0)
            die("cannot write", out_path);
    }
    printf("{\"width\": %d, \"height\": %d, \"frames\": %d, \"bytes\": %zu, ", width, height, frames, total);
    printf("\"open_encoder_ms\": %.3f, \"open_decoder_ms\": %.3f, ", open_enc_ms, open_dec_ms);
    print_list("encode_ms", enc_ms, frames);
    printf(", ");
    print_list("decode_ms", dec_ms, frames);
    printf("}\n");
    for (int f = 0; f < frames; f++)
        free(packets[f]);
    free(packets);
    free(packet_sizes);
    free(enc_ms);
    free(dec_ms);
    free(video);
    return 0;
}

/*
 * example.c: the smallest complete use of the gvc1d C API (gvc1d.h).
 *
 * Encodes a few synthetic 4:2:0 frames (a moving gradient), writes the stream to a .gvc file,
 * decodes the packets back and prints the size of every packet and how far every decoded luma
 * plane is from its source (mean absolute difference in code values).
 *
 *   make -C ffbridge PYTHON=.venv/bin/python     # also builds ffbridge/build/example
 *   PKG_CONFIG_PATH=$PWD/ffbridge/build cc ffbridge/examples/example.c $(pkg-config --cflags --libs gvc1d) -o example
 *   ./example [out.gvc] [frames] [WxH]            # defaults: example.gvc 3 176x144
 *
 * Exit status 0 on success, 1 with one line "example: error: ..." on stderr otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gvc1d.h"

static int fail(const char *what, const char *message)
{
    fprintf(stderr, "example: error: %s: %s\n", what, message);
    return 1;
}

/* Frame t of a diagonal gradient that moves a few pixels per frame (limited range). */
static void make_frame(uint8_t *y, uint8_t *u, uint8_t *v, int w, int h, int t)
{
    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++)
            y[r * w + c] = (uint8_t)(16 + (c * 3 + r * 2 + t * 6) % 220);
    for (int r = 0; r < ch; r++)
        for (int c = 0; c < cw; c++) {
            u[r * cw + c] = (uint8_t)(98 + (c * 2 + 200 - t * 3) % 60);
            v[r * cw + c] = (uint8_t)(98 + (r * 2 + t * 2) % 60);
        }
}

static double mean_abs_diff_y(const uint8_t *a, const gvc1d_picture *p)
{
    double sum = 0;
    for (int r = 0; r < p->height; r++)
        for (int c = 0; c < p->width; c++)
            sum += abs((int)a[r * p->width + c] - (int)p->planes[0][(long)r * p->strides[0] + c]);
    return sum / ((double)p->width * p->height);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "example.gvc";
    int frames = argc > 2 ? atoi(argv[2]) : 3, w = 176, h = 144;
    if (argc > 3 && sscanf(argv[3], "%dx%d", &w, &h) != 2)
        return fail("size", "need WxH, e.g. 176x144");
    if (frames < 1 || frames > 1000 || w < 1 || h < 1 || w > GVC1D_MAX_DIMENSION || h > GVC1D_MAX_DIMENSION)
        return fail("arguments", "frames 1..1000, sizes 1..16384");
    printf("%s\n", gvc1d_version());

    /* ---- encode ---- */
    gvc1d_encoder_params params;
    gvc1d_encoder_params_default(&params); /* then set what differs from the defaults */
    params.width = w;
    params.height = h;
    gvc1d_encoder *enc = gvc1d_encoder_open(&params);
    if (!enc)
        return fail("gvc1d_encoder_open", gvc1d_open_error());

    int cw = (w + 1) / 2, ch = (h + 1) / 2;
    uint8_t *src = malloc((size_t)frames * (w * h + 2 * cw * ch));
    uint8_t **packets = calloc((size_t)frames, sizeof *packets);
    size_t *sizes = calloc((size_t)frames, sizeof *sizes);
    FILE *out = fopen(path, "wb");
    if (!src || !packets || !sizes || !out)
        return fail(path, "cannot allocate or open the output");

    const uint8_t *header;
    size_t header_size;
    if (gvc1d_encoder_header(enc, &header, &header_size) != GVC1D_OK)
        return fail("gvc1d_encoder_header", gvc1d_encoder_last_error(enc));
    uint8_t *header_copy = malloc(header_size); /* the encoder owns its buffer until close */
    memcpy(header_copy, header, header_size);
    fwrite(header, 1, header_size, out);
    size_t total = header_size;

    for (int t = 0; t < frames; t++) {
        uint8_t *y = src + (size_t)t * (w * h + 2 * cw * ch), *u = y + w * h, *v = u + cw * ch;
        make_frame(y, u, v, w, h, t);
        const uint8_t *planes[3] = {y, u, v};
        const int strides[3] = {w, cw, cw};
        const uint8_t *packet;
        size_t size;
        if (gvc1d_encoder_encode(enc, planes, strides, &packet, &size) != GVC1D_OK)
            return fail("gvc1d_encoder_encode", gvc1d_encoder_last_error(enc));
        packets[t] = malloc(size); /* valid only until the next call: keep a copy to decode below */
        memcpy(packets[t], packet, size);
        sizes[t] = size;
        fwrite(packet, 1, size, out);
        total += size;
        printf("encoded frame %d: %zu bytes\n", t, size);
    }
    gvc1d_encoder_close(enc);
    if (fclose(out) != 0)
        return fail(path, "write failed");
    printf("wrote %s: %zu bytes (header %zu), %.4f bpp\n", path, total, header_size,
           8.0 * total / ((double)w * h * frames));

    /* ---- decode ---- */
    gvc1d_decoder *dec = gvc1d_decoder_open(header_copy, header_size, NULL, NULL, GVC1D_PIX_FMT_YUV420P);
    if (!dec)
        return fail("gvc1d_decoder_open", gvc1d_open_error());
    gvc1d_stream_info info;
    gvc1d_decoder_info(dec, &info);
    /* info.quality is the header's code: 16 x the quality (levels and steps of 1/16 between them),
     * 255 = variable (rate control); printed as gvc1d-pipe info prints it */
    char quality[32];
    if (info.quality == 255)
        snprintf(quality, sizeof quality, "variable (rate control)");
    else
        snprintf(quality, sizeof quality, "%g", info.quality / 16.0);
    printf("stream: %dx%d, %u/%u fps, quality %s, intra period %d\n", info.width, info.height,
           info.fps_num, info.fps_den, quality, info.intra_period);
    for (int t = 0; t < frames; t++) {
        gvc1d_picture pic;
        if (gvc1d_decoder_decode(dec, packets[t], sizes[t], &pic) != GVC1D_OK)
            return fail("gvc1d_decoder_decode", gvc1d_decoder_last_error(dec));
        printf("decoded frame %u (%c): %dx%d, mean |Y error| %.2f\n", pic.frame_index, pic.frame_type,
               pic.width, pic.height, mean_abs_diff_y(src + (size_t)t * (w * h + 2 * cw * ch), &pic));
        free(packets[t]);
    }
    gvc1d_decoder_close(dec);
    free(header_copy);
    free(packets);
    free(sizes);
    free(src);
    return 0;
}

/* The master effects on the voices' mix: chorus, delay, reverb (Freeverb). engine/effects.py is
 * their numpy reference and says what each does; this runs the same recurrences, frame by
 * frame, on the same state (numpy arrays the reference owns). */
#include <math.h>
#include <stdint.h>
#include <string.h>

enum { FX_REV_MIX, FX_REV_FEEDBACK, FX_REV_DAMP, FX_DEL_MIX, FX_DEL_FRAMES, FX_DEL_FEEDBACK, FX_CHO_MIX,
       FX_CHO_RATE, FX_CHO_DEPTH, FX_COUNT };
enum { ST_REV_WET, ST_DEL_WET, ST_CHO_WET, ST_DEL_D, ST_CHO_PH, ST_COMB };
enum { POS_COMB = 0, POS_AP = 16, POS_DEL = 24, POS_CHO = 25 };

#define FX_FLUSH 1e-10
#define FIXED_GAIN 0.015
#define SCALE_WET 3.0
#define ALLPASS_FEEDBACK 0.5
#define CHORUS_BASE_S 0.007
#define WET_SMOOTH 0.3

static inline double fx_smooth(double w0, double target)
{
    const double w1 = w0 + (target - w0) * WET_SMOOTH;
    return fabs(w1 - target) < 1e-4 ? target : w1;
}

static inline float fx_store(double v) { return fabs(v) < FX_FLUSH ? 0.0f : (float)v; }

/* i modulo size. i is almost always within one length of [0, size) (a write position minus a
 * delay shorter than the line; only periods longer than the line go further), so the loops
 * run at most once where a % would cost a division every frame. */
static inline int64_t fx_wrap(int64_t i, int64_t size)
{
    while (i < 0) i += size;
    while (i >= size) i -= size;
    return i;
}

/* linear interpolation of a ring line at position p (any real, taken modulo) */
static inline double fx_read(const float *line, int64_t size, double p)
{
    const double i = floor(p);
    const double f = p - i;
    int64_t i0 = fx_wrap((int64_t)i, size);
    const int64_t i1 = i0 + 1 == size ? 0 : i0 + 1;
    return line[i0] * (1.0 - f) + line[i1] * f;
}

static void fx_chorus(ps_effects *e, double *x[2], const double *wet, int n)
{
    const double *fx = e->fx;
    double *st = e->state;
    const int64_t size = e->cho_len, w = e->pos[POS_CHO];
    for (int c = 0; c < 2; c++) {
        float *line = e->chorus + (size_t)c * size;
        for (int j = 0; j < n; j++) {
            const double ph = st[ST_CHO_PH] + fx[FX_CHO_RATE] * (j + 1);
            const double d = CHORUS_BASE_S * e->rate + fx[FX_CHO_DEPTH] * sin(2.0 * M_PI * (ph + 0.25 * c));
            line[fx_wrap(w + j, size)] = fx_store(x[c][j]);
            const double y = fx_read(line, size, (double)(w + j) - d);
            x[c][j] += wet[j] * y;
        }
    }
    e->pos[POS_CHO] = (w + n) % size;
    st[ST_CHO_PH] = fmod(st[ST_CHO_PH] + fx[FX_CHO_RATE] * n, 1.0);
}

static void fx_delay(ps_effects *e, double *x[2], const double *wet, int n)
{
    const double *fx = e->fx;
    double *st = e->state;
    const int64_t size = e->del_len, w = e->pos[POS_DEL];
    const double d0 = st[ST_DEL_D] > 0 ? st[ST_DEL_D] : fx[FX_DEL_FRAMES];
    const double d1 = d0 + (fx[FX_DEL_FRAMES] - d0) * 0.2;
    const double fb = fx[FX_DEL_FEEDBACK];
    for (int c = 0; c < 2; c++) {
        float *line = e->delay + (size_t)c * size;
        for (int j = 0; j < n; j++) {
            const double d = d0 + (d1 - d0) * (j + 1.0) / n;
            const double r = fx_read(line, size, (double)(w + j) - d);
            line[fx_wrap(w + j, size)] = fx_store(x[c][j] + fb * r);
            x[c][j] += wet[j] * r;
        }
    }
    e->pos[POS_DEL] = (w + n) % size;
    st[ST_DEL_D] = d1;
}

static void fx_reverb(ps_effects *e, double *x[2], const double *wet, int n)
{
    const double *fx = e->fx;
    double *st = e->state;
    const double fb = fx[FX_REV_FEEDBACK], damp = fx[FX_REV_DAMP];
    double out[2][MAX_PERIOD];
    memset(out[0], 0, sizeof(double) * (size_t)n);
    memset(out[1], 0, sizeof(double) * (size_t)n);
    /* the combs four at a time (their recursions are independent, so the CPU overlaps them),
     * each adding into the sum in the reference's order */
    for (int i0 = 0; i0 < 16; i0 += 4) {
        const int c = i0 / 8;
        float *line[4];
        int64_t size[4], w[4];
        double fs[4];
        for (int q = 0; q < 4; q++) {
            line[q] = e->comb + e->comb_off[i0 + q];
            size[q] = e->comb_len[i0 + q];
            w[q] = e->pos[POS_COMB + i0 + q];
            fs[q] = st[ST_COMB + i0 + q];
        }
        for (int j = 0; j < n; j++) {
            const double in = (x[0][j] + x[1][j]) * FIXED_GAIN;
            double sum = out[c][j];
            for (int q = 0; q < 4; q++) {
                const double y = line[q][w[q]];
                fs[q] = (1.0 - damp) * y + damp * fs[q];
                line[q][w[q]] = fx_store(in + fs[q] * fb);
                sum += y;
                if (++w[q] == size[q]) w[q] = 0;
            }
            out[c][j] = sum;
        }
        for (int q = 0; q < 4; q++) {
            st[ST_COMB + i0 + q] = fabs(fs[q]) >= FX_FLUSH ? fs[q] : 0.0;
            e->pos[POS_COMB + i0 + q] = w[q];
        }
    }
    for (int i = 0; i < 8; i++) {
        const int c = i / 4;
        float *line = e->ap + e->ap_off[i];
        const int64_t size = e->ap_len[i];
        int64_t w = e->pos[POS_AP + i];
        for (int j = 0; j < n; j++) {
            const double bufout = line[w];
            const double v = out[c][j];
            line[w] = fx_store(v + bufout * ALLPASS_FEEDBACK);
            out[c][j] = -v + bufout;
            if (++w == size) w = 0;
        }
        e->pos[POS_AP + i] = w;
    }
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < n; j++) x[c][j] += wet[j] * SCALE_WET * out[c][j];
}

/* Run the effects over mix (2, n) in place; bypassed (wet 0) they leave it untouched. */
static void fx_process(ps_effects *e, float *mix, int n)
{
    double *st = e->state;
    const int wets[3] = {ST_CHO_WET, ST_DEL_WET, ST_REV_WET};
    const int targets[3] = {FX_CHO_MIX, FX_DEL_MIX, FX_REV_MIX};
    double w0[3], w1[3];
    int any = 0;
    for (int k = 0; k < 3; k++) {
        w0[k] = st[wets[k]];
        w1[k] = fx_smooth(w0[k], e->fx[targets[k]]);
        st[wets[k]] = w1[k];
        any |= w0[k] != 0.0 || w1[k] != 0.0;
    }
    if (!any) return;
    double xl[MAX_PERIOD], xr[MAX_PERIOD], wet[MAX_PERIOD];
    double *x[2] = {xl, xr};
    for (int j = 0; j < n; j++) xl[j] = mix[j], xr[j] = mix[n + j];
    for (int k = 0; k < 3; k++) {
        if (w0[k] == 0.0 && w1[k] == 0.0) continue;
        for (int j = 0; j < n; j++) wet[j] = w0[k] + (w1[k] - w0[k]) * ((j + 1.0) / n);
        if (k == 0) fx_chorus(e, x, wet, n);
        else if (k == 1) fx_delay(e, x, wet, n);
        else fx_reverb(e, x, wet, n);
    }
    /* an effect just turned off: start clean when turned up again */
    if (w0[0] != 0.0 && w1[0] == 0.0) memset(e->chorus, 0, sizeof(float) * 2 * (size_t)e->cho_len);
    if (w0[1] != 0.0 && w1[1] == 0.0) memset(e->delay, 0, sizeof(float) * 2 * (size_t)e->del_len);
    if (w0[2] != 0.0 && w1[2] == 0.0) {
        memset(e->comb, 0, sizeof(float) * (size_t)e->comb_total);
        memset(e->ap, 0, sizeof(float) * (size_t)e->ap_total);
        for (int i = 0; i < 16; i++) st[ST_COMB + i] = 0.0;
    }
    for (int j = 0; j < n; j++) mix[j] = (float)xl[j], mix[n + j] = (float)xr[j];
}

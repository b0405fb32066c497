/* One period of every active voice, in one call: the compiled twin of engine/render.py.
 *
 * The numpy renderer (engine/render.py) is the reference; this computes the same things in the
 * same precision, one voice at a time, and agrees with it to float32 rounding:
 *   phase    float64; the per-frame increment ramps from last period's pitch to this one's;
 *   position the phase folded into the loop: ls + |u + cL - pL*floor((u + cL)/pL) - cL|;
 *   gain     float32; one closed-form ADSR for held and released voices, times velocity,
 *            times a de-click ramp (float64, as in numpy) before a trimmed end point, times a
 *            scan's crossfade ramped over the period;
 *   sample   float32; 4-point Hermite (Catmull-Rom). The reference evaluates it in Laurent de
 *            Soras' nested form; here it is a dot product of the 4 taps (one vector load) with
 *            the 4 Catmull-Rom weights of the fraction, scaled by the gain: the same polynomial,
 *            a few float32 roundings apart;
 * summed into the planar (2, n) float32 mix (a mono sound on both sides); then ps_period applies
 * the master gain and the limiter (engine/limiter.py) exactly as the reference does.
 *
 * Real-time rules: no allocation, no locks, no system calls, no Python objects. The caller
 * releases the GIL around the call (cffi does). Voice state is the engine's own arrays
 * (engine/voices.py), read and advanced in place.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

/* columns of the per-voice parameter matrix (engine/voices.py) */
enum { BASE, AR, A0, DR, D0, SUS, OMS, LS, CL, PL, FEND, END, REND, STEADY,
       FBASE, F_AR, F_A0, F_DR, F_D0, F_SUS, F_OMS, F_STEADY, PAN_L, PAN_R, XG0, XG1, NCOLS };
/* the settings every voice shares this period: engine/period_settings.py says what each is */
enum { FP_TYPE, FP_K, FP_DEPTH, FP_OFF0, FP_OFF1, FP_RATE, FP_LFO_WAVE, FP_LFO_RATE, FP_LFO_DELAY, FP_LFO_FADE,
       FP_LFO_PITCH, FP_LFO_CUTOFF, FP_LFO_LEVEL, FP_COUNT };
#define CONTROL 16  /* frames between the filter's cutoff control points */

#define PAD 4            /* zero frames each side of a sound (engine/sound.py) */
#define FAR 1.0e15       /* "loop start" of voices that do not loop */
#define ENV_FLOOR 1e-9f  /* envelope values below -180 dB are flushed to 0 (no denormals) */
#define T_MAX 1.0e7      /* frames since note-on are clamped here */
#define MAX_PERIOD 4096

#include "render.h"
#include "filter.h"
#include "lfo.h"
#include "effects.h"

static inline float clipf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }
static inline double clipd(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

typedef float v4sf __attribute__((vector_size(16)));  /* GCC and clang, SSE and NEON alike */

/* The interpolated sample times its gain: y0 g + the weights w (gain included) times each tap's
 * difference from y0 (w[1] is unused). Relative to y0, a constant sound comes out exactly
 * constant, as the reference's nested form gives it, whatever the weights' rounding. */
static inline float dot4(const float *row, const float *w, float g)
{
    v4sf t, k;
    memcpy(&t, row, sizeof t);
    memcpy(&k, w, sizeof k);
    const float y0 = t[1];
    t -= y0;
    t *= k;
    return (t[0] + t[2]) + t[3] + y0 * g;
}

static inline float tap(const float *row, int64_t i, int64_t len)
{
    /* numpy's take(mode="clip") */
    if (i < 0) i = 0;
    else if (i >= len) i = len - 1;
    return row[i];
}

/* Hermite in Laurent de Soras' nested form, each operation in the reference's order: what the
 * filter gets, so that a resonant filter does not magnify the dot product's rounding */
static inline float hermite(float ym1, float y0, float y1, float y2, float f)
{
    const float c = (y1 - ym1) * 0.5f;
    const float w = (y0 - y1) + c;
    const float a = (y2 - y0) * 0.5f + w + (y0 - y1);
    return ((a * f - (w + a)) * f + c) * f + y0;
}

/* dot4 on taps clipped to the row, as numpy's take(mode="clip") reads them */
static inline float hermite_clipped(const float *row, int64_t i0, int64_t len, const float *w, float g)
{
    const float y0 = tap(row, i0 + 1, len);
    return ((tap(row, i0, len) - y0) * w[0] + (tap(row, i0 + 2, len) - y0) * w[2]) +
           (tap(row, i0 + 3, len) - y0) * w[3] + y0 * g;
}

/* The control points of a period: frames 0, CONTROL, 2 CONTROL, ... and n; returns how many. */
static int control_points(int n, int *pts)
{
    int count = 0;
    for (int j = 0; j < n; j += CONTROL) pts[count++] = j;
    pts[count++] = n;
    return count;
}

/* Values at the control points, ramped linearly to every frame (lfo.py's ramp). */
static void ramp(const double *ctl, const int *pts, int count, double *out)
{
    for (int b = 0; b + 1 < count; b++) {
        const int j0 = pts[b], len = pts[b + 1] - j0;
        const double step = (ctl[b + 1] - ctl[b]) / len;
        for (int i = 0; i < len; i++) out[j0 + i] = ctl[b] + step * i;
    }
}

/* The voice's filter cutoff as a prewarped gain g = tan(pi fc / fs) for every frame: computed
 * at the control points from the filter envelope, the cutoff, the voice's tracking and the LFO
 * (lfo: semitones at each point, or NULL), and ramped linearly between them (no zipper). */
static void cutoff_gains(const ps_voices *s, const double *p, double t0, const int *pts, int count,
                         const double *lfo, double *g)
{
    const int n = s->n;
    const double *fp = s->fp;
    const double rate = fp[FP_RATE];
    double ctl[MAX_PERIOD / CONTROL + 2];
    for (int b = 0; b < count; b++) {
        const int j = pts[b];
        const double t = t0 + j;
        double e = clipd(t * p[F_DR] + p[F_D0], 0.0, 1.0);
        e = 1.0 - e;
        e = e * (e * e) * p[F_OMS] + p[F_SUS];
        if (p[F_A0] < 1.0) {
            const double a = t * p[F_AR] + p[F_A0];
            e *= a < 1.0 ? a : 1.0;
        }
        double pitch = p[FBASE] + fp[FP_DEPTH] * e + fp[FP_OFF0] + (fp[FP_OFF1] - fp[FP_OFF0]) * j / n;
        if (lfo) pitch = pitch + lfo[b];
        const double fc = clipd(440.0 * exp2((pitch - 69.0) / 12.0), 16.0, 0.45 * rate);
        ctl[b] = tan(M_PI * fc / rate);
    }
    ramp(ctl, pts, count, g);
}

/* The voice's LFO at lt frames after its note-on */
static inline double lfo_at(const ps_voices *s, int v, double lt)
{
    const double *fp = s->fp;
    return lfo_value((int)fp[FP_LFO_WAVE], lt, fp[FP_LFO_RATE], fp[FP_LFO_DELAY], fp[FP_LFO_FADE],
                     (uint32_t)s->age[v]);
}

/* Render voice v into the mix; returns 1 when it finished this period. */
static int render_voice(ps_voices *s, int v, double pitch_offset, const double *ramp2)
{
    const int n = s->n;
    const double *p = s->vp + (size_t)v * NCOLS;
    const float *p32 = s->vp32 + (size_t)v * NCOLS;
    double pos[MAX_PERIOD];
    float gain[MAX_PERIOD];
    float wt[MAX_PERIOD][4] __attribute__((aligned(16)));
    float frac[MAX_PERIOD];
    int32_t idx[MAX_PERIOD];

    /* 1. phase: the increment ramps linearly from inc0 to inc1 over the period */
    const double *fp = s->fp;
    const double lt0 = s->lt[v];
    double inc1;
    if (fp[FP_LFO_PITCH] != 0.0) /* the LFO at the period's end: the increment ramps to it */
        inc1 = exp2((p[BASE] + pitch_offset + fp[FP_LFO_PITCH] * lfo_at(s, v, lt0 + n)) * (1.0 / 12.0));
    else
        inc1 = exp2((p[BASE] + pitch_offset) * (1.0 / 12.0));
    const double inc0 = s->inc[v], ph0 = s->phase[v];
    const double dinc = inc1 - inc0;
    for (int j = 0; j < n; j++) pos[j] = inc0 * j + ph0;
    if (dinc != 0.0)
        for (int j = 0; j < n; j++) pos[j] += dinc * ramp2[j];
    double ph1 = ph0 + inc0 * n + dinc * ((n + 1) / 2.0);

    /* 2. fold into the loop, once a voice has passed its first loop end */
    const double ls = p[LS], cl = p[CL], pl = p[PL];
    const int looping = ls < FAR;
    if (looping && ph1 > ls + pl - cl && cl == 0.0 && pl >= ph1 - ph0 && ph0 < ls + pl) {
        /* a forward loop longer than this period's travel, entered at or before the period's
         * start: each position passes the loop end at most once */
        const double end = ls + pl;
        for (int j = 0; j < n; j++) pos[j] = pos[j] >= end ? pos[j] - pl : pos[j];
        double u = ph1 - ls;
        if (u >= pl) ph1 = ls + fmod(u, pl);
    } else if (looping && ph1 > ls + pl - cl) {
        for (int j = 0; j < n; j++) {
            double u = pos[j] - ls;
            if (u >= 0.0) {
                double x = u + cl;
                x -= (double)(int64_t)(x / pl) * pl; /* x >= 0: truncation is floor */
                pos[j] = fabs(x - cl) + ls;
            }
        }
        double u = ph1 - ls;
        if (u >= pl) ph1 = ls + fmod(u, pl);
    }

    /* 3. envelope (float32, as the reference computes it) */
    const double t0 = s->t[v];
    if (t0 >= p[STEADY]) {
        const float sus = p32[SUS];
        for (int j = 0; j < n; j++) gain[j] = sus;
    } else {
        const float t0f = (float)t0;
        for (int j = 0; j < n; j++) {
            float h = t0f + (float)j;
            float g = clipf(h * p32[DR] + p32[D0], 0.0f, 1.0f);
            g = 1.0f - g;
            g = g * (g * g);
            g = g * p32[OMS] + p32[SUS];
            if (p32[A0] < 1.0f) {
                float a = h * p32[AR] + p32[A0];
                g *= a < 1.0f ? a : 1.0f;
            }
            gain[j] = g < ENV_FLOOR ? 0.0f : g;
        }
    }
    if (p[FEND] < FAR) {
        for (int j = 0; j < n; j++)
            gain[j] = (float)(gain[j] * clipd((p[FEND] - pos[j]) * s->declick, 0.0, 1.0));
    }
    /* the LFO's values at the control points (for the level, and the cutoff when filtered) */
    const int filtered = (int)fp[FP_TYPE] != FILTER_OFF;
    const int lfo_cutoff = filtered && fp[FP_LFO_CUTOFF] != 0.0;
    int pts[MAX_PERIOD / CONTROL + 2];
    const int count = control_points(n, pts);
    double lv[MAX_PERIOD / CONTROL + 2];
    if (fp[FP_LFO_LEVEL] != 0.0 || lfo_cutoff)
        for (int b = 0; b < count; b++) lv[b] = lfo_at(s, v, lt0 + pts[b]);
    if (fp[FP_LFO_LEVEL] != 0.0) {
        double ctl[MAX_PERIOD / CONTROL + 2], fac[MAX_PERIOD];
        for (int b = 0; b < count; b++) ctl[b] = 1.0 - fp[FP_LFO_LEVEL] * (1.0 - lv[b]) / 2.0;
        ramp(ctl, pts, count, fac);
        for (int j = 0; j < n; j++) gain[j] = gain[j] * (float)fac[j];
    }
    if (p32[XG0] != 1.0f || p32[XG1] != 1.0f) { /* a scan's crossfade, ramped over the period */
        const float x0 = p32[XG0], d = p32[XG1] - x0;
        for (int j = 0; j < n; j++) gain[j] = gain[j] * ((float)((double)(j + 1) / n) * d + x0);
    }

    /* 4. Hermite interpolation, weighted, into the mix (a mono sound on both sides). Each
     * frame's 4 taps are one unaligned vector load, weighted by the Catmull-Rom coefficients
     * of its fraction times the envelope (computed for all frames first, in a loop that
     * vectorises), and summed. */
    const int slot = (int)s->slot[v];
    const int64_t len = s->frames[slot];
    const int channels = s->channels[slot];
    const float *rl = s->data[slot][0], *rr = s->data[slot][1];
    float *left = s->mix, *right = s->mix + n;
    const float pan_l = p32[PAN_L], pan_r = p32[PAN_R]; /* the voice's pan: 1, 1 at the centre (exact) */
    int32_t lo = INT32_MAX, hi = 0;
    for (int j = 0; j < n; j++) {
        /* positions are >= 0 and below 2^31: truncation to int32 is floor */
        const int32_t whole = (int32_t)pos[j];
        idx[j] = whole + (PAD - 1);
        frac[j] = (float)(pos[j] - (double)whole);
        lo = idx[j] < lo ? idx[j] : lo;
        hi = idx[j] > hi ? idx[j] : hi;
    }
    const int clip = lo < 0 || hi + 3 >= len;
    if (!filtered) /* the dot product's weights (the filtered path uses the nested form) */
        for (int j = 0; j < n; j++) {
            const float f = frac[j], f2 = f * f, f3 = f2 * f, g = 0.5f * gain[j];
            wt[j][0] = (2.0f * f2 - f3 - f) * g;
            wt[j][1] = 0.0f; /* y0's weight: y0 is applied with the gain, the others relative to it */
            wt[j][2] = (4.0f * f2 - 3.0f * f3 + f) * g;
            wt[j][3] = (f3 - f2) * g;
        }
    if (filtered) {
        /* each channel's raw samples (in the reference's nested form), then the filter, then
         * the envelope: the filter sees the sound, not the envelope's steps */
        double gc[MAX_PERIOD], lc[MAX_PERIOD / CONTROL + 2];
        if (lfo_cutoff)
            for (int b = 0; b < count; b++) lc[b] = fp[FP_LFO_CUTOFF] * lv[b];
        cutoff_gains(s, p, t0, pts, count, lfo_cutoff ? lc : NULL, gc);
        const double k = s->fp[FP_K];
        float y[2][MAX_PERIOD];
        float *const ys[2] = {y[0], y[1]};
        for (int c = 0; c < channels; c++) {
            const float *row = c ? rr : rl;
            /* the 4 taps of each frame into wt (unused on this path: one vector load each),
             * then Hermite over them all in a loop that vectorises */
            if (clip)
                for (int j = 0; j < n; j++)
                    for (int t = 0; t < 4; t++) wt[j][t] = tap(row, (int64_t)idx[j] + t, len);
            else
                for (int j = 0; j < n; j++) memcpy(wt[j], row + idx[j], sizeof wt[j]);
            for (int j = 0; j < n; j++) y[c][j] = hermite(wt[j][0], wt[j][1], wt[j][2], wt[j][3], frac[j]);
        }
        filter_run((int)s->fp[FP_TYPE], ys, channels, gc, k, s->fstate + (size_t)v * 8, n);
        if (channels == 2) {
            for (int j = 0; j < n; j++) {
                left[j] += y[0][j] * gain[j] * pan_l;
                right[j] += y[1][j] * gain[j] * pan_r;
            }
        } else {
            for (int j = 0; j < n; j++) {
                const float w = y[0][j] * gain[j];
                left[j] += w * pan_l;
                right[j] += w * pan_r;
            }
        }
    } else if (clip) {
        /* a tap outside the row (a voice's pre-roll, a sound's edges): clip each, as numpy's
         * take(mode="clip") does */
        for (int c = 0; c < channels; c++) {
            const float *row = c ? rr : rl;
            for (int j = 0; j < n; j++) {
                const int64_t i0 = idx[j];
                const float y = hermite_clipped(row, i0, len, wt[j], gain[j]);
                if (channels == 1) {
                    left[j] += y * pan_l;
                    right[j] += y * pan_r;
                } else
                    (c ? right : left)[j] += y * (c ? pan_r : pan_l);
            }
        }
    } else if (channels == 2) {
        for (int j = 0; j < n; j++) {
            left[j] += dot4(rl + idx[j], wt[j], gain[j]) * pan_l;
            right[j] += dot4(rr + idx[j], wt[j], gain[j]) * pan_r;
        }
    } else {
        for (int j = 0; j < n; j++) {
            const float y = dot4(rl + idx[j], wt[j], gain[j]);
            left[j] += y * pan_l;
            right[j] += y * pan_r;
        }
    }

    /* 5. advance; free the voice past its release or its sound's end */
    s->phase[v] = ph1;
    s->inc[v] = inc1;
    s->lt[v] = lt0 + n; /* float64: exact for ages, not clamped like t (an LFO never freezes) */
    double t1 = t0 + n;
    s->t[v] = t1 < T_MAX ? t1 : T_MAX;
    if (t1 >= p[REND] || ph1 >= p[END]) {
        s->active[v] = 0;
        s->stealing[v] = 0;
        return 1;
    }
    return 0;
}

/* The layout this kernel was built for: the Python side refuses a kernel built from another
 * render.c (a source tree updated without rebuilding) rather than read past its rows. */
int ps_layout(void) { return NCOLS * 100 + FP_COUNT; }

/* Render every active voice into s->mix (cleared first); returns how many are still sounding. */
int ps_render(ps_voices *s, double pitch_offset)
{
    int sounding = 0;
    const int n = s->n;
    if (n > MAX_PERIOD) return -1;
    memset(s->mix, 0, sizeof(float) * 2 * (size_t)n);
    /* the increment ramp's integral, j (j + 1) / 2n: the same for every voice, so its divisions
     * are made once a period, not once a frame of every voice */
    double ramp2[MAX_PERIOD];
    for (int j = 0; j < n; j++) ramp2[j] = (double)j * (j + 1) / (2.0 * n);
    for (int v = 0; v < s->count; v++) {
        if (!s->active[v]) continue;
        sounding += 1 - render_voice(s, v, pitch_offset, ramp2);
    }
    return sounding;
}

static float peak_of(const float *x, int count)
{
    float peak = 0.0f;
    for (int i = 0; i < count; i++) {
        float a = fabsf(x[i]);
        peak = a > peak ? a : peak;
    }
    return peak;
}

/* The master soft limiter (engine/limiter.py, which this mirrors operation for operation):
 * limit out in place, return its peak after limiting. */
static double limit(ps_master *m, int n)
{
    float *x = m->out;
    double peak = peak_of(x, 2 * n);
    const double g0 = m->state[0];
    const double target = peak <= m->threshold ? 1.0 : m->threshold / peak;
    double g1 = target < g0 ? target : g0 + (target - g0) * m->release;
    if (g1 > 0.99999) g1 = 1.0;
    m->state[0] = g1;
    if (g0 != 1.0 || g1 != 1.0) {
        const float d = (float)(g1 - g0), base = (float)g0;
        for (int j = 0; j < n; j++) {
            const float g = m->ramp[j] * d + base;
            x[2 * j] *= g;
            x[2 * j + 1] *= g;
        }
        peak = peak_of(x, 2 * n);
    }
    if (peak > m->knee) {
        const float k = (float)m->knee, span = (float)(1.0 - m->knee);
        m->state[1] += 1.0;
        for (int i = 0; i < 2 * n; i++) {
            const float a = fabsf(x[i]);
            if (a > k) x[i] = copysignf(k + span * tanhf((a - k) / span), x[i]);
        }
        peak = peak_of(x, 2 * n);
    }
    return peak;
}

/* A whole period: the voices, the effects, the master gain ramped from g0 to g1 while
 * interleaving into m->out, and the limiter. Returns the output's peak; *sounding: voices still
 * sounding. With no voice sounding the mix is silence, and the effects' tails ring on. */
double ps_period(ps_voices *s, ps_master *m, ps_effects *e, double pitch_offset, double g0, double g1,
                 int *sounding)
{
    const int n = s->n;
    int any = 0;
    for (int v = 0; v < s->count && !any; v++) any = s->active[v];
    if (any) *sounding = ps_render(s, pitch_offset);
    else {
        *sounding = 0;
        memset(s->mix, 0, sizeof(float) * 2 * (size_t)n);
    }
    fx_process(e, s->mix, n);
    const float *l = s->mix, *r = s->mix + n;
    if (g0 == g1) {
        const float g = (float)g1;
        for (int j = 0; j < n; j++) {
            m->out[2 * j] = l[j] * g;
            m->out[2 * j + 1] = r[j] * g;
        }
    } else {
        const float d = (float)(g1 - g0), base = (float)g0;
        for (int j = 0; j < n; j++) {
            const float g = m->ramp[j] * d + base;
            m->out[2 * j] = l[j] * g;
            m->out[2 * j + 1] = r[j] * g;
        }
    }
    return limit(m, n);
}

/* The per-voice filter: a zero-delay-feedback state-variable filter (Zavalishin's topology, in
 * Andrew Simper's trapezoidal form), one DSP idea in one file. engine/filter.py is its numpy
 * reference and does each operation in the same order.
 *
 *   g = tan(pi fc / fs); k = damping (1/Q); a1 = 1/(1 + g (g + k)); a2 = g a1; a3 = g a2
 *   v3 = x - ic2; v1 = a1 ic1 + a2 v3; v2 = ic2 + a2 ic1 + a3 v3
 *   ic1 = 2 v1 - ic1; ic2 = 2 v2 - ic2
 *   low = v2, band = v1, high = x - k v1 - v2
 *
 * Below the knee (|state| <= SAT_KNEE) it is exactly linear. Above, the states are bent towards
 * SAT_LIMIT, which bounds it: at full resonance the damping is negative, so it self-oscillates
 * at a level the bend sets instead of blowing up. States under 1e-30 are flushed to 0 after each
 * period (no subnormals: a state needs far more than a period to decay from there).
 */
#include <math.h>

#define SAT_KNEE 2.0
#define SAT_LIMIT 4.0
#define FLUSH 1e-30

enum { FILTER_OFF, FILTER_LP12, FILTER_BP12, FILTER_HP12, FILTER_LP24 };

/* A state above the knee, bent towards the limit. Rare (only loud or resonant signals get
 * there), so sat() tests for it with a branch the CPU predicts, off the recursion's critical
 * path; the states' flush to 0 is once a period (filter_run). */
static double bend(double x)
{
    const double a = fabs(x);
    return copysign(SAT_KNEE + (SAT_LIMIT - SAT_KNEE) * tanh((a - SAT_KNEE) / (SAT_LIMIT - SAT_KNEE)), x);
}

static inline double sat(double x)
{
    if (__builtin_expect(fabs(x) > SAT_KNEE, 0)) return bend(x);
    return x;
}

#define FBLOCK 16 /* frames a pass runs: their coefficients are computed ahead, together */

typedef double v2d __attribute__((vector_size(16))); /* SSE2 on x86-64, NEON on aarch64 */
typedef long long v2l __attribute__((vector_size(16)));

static inline v2d vabs(v2d x) { return (v2d)((v2l)x & (v2l){0x7fffffffffffffffLL, 0x7fffffffffffffffLL}); }

/* Whether any lane of x is above the knee, as a mask. */
static inline v2l above_knee(v2d x) { return vabs(x) > (v2d){SAT_KNEE, SAT_KNEE}; }

/* Both lanes of a state bent as sat() bends them. */
static inline v2d sat2(v2d x) { return (v2d){sat(x[0]), sat(x[1])}; }

/* One sample through one stage for both channels (each lane does the scalar operations above),
 * its new states not yet bent. */
#define SVF_TICK(x, a1, a2, a3, ic1, ic2, low, band)       \
    do {                                                   \
        const v2d v3_ = (x) - (ic2);                       \
        const v2d v1_ = (a1) * (ic1) + (a2) * v3_;         \
        const v2d v2_ = (ic2) + (a2) * (ic1) + (a3) * v3_; \
        (ic1) = 2.0 * v1_ - (ic1);                         \
        (ic2) = 2.0 * v2_ - (ic2);                         \
        (low) = v2_;                                       \
        (band) = v1_;                                      \
    } while (0)

/* The coefficients of frames [0, len) from their cutoff gains: computed ahead of the
 * recursion, so their divisions are off its path, in a loop that vectorises. */
static inline __attribute__((always_inline)) void coefficients(const int type, const double *g, double k,
                                                               double (*c)[6], int len)
{
    const double k2 = 1.4142135623730951; /* the 24 dB's second stage: Butterworth */
    for (int j = 0; j < len; j++) {
        const double gj = g[j];
        c[j][0] = 1.0 / (1.0 + gj * (gj + k));
        c[j][1] = gj * c[j][0];
        c[j][2] = gj * c[j][1];
        if (type == FILTER_LP24) {
            c[j][3] = 1.0 / (1.0 + gj * (gj + k2));
            c[j][4] = gj * c[j][3];
            c[j][5] = gj * c[j][4];
        }
    }
}

/* One frame of one voice, both channels in one vector; i[0..3]: its states (locals of the
 * caller, so they stay in registers). */
static inline __attribute__((always_inline)) v2d filter_step(const int type, v2d in, const double *c, double k,
                                                             v2d *i)
{
    v2d low, band, y;
    const v2d a1 = {c[0], c[0]}, a2 = {c[1], c[1]}, a3 = {c[2], c[2]};
    SVF_TICK(in, a1, a2, a3, i[0], i[1], low, band);
    if (type == FILTER_LP12) y = low;
    else if (type == FILTER_BP12) y = band;
    else if (type == FILTER_HP12) y = in - k * band - low;
    else {
        const v2d b1 = {c[3], c[3]}, b2 = {c[4], c[4]}, b3 = {c[5], c[5]};
        v2d band2;
        SVF_TICK(low, b1, b2, b3, i[2], i[3], y, band2);
        (void)band2;
    }
    /* the new states bent: rarely needed (only loud or resonant signals pass the knee), so one
     * test for all of them, a branch the CPU predicts; below the knee the bend is the identity,
     * so bending all when one is above is exact (the second stage read the first's output, not
     * its states) */
    v2l over = above_knee(i[0]) | above_knee(i[1]);
    if (type == FILTER_LP24) over |= above_knee(i[2]) | above_knee(i[3]);
    if (__builtin_expect((over[0] | over[1]) != 0, 0))
        for (int q = 0; q < (type == FILTER_LP24 ? 4 : 2); q++) i[q] = sat2(i[q]);
    return y;
}

static inline void states_in(const double *s, v2d *i)
{
    for (int q = 0; q < 4; q++) i[q] = (v2d){s[q], s[4 + q]};
}

/* Back into s, flushing values under FLUSH to 0 (no subnormals: a state needs far more than a
 * period to decay from there). */
static inline void states_out(const v2d *i, double *s)
{
    for (int q = 0; q < 4; q++) {
        s[q] = fabs(i[q][0]) < FLUSH ? 0.0 : i[q][0];
        s[4 + q] = fabs(i[q][1]) < FLUSH ? 0.0 : i[q][1];
    }
}

/* One voice's whole period, FBLOCK frames at a time: both channels in one vector (a mono voice's
 * right lane runs on zeros and its states stay 0), the states in registers. type and stereo are
 * constants where it is called, so each case compiles to its own loop. */
static inline __attribute__((always_inline)) void filter_blocks(const int type, const int stereo, float *const x[2],
                                                                const double *g, double k, double *s, int n)
{
    v2d i[4];
    states_in(s, i);
    for (int j0 = 0; j0 < n; j0 += FBLOCK) {
        const int len = n - j0 < FBLOCK ? n - j0 : FBLOCK;
        double c[FBLOCK][6];
        coefficients(type, g + j0, k, c, len);
        float *x0 = x[0] + j0, *x1 = x[1] + j0;
        for (int j = 0; j < len; j++) {
            const v2d y = filter_step(type, (v2d){x0[j], stereo ? x1[j] : 0.0}, c[j], k, i);
            x0[j] = (float)y[0];
            if (stereo) x1[j] = (float)y[1];
        }
    }
    states_out(i, s);
}

/* Filter the channels x[c][0..n) in place. g[j]: the cutoff's prewarped gain per frame; k: the
 * damping; st: 4 states a channel (2 a stage), channel after channel (a mono voice's right
 * channel's stay 0). */
static void filter_run(int type, float *const x[2], int channels, const double *g, double k, double *st, int n)
{
    const int stereo = channels == 2;
    switch (type * 2 + stereo) {
    case FILTER_LP12 * 2: filter_blocks(FILTER_LP12, 0, x, g, k, st, n); break;
    case FILTER_LP12 * 2 + 1: filter_blocks(FILTER_LP12, 1, x, g, k, st, n); break;
    case FILTER_BP12 * 2: filter_blocks(FILTER_BP12, 0, x, g, k, st, n); break;
    case FILTER_BP12 * 2 + 1: filter_blocks(FILTER_BP12, 1, x, g, k, st, n); break;
    case FILTER_HP12 * 2: filter_blocks(FILTER_HP12, 0, x, g, k, st, n); break;
    case FILTER_HP12 * 2 + 1: filter_blocks(FILTER_HP12, 1, x, g, k, st, n); break;
    case FILTER_LP24 * 2: filter_blocks(FILTER_LP24, 0, x, g, k, st, n); break;
    case FILTER_LP24 * 2 + 1: filter_blocks(FILTER_LP24, 1, x, g, k, st, n); break;
    default: return;
    }
}

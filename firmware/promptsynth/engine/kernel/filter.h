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

/* One sample through one stage with coefficients a1..a3; returns (low, band) in *low, *band. */
static inline void svf_tick(double x, double a1, double a2, double a3, double *ic1, double *ic2, double *low,
                            double *band)
{
    const double v3 = x - *ic2;
    const double v1 = a1 * *ic1 + a2 * v3;
    const double v2 = *ic2 + a2 * *ic1 + a3 * v3;
    *ic1 = sat(2.0 * v1 - *ic1);
    *ic2 = sat(2.0 * v2 - *ic2);
    *low = v2;
    *band = v1;
}

/* One sample through the filter for one channel; the coefficients are the frame's. */
static inline double filter_tick(int type, double in, double k, double a1, double a2, double a3, double b1, double b2,
                                 double b3, double *st)
{
    double low, band;
    svf_tick(in, a1, a2, a3, &st[0], &st[1], &low, &band);
    if (type == FILTER_LP12) return low;
    if (type == FILTER_BP12) return band;
    if (type == FILTER_HP12) return in - k * band - low;
    double low2, band2;
    svf_tick(low, b1, b2, b3, &st[2], &st[3], &low2, &band2);
    return low2;
}

/* Filter the channels x[c][0..n) in place (both in one pass: their recursions are independent,
 * so the CPU overlaps them, and each frame's coefficients are computed once). g[j]: the cutoff's
 * prewarped gain per frame; k: the damping; st: 4 states a channel (2 a stage), channel after
 * channel. */
static void filter_run(int type, float *const x[2], int channels, const double *g, double k, double *st, int n)
{
    const double k2 = 1.4142135623730951; /* the 24 dB's second stage: Butterworth */
    for (int j = 0; j < n; j++) {
        const double a1 = 1.0 / (1.0 + g[j] * (g[j] + k));
        const double a2 = g[j] * a1, a3 = g[j] * a2;
        double b1 = 0.0, b2 = 0.0, b3 = 0.0;
        if (type == FILTER_LP24) {
            b1 = 1.0 / (1.0 + g[j] * (g[j] + k2));
            b2 = g[j] * b1, b3 = g[j] * b2;
        }
        x[0][j] = (float)filter_tick(type, x[0][j], k, a1, a2, a3, b1, b2, b3, st);
        if (channels == 2) x[1][j] = (float)filter_tick(type, x[1][j], k, a1, a2, a3, b1, b2, b3, st + 4);
    }
    for (int i = 0; i < 4 * channels; i++)
        if (fabs(st[i]) < FLUSH) st[i] = 0.0;
}

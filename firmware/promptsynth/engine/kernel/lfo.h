/* The LFO: one per voice, started at its note-on. engine/lfo.py is its numpy reference and
 * computes each value the same way (see there for what it does and why). */
#include <math.h>
#include <stdint.h>

enum { LFO_SINE, LFO_TRIANGLE, LFO_SQUARE, LFO_SAMPLE_HOLD };

/* a value in [-1, 1) from two integers: a 32-bit integer hash (lfo.py's hash_unit) */
static inline double lfo_hash(uint32_t seed, uint32_t cycle)
{
    uint32_t h = seed * 0x9E3779B1u + cycle * 0x85EBCA77u;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    h *= 0x297A2D39u;
    h ^= h >> 15;
    return (double)h * (2.0 / 4294967296.0) - 1.0;
}

/* the LFO at lt frames after the note-on; rate in cycles a frame, delay and fade in frames */
static double lfo_value(int wave, double lt, double rate, double delay, double fade, uint32_t seed)
{
    const double u = lt * rate;
    const double cycle = floor(u);
    const double ph = u - cycle;
    double v;
    if (wave == LFO_SINE) v = sin(2.0 * M_PI * ph);
    else if (wave == LFO_TRIANGLE) {
        const double q = ph + 0.25;
        v = 1.0 - 4.0 * fabs((q - floor(q)) - 0.5);
    } else if (wave == LFO_SQUARE) v = ph < 0.5 ? 1.0 : -1.0;
    else v = lfo_hash(seed, (uint32_t)(int64_t)cycle);
    double amp;
    if (fade > 0.0) {
        amp = (lt - delay) / fade;
        amp = amp < 0.0 ? 0.0 : (amp > 1.0 ? 1.0 : amp);
    } else amp = lt >= delay ? 1.0 : 0.0;
    return v * amp;
}

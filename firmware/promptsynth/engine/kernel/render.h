/* The compiled render kernel's interface (render.c), also declared to cffi by build.py. */
#include <stdint.h>

typedef struct {
    int count;              /* voices in the pool */
    int n;                  /* frames a period */
    double declick;         /* 1 / de-click length in frames */
    const double *vp;       /* (count, NCOLS) */
    const float *vp32;      /* (count, NCOLS) float32 copy */
    uint8_t *active;        /* numpy bool: one byte a voice */
    uint8_t *stealing;
    const int64_t *slot;    /* the slot each voice plays */
    double *phase;
    double *inc;
    double *t;
    const float *data[8][2];   /* per slot: each channel's row (mono: the same row twice) */
    int64_t frames[8];         /* per slot: row length, PAD included */
    int channels[8];
    float *mix;             /* (2, n) */
    double *fstate;         /* (count, 2 channels, 4): each voice's filter states */
    double *lt;             /* frames since each voice's note-on (its LFO's time) */
    const int64_t *age;     /* each voice's note-on count (its sample & hold's seed) */
    const double *fp;       /* this period's filter settings: FP_* in render.c */
} ps_voices;

typedef struct {
    double *state;          /* the limiter's [gain now, periods clipped] (engine/limiter.py) */
    double threshold;       /* linear */
    double release;         /* gain recovery per period (0..1) */
    double knee;            /* the soft clipper bends peaks above this */
    const float *ramp;      /* (n,) (j + 1) / n: the per-frame gain ramp */
    float *out;             /* (n, 2) interleaved: what the sound card gets */
} ps_master;

int ps_render(ps_voices *s, double pitch_offset);
double ps_period(ps_voices *s, ps_master *m, double pitch_offset, double g0, double g1, int *sounding);

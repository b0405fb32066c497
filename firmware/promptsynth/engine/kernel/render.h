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
    const float *data[160][2]; /* per slot (engine/slots.py's MAX_SLOTS): each channel's row (mono: the same row twice) */
    int64_t frames[160];       /* per slot: row length, PAD included */
    int channels[160];
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

typedef struct {
    double rate;
    const double *fx;       /* this period's settings: FX_* (engine/effects.py) */
    double *state;          /* smoothed wets, delay time, chorus phase, comb low-passes: ST_* */
    int64_t *pos;           /* the lines' write positions: POS_* */
    float *comb;            /* the 16 combs' lines, one after another */
    const int64_t *comb_off, *comb_len;
    int64_t comb_total;
    float *ap;              /* the 8 allpasses' lines */
    const int64_t *ap_off, *ap_len;
    int64_t ap_total;
    float *delay;           /* (2, del_len) */
    int64_t del_len;
    float *chorus;          /* (2, cho_len) */
    int64_t cho_len;
} ps_effects;

int ps_layout(void);
int ps_render(ps_voices *s, double pitch_offset);
double ps_period(ps_voices *s, ps_master *m, ps_effects *e, double pitch_offset, double g0, double g1,
                 int *sounding);

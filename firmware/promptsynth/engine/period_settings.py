"""The settings every voice shares in a period, in the one float64 array the sampler fills and
both renderers read (render.c's FP_* are the same indices, in the same order).

  FP_TYPE        the filter's type (engine/filter.py TYPES, by index)
  FP_K           the filter's damping (resonance and CC71)
  FP_DEPTH       the filter envelope's depth, semitones
  FP_OFF0/OFF1   the cutoff as a MIDI pitch at the period's start and end (the setting, CC74
                 and channel pressure, smoothed; the renderer ramps between)
  FP_RATE        the sample rate
  FP_LFO_WAVE    the LFO's shape (engine/lfo.py WAVES, by index)
  FP_LFO_RATE    its rate in cycles a frame
  FP_LFO_DELAY   frames after the note-on before it starts
  FP_LFO_FADE    frames it then takes to fade in
  FP_LFO_PITCH   its depth on pitch, semitones  } each scaled by the mod wheel and channel
  FP_LFO_CUTOFF  its depth on the cutoff, semit.} pressure as their settings say
  FP_LFO_LEVEL   its depth on the level, 0-1    }
"""

(
    FP_TYPE,
    FP_K,
    FP_DEPTH,
    FP_OFF0,
    FP_OFF1,
    FP_RATE,
    FP_LFO_WAVE,
    FP_LFO_RATE,
    FP_LFO_DELAY,
    FP_LFO_FADE,
    FP_LFO_PITCH,
    FP_LFO_CUTOFF,
    FP_LFO_LEVEL,
) = range(13)
FP_COUNT = 13

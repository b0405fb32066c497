"""`promptsynth record`: a take from the audio input into the library (count-in, level meter on
stderr, Ctrl-C or the maximum length ends it), trimmed and analysed like an import."""

from __future__ import annotations

import logging
import sys
import time

from promptsynth.config import state_dir

log = logging.getLogger("promptsynth")

EXIT_USAGE = 2


def meter(level_db: float, width: int = 30) -> str:
    filled = int(round(width * min(max((level_db + 60.0) / 60.0, 0.0), 1.0)))
    return "[" + "#" * filled + "." * (width - filled) + "] %5.1f dB" % level_db


def cmd_record(args, cfg) -> int:
    from promptsynth.daemon.recorder import CAPTURED, COUNT_IN, FAILED, RECORDING, Recorder
    from promptsynth.hw.alsa_in import AlsaInput
    from promptsynth.library.intake import store_recording
    from promptsynth.library.sounds import LibraryError, SoundLibrary

    a = cfg.audio
    device = args.device or a.capture_device
    if not device:
        log.error("no input to record from: set [audio] capture_device, or give --device")
        return EXIT_USAGE

    def open_input():
        dev = AlsaInput(device, a.rate, a.capture_channels)
        dev.open()
        return dev

    rec = Recorder(
        open_input,
        a.rate,
        a.capture_channels,
        a.record_max if args.seconds is None else args.seconds,
        a.record_count_in if args.count_in is None else args.count_in,
    )
    rec.start()
    try:
        while rec.busy:
            s = rec.status()
            if s.phase == COUNT_IN:
                sys.stderr.write("\rcount-in %d   %s " % (s.count, meter(s.level_db)))
            elif s.phase == RECORDING:
                sys.stderr.write("\rrecording %5.1f s %s " % (s.seconds, meter(s.level_db)))
            sys.stderr.flush()
            time.sleep(0.1)
    except KeyboardInterrupt:
        rec.stop()
        rec.join()
    sys.stderr.write("\n")
    s = rec.status()
    if s.phase == FAILED:
        log.error("recording failed: %s", s.error)
        return 1
    take = rec.take()
    if s.phase != CAPTURED or take is None:
        log.error("nothing was recorded")
        return 1
    try:
        sid, meta = store_recording(
            SoundLibrary(state_dir(cfg)), take, a.rate, a.rate, args.name or "recording", a.record_trim_db
        )
    except (OSError, LibraryError) as e:
        log.error("the recording was not kept: %s", e)
        return 1
    if s.overruns:
        log.warning("the input overran %d time(s): some audio was lost", s.overruns)
    print("recorded %.2f s -> sound %s (%s)" % (meta["frames"] / meta["rate"], sid, meta["name"]))
    return 0

"""The engine process: MIDI in, sampler, ALSA out, one period at a time.

Two threads, so that the audio loop never waits on anything but the sound card:
  audio loop     (here; SCHED_FIFO where allowed) drains the command deque and the MIDI inputs,
                 renders a period, writes it; no pipe I/O, no logging, no file access.
  control thread (engine/control.py; normal priority, blocked most of the time) receives
                 messages from the supervisor, maps new sounds' shared memory, rescans MIDI ports,
                 releases unused sounds and forwards notices from the audio loop.
What the control thread hands the audio loop are typed commands (the supervisor's messages and
two internal ones); the loop dispatches on their type.
Every MIDI input has its own decoder, whose handler tags notes with the input's source number
(see hw/rtmidi_in.py), so a port that vanishes releases only its own notes and pedal.
This module never imports torch: a full garbage collection with torch loaded stops every
thread for 100+ ms, so the collector is frozen after start-up as well.
"""

from __future__ import annotations

import gc
import os
import time
import traceback
from typing import Any, Callable, Dict, Optional, Tuple

from promptsynth.config import Config
from promptsynth.engine import messages as m
from promptsynth.engine.control import Control, PortLost, SoundMapped
from promptsynth.engine.midi import NOTE_ON, PROGRAM, MidiCounters, MidiDecoder, apply_to_sampler
from promptsynth.engine.params import voice_params
from promptsynth.engine.programs import Program
from promptsynth.engine.programs import table as programs_table
from promptsynth.engine.sampler import SOURCES, Sampler
from promptsynth.engine.stats import INDEX, EngineStats

AUDIO_RETRY_S = 1.0
STOP_FADE_PERIODS = 8  # about 20 ms of fade after Stop (all voices fade in 6 ms)


class Engine:
    def __init__(self, cfg: Config, conn, stats: EngineStats, audio=None, midi=None):
        self.cfg = cfg
        self.stats = stats
        a = cfg.audio
        self.sampler = Sampler(a.rate, a.period, voice_params(cfg.sampler), max_polyphony=64, renderer=a.renderer)
        # one decoder per MIDI input (source), made here so the audio loop never allocates one
        self.counters = MidiCounters()
        self.decoders = [
            MidiDecoder(
                self._stamped(apply_to_sampler(self.sampler, self._other_cc, src)), cfg.midi.channel, self.counters
            )
            for src in range(SOURCES)
        ]
        self.feeds = [d.feed for d in self.decoders]
        self.decoder = self.decoders[0]  # the engine's own: Midi messages
        if audio is None:
            from promptsynth.hw.alsa_out import AlsaOutput

            audio = AlsaOutput(a.device, a.rate, a.period, a.periods, a.format)
        self.audio = audio
        if midi is None:
            from promptsynth.hw.rtmidi_in import MidiInput

            midi = MidiInput(cfg.midi.api, cfg.midi.port, cfg.midi.virtual, sources=SOURCES)
        self.midi = midi
        self.control = Control(cfg, conn, midi, stats)
        self.commands = self.control.commands  # from the control thread
        self.outbox = self.control.outbox  # notices to the supervisor (sent by the control thread)
        self._dispatch: Dict[type, Callable[[Any], None]] = {
            SoundMapped: self._load,
            PortLost: self._port_lost,
            m.Midi: self._midi,
            m.SetParams: self._set_params,
            m.SetTune: self._set_tune,
            m.SetKeymap: self._set_keymap,
            m.SetPrograms: self._set_programs,
            m.Panic: self._panic,
            m.Stop: self._stop_fade,
        }
        self._programs: Dict[Tuple[int, int], Program] = {}  # by (bank, number): what Program Change plays
        self._program_channel = 0  # 1-16; 0: Program Change is not listened to
        self._stopping = 0
        self._next_open = 0.0  # the next attempt to open a missing sound card
        self._next_warn = 0.0  # the next "still unavailable" notice

    def _other_cc(self, number: int, value: int) -> None:
        """A controller the sampler does not use: published for the panel's CC learn."""
        v = self.stats.values
        v[INDEX["cc_number"]] = number
        v[INDEX["cc_value"]] = value
        v[INDEX["cc_count"]] += 1

    def _stamped(self, play):
        """Record when each note-on was picked up and how much audio was queued ahead of it."""
        v = self.stats.values
        i_time, i_queued, i_count = INDEX["note_on_time"], INDEX["note_on_queued"], INDEX["note_on_count"]
        i_note = INDEX["last_note"]
        clock = time.monotonic

        def handle(kind: int, a: int, b: int) -> None:
            if kind == NOTE_ON:
                v[i_time] = clock()
                v[i_queued] = self.audio.queued()
                v[i_count] += 1
                v[i_note] = a
            elif kind == PROGRAM:
                self._program(a, b % 16, b // 16 - 1)
                return
            play(kind, a, b)

        return handle

    # ---- commands, dispatched by the audio loop at the period boundary -----------------------
    def _command(self, cmd) -> None:
        handler = self._dispatch.get(type(cmd))
        if handler is not None:
            handler(cmd)
        else:
            self.outbox.append(m.Notice("error", "engine: unknown command %s" % type(cmd).__name__))

    def _load(self, cmd: SoundMapped) -> None:
        try:
            self.control.freed.extend(self.sampler.load(cmd.sound, cmd.current))
        except ValueError as e:  # every slot held by the keymap: the sound is not taken
            self.control.freed.append(cmd.sound.sound_id)
            self.outbox.append(m.Notice("error", "sound %d not loaded: %s" % (cmd.sound.sound_id, e)))
            return
        if cmd.current:
            self.stats.values[INDEX["sound_id"]] = cmd.sound.sound_id

    def _set_programs(self, cmd: m.SetPrograms) -> None:
        self._programs = programs_table(cmd.programs) if cmd.channel else {}
        self._program_channel = cmd.channel
        ids = {sid for p in self._programs.values() for sid in p.sound_ids()}
        self.control.freed.extend(self.sampler.pin_programs(ids))

    def _program(self, number: int, channel: int, bank: int) -> None:
        """A Program Change: switch to the resident program now (between two periods), or ask
        the daemon for one the table does not hold."""
        if not self._program_channel or channel != self._program_channel - 1:
            return
        if bank < 0:  # no Bank Select yet: the bank the table holds
            bank = next(iter(self._programs))[0] if self._programs else -1
        prog = self._programs.get((bank, number))
        if prog is None:
            self.outbox.append(m.ProgramWanted(bank, number))
            return
        try:
            if prog.zones is not None:
                self.sampler.set_keymap(prog.zones)
            else:
                self.sampler.set_current(prog.sound)
                self.sampler.set_keymap(None)
                self.stats.values[INDEX["sound_id"]] = prog.sound
            self.sampler.set_params(**prog.params)
        except (KeyError, ValueError) as e:
            self.outbox.append(m.Notice("error", "program %d of bank %d not played: %s" % (number, bank, e)))
            return
        self.outbox.append(m.ProgramChanged(bank, number, prog.name))

    def _set_keymap(self, cmd: m.SetKeymap) -> None:
        try:
            self.sampler.set_keymap(cmd.zones)
        except (KeyError, ValueError) as e:  # refused whole: the keymap before plays on
            self.outbox.append(m.Notice("error", "keymap refused: %s" % e.args[0]))
            return
        self.control.freed.extend(self.sampler.collect_unused())

    def _port_lost(self, cmd: PortLost) -> None:
        self.sampler.all_notes_off(cmd.source)
        self.control.sources_freed.append(cmd.source)  # its number may now be given to a new port

    def _midi(self, cmd: m.Midi) -> None:
        self.decoder.feed(cmd.data)

    def _set_params(self, cmd: m.SetParams) -> None:
        for key, value in cmd.changes.items():
            try:
                self.sampler.set_params(**{key: value})
            except KeyError:
                self.outbox.append(m.Notice("error", "unknown engine parameter %r" % key))

    def _set_tune(self, cmd: m.SetTune) -> None:
        self.sampler.set_tune(cmd.root, cmd.tune)

    def _panic(self, cmd: m.Panic) -> None:
        self.sampler.reset_controllers()
        self.sampler.all_sound_off()

    def _stop_fade(self, cmd: m.Stop) -> None:
        if not self._stopping:
            self.sampler.all_sound_off()
            self._stopping = STOP_FADE_PERIODS

    # ---- audio loop --------------------------------------------------------------------------
    def _open_audio(self, now: float) -> None:
        """One attempt to open the missing sound card (the loop makes one every AUDIO_RETRY_S)."""
        from promptsynth.hw.alsa_out import FORMAT_CODES

        audio, cfg, v = self.audio, self.cfg.audio, self.stats.values
        self._next_open = now + AUDIO_RETRY_S
        opened = audio.try_open()
        self.control.audio_tried.set()
        if opened:
            v[INDEX["audio_ok"]] = 1
            v[INDEX["audio_opens"]] += 1
            v[INDEX["buffer_frames"]] = audio.buffer_frames
            v[INDEX["format_code"]] = FORMAT_CODES.get(audio.format, 0)
            self.outbox.append(
                m.Notice(
                    "info",
                    "audio: %s open, %s, %d Hz, period %d, buffer %d"
                    % (audio.device, audio.format, cfg.rate, cfg.period, audio.buffer_frames),
                )
            )
        elif now >= self._next_warn:
            self._next_warn = now + 30.0
            self.outbox.append(
                m.Notice(
                    "warning",
                    "audio: %s unavailable (%s), retrying every %gs" % (audio.device, audio.error, AUDIO_RETRY_S),
                )
            )

    def run(self) -> None:
        cfg = self.cfg.audio
        control = self.control
        control.start()  # before SCHED_FIFO, so the control thread keeps the normal policy
        from promptsynth.hw import realtime

        rt, locked, warnings = realtime.setup(cfg.rt_priority, cfg.lock_memory)
        for w in warnings:
            self.outbox.append(m.Notice("warning", w))
        if self.sampler.renderer_warning:
            self.outbox.append(m.Notice("warning", self.sampler.renderer_warning))
        v = self.stats.values
        v[INDEX["kernel"]] = self.sampler.renderer.name == "kernel"
        v[INDEX["realtime"]] = rt
        v[INDEX["memory_locked"]] = locked
        v[INDEX["rate"]] = cfg.rate
        period_s = cfg.period / cfg.rate
        sampler, audio, midi, feeds = self.sampler, self.audio, self.midi, self.feeds
        commands, stats = self.commands, self.stats
        counters = self.counters
        clock = time.monotonic
        perf = time.perf_counter
        deadline = clock()
        written = 0
        ready_sent = False
        errors = 0
        iw = INDEX  # a local name: looked up every period
        from promptsynth.hw.alsa_out import LOST, XRUN

        gc.collect()
        gc.freeze()
        gc.disable()
        next_gc = clock() + 60.0
        next_house = 0.0
        try:
            while True:
                try:
                    while commands:
                        self._command(commands.popleft())
                    if self._stopping:
                        self._stopping -= 1
                        if self._stopping == 0:
                            break
                    midi.poll(feeds)
                    t0 = perf()
                    buf = sampler.render()
                    dt = (perf() - t0) * 1e6
                    stats.push_render(dt)
                    v[iw["render_us"]] = dt
                    if dt > v[iw["render_us_max"]]:
                        v[iw["render_us_max"]] = dt
                except Exception:  # never let a bug end the sound for good
                    errors += 1
                    if errors <= 5 or errors % 1000 == 0:
                        self.outbox.append(m.Notice("error", "engine error %d: %s" % (errors, traceback.format_exc())))
                    sampler.all_sound_off()
                    buf = sampler.out
                    buf.fill(0.0)
                if audio.pcm is None:
                    now = clock()
                    if now >= self._next_open:
                        self._open_audio(now)
                    if audio.pcm is None:
                        # no device: pace the loop ourselves so MIDI and voices run on in time
                        v[iw["audio_ok"]] = 0
                        deadline = max(deadline + period_s, now - 0.1)
                        delay = deadline - clock()
                        if delay > 0:
                            time.sleep(delay)
                        v[iw["periods"]] += 1
                        v[iw["heartbeat"]] = clock()
                        continue
                r = audio.write(buf)
                if r == XRUN:
                    v[iw["xruns"]] += 1
                elif r == LOST:
                    v[iw["audio_ok"]] = 0
                    self._next_open = clock() + AUDIO_RETRY_S
                    self._next_warn = self._next_open + 30.0
                    deadline = clock()
                    self.outbox.append(
                        m.Notice(
                            "error",
                            "audio: %s lost (%s), retrying every %gs" % (audio.device, audio.error, AUDIO_RETRY_S),
                        )
                    )
                    continue
                written += 1
                if not ready_sent and written >= 2:
                    ready_sent = True
                    self.outbox.append(m.Ready(cfg.rate, audio.buffer_frames, audio.format or ""))
                now = clock()
                v[iw["periods"]] += 1
                v[iw["heartbeat"]] = now
                v[iw["voices"]] = sampler.voices_sounding
                v[iw["peak"]] = sampler.peak
                v[iw["clock_bpm"]] = sampler.clock_bpm
                v[iw["steals"]] = sampler.steals
                v[iw["limiter_clipped"]] = sampler.limiter.clipped
                v[iw["midi_messages"]] = counters.messages
                v[iw["midi_events"]] = counters.events
                v[iw["midi_malformed"]] = counters.malformed
                v[iw["midi_sysex"]] = counters.sysex
                v[iw["midi_ignored"]] = counters.ignored
                v[iw["midi_filtered"]] = counters.filtered
                if now >= next_house:
                    next_house = now + 1.0
                    control.freed.extend(sampler.collect_unused())
                    if now >= next_gc:  # cheap: everything from start-up is frozen
                        next_gc = now + 60.0
                        gc.collect(1)
        finally:
            control.stop.set()
            # no drain: the fade after Stop ends periods before the buffer's last frame, so
            # closing drops only silence
            audio.close()
            control.join(timeout=1.0)
            control.flush()
            midi.close()


def engine_main(cfg: Config, conn, stats: EngineStats, env: Optional[Dict[str, str]] = None) -> None:
    """Entry point of the spawned engine process."""
    import signal

    # Ctrl-C in a terminal and a kill of the whole group reach every process: the supervisor
    # alone decides when the engine stops, so that it always fades out instead of cutting off
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if env:
        os.environ.update(env)
    engine = Engine(cfg, conn, stats)
    try:
        engine.run()
    finally:
        try:
            conn.close()
        except Exception:
            pass
    if getattr(engine.audio, "parked", None):
        # a stalled PCM would block the interpreter's finalisation in its close(): leave now
        os._exit(0)

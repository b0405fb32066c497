"""Values as the panel shows them: one function per unit, so every page writes a unit the same
way. Each takes the value in the unit the schema stores it in and returns a short string; a
missing value (None) is shown as MISSING, never as "None"."""

from __future__ import annotations

from typing import Optional

MISSING = "--"
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _trim(s: str) -> str:
    """'1.30' -> '1.3', '2.00' -> '2' (no trailing zeros to read past)."""
    return s.rstrip("0").rstrip(".") if "." in s else s


def ms(v: Optional[float]) -> str:
    """A time in milliseconds: '2.5 ms', '950 ms', '1.35 s', '12.5 s' (never '1e+03ms')."""
    if v is None:
        return MISSING
    v = float(v)
    if abs(v) < 10:
        return "%s ms" % _trim("%.1f" % v)
    if abs(v) < 999.5:
        return "%d ms" % round(v)
    if abs(v) < 9995:
        return "%s s" % _trim("%.2f" % (v / 1000))
    return "%s s" % _trim("%.1f" % (v / 1000))


def seconds(v: Optional[float]) -> str:
    """A time in seconds, written as ms() writes it ('0.95' -> '950 ms', '1.3' -> '1.3 s')."""
    return MISSING if v is None else ms(float(v) * 1000)


def db(v: Optional[float]) -> str:
    """A level in dB with its sign: '-6.0 dB', '+12.0 dB', '0.0 dB'."""
    if v is None:
        return MISSING
    r = round(float(v), 1)
    return "0.0 dB" if r == 0 else "%+.1f dB" % r


def cents(v: Optional[float]) -> str:
    """Cents with their sign: '+12 c', '-5 c', '0 c' (never '-0c')."""
    if v is None:
        return MISSING
    r = int(round(float(v)))
    return "0 c" if r == 0 else "%+d c" % r


def semitones(v: Optional[float]) -> str:
    """A pitch range in semitones: '2 st', '0.5 st'."""
    return MISSING if v is None else "%s st" % _trim("%.1f" % float(v))


def note(n: Optional[int]) -> str:
    """A MIDI note as its name, MIDI 60 = C4 (the convention of every page): 'C4', 'F#-1'."""
    if n is None:
        return MISSING
    n = int(n)
    return "%s%d" % (NOTE_NAMES[n % 12], n // 12 - 1)


def percent(v: Optional[float]) -> str:
    """A value stored in percent: '100 %', '35 %'."""
    return MISSING if v is None else "%d %%" % round(float(v))


def level(v: Optional[float]) -> str:
    """A level stored as 0-1, shown in percent: '0.7' -> '70 %'."""
    return MISSING if v is None else percent(float(v) * 100)


def hz(v: Optional[float]) -> str:
    """A frequency: '5.5 Hz', '12 Hz', '1.2 kHz'."""
    if v is None:
        return MISSING
    v = float(v)
    if v >= 1000:
        return "%s kHz" % _trim("%.2f" % (v / 1000))
    return "%s Hz" % _trim("%.1f" % v if v < 100 else "%d" % round(v))


def count(v: Optional[int]) -> str:
    """A whole number: '25'."""
    return MISSING if v is None else "%d" % int(v)


def decimal(v: Optional[float], places: int = 1) -> str:
    """A plain number with a fixed number of places: guidance '3.5'."""
    return MISSING if v is None else "%.*f" % (places, float(v))


def choice(v: Optional[str]) -> str:
    """A named choice ('forward', 'dpm'), or MISSING."""
    return MISSING if v is None or v == "" else str(v)

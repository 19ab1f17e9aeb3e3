"""Deterministic, music-like synthetic tracks with a known tempo and key.

The platform's "sample world" needs uploads whose ground truth is known so
that tempo/key extraction and preview picking can be scored. Tracks are
therefore built to make tempo and key unambiguous the way real producers do:
a kick on the beats, a bass and kick tuned to the tonic, progressions that
start and end on the tonic, a harmonic-minor dominant in minor keys, and a
verse/chorus structure where the chorus is the loudest, densest and most
repeated part.

Rendering is loop based: each section kind renders its bar loop once (plus an
"ending" variant carrying the cadence and drum fill) and the loops are
overlap-added along the timeline, so cost grows with the number of distinct
sections rather than with the track length.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np
from scipy import signal

__all__ = [
    "STYLES",
    "TrackSpec",
    "Section",
    "song_structure",
    "synthesize",
    "synthesize_noise",
    "key_label",
]

Mode = Literal["major", "minor"]

STYLES: tuple[str, ...] = (
    "rumba",
    "ndombolo",
    "soukous",
    "afrobeats",
    "amapiano",
    "bongo_flava",
    "gospel",
    "coupe_decale",
    "highlife",
    "pop",
    "hiphop",
    "rnb",
    "rock",
    "jazz",
    "electronic",
    "reggae",
)

# One spelling per pitch class; mir_eval treats enharmonic names as equal.
_PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_PEAK_CEILING_DB = -0.3
_STEPS_PER_BAR = 16
_BEATS_PER_BAR = 4


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class TrackSpec:
    """Everything that determines a synthetic track; equal specs give equal audio."""

    bpm: float
    tonic: int
    mode: Mode
    duration_s: float
    style: str
    seed: int
    swing: float = 0.0
    level_db: float = -16.0

    def __post_init__(self) -> None:
        if not 40.0 <= self.bpm <= 240.0:
            raise ValueError(f"bpm {self.bpm} outside the supported 40..240 (designed for 60..180)")
        if self.tonic not in range(12):
            raise ValueError(f"tonic must be a pitch class 0..11, got {self.tonic}")
        if self.mode not in ("major", "minor"):
            raise ValueError(f"mode must be 'major' or 'minor', got {self.mode!r}")
        if self.style not in STYLES:
            raise ValueError(f"unknown style {self.style!r}; expected one of {STYLES}")
        if not self.duration_s > 0:
            raise ValueError(f"duration_s must be positive, got {self.duration_s}")
        if not 0.0 <= self.swing <= 0.33:
            raise ValueError(f"swing must be within 0..0.33, got {self.swing}")
        if not self.level_db < _PEAK_CEILING_DB:
            raise ValueError(f"level_db must be below {_PEAK_CEILING_DB} dBFS, got {self.level_db}")


@dataclass(frozen=True)
class Section:
    """A span of the song; ``energy`` in 0..1 ranks how loud/dense it is."""

    name: str
    start_s: float
    end_s: float
    energy: float


def key_label(tonic: int, mode: str) -> str:
    """Key in mir_eval's format (e.g. ``"Eb minor"``), the ground truth for scoring."""
    if mode not in ("major", "minor"):
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    return f"{_PITCH_NAMES[tonic % 12]} {mode}"


# --------------------------------------------------------------------------- music theory

_SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}

# Progressions as scale degrees (0 = tonic); "4H" is the harmonic-minor dominant
# (major V with the leading tone), the strongest cue that a key is minor. Minor
# progressions avoid III and VII: they carry the flat 7th and, leaned on, make
# the relative major the better fit for key profiles.
_PROGRESSIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "major": (
        ("0", "3", "4", "0"),
        ("0", "5", "3", "4"),
        ("0", "4", "5", "3"),
        ("0", "3", "0", "4"),
        ("0", "1", "4", "0"),
        ("0", "3", "5", "4"),
    ),
    "minor": (
        ("0", "3", "4H", "0"),
        ("0", "5", "3", "4H"),
        ("0", "5", "4H", "0"),
        ("0", "3", "0", "4H"),
        ("0", "3", "5", "4H"),
        ("0", "5", "3", "0"),
    ),
}
_BRIDGE_PROGRESSIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "major": (("0", "2", "3", "4"), ("0", "5", "1", "4"), ("0", "3", "1", "4")),
    "minor": (("0", "3", "5", "4H"), ("0", "5", "1", "4H"), ("0", "5", "3", "4H")),
}


@dataclass(frozen=True)
class _Chord:
    """A chord as pitch classes relative to the tonic (root first)."""

    root: int
    tones: tuple[int, ...]
    harmonic: bool  # uses the raised 7th of harmonic minor


def _chord(degree: str, mode: str, sevenths: bool) -> _Chord:
    """Stack diatonic thirds on a scale degree."""
    harmonic = degree.endswith("H")
    d = int(degree.rstrip("H"))
    scale = list(_SCALES[mode])
    if harmonic:
        scale[6] = 11
    count = 4 if sevenths else 3
    tones = tuple(scale[(d + 2 * i) % 7] for i in range(count))
    if sevenths and mode == "minor" and d == 0:
        # i(add9), not i7: a minor 7th on the tonic pulls key finders to the relative major.
        tones = tones[:3] + (scale[1],)
    return _Chord(root=tones[0], tones=tones, harmonic=harmonic)


def _scale_for(chord: _Chord, mode: str) -> tuple[int, ...]:
    """Scale the melody uses over a chord (harmonic minor over the raised V)."""
    scale = list(_SCALES[mode])
    if chord.harmonic:
        scale[6] = 11
    return tuple(scale)


def _midi_to_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _place(pc: int, low: int) -> int:
    """Lowest MIDI note of pitch class ``pc`` at or above ``low``."""
    return low + (pc - low) % 12


# --------------------------------------------------------------------------- styles


@dataclass(frozen=True)
class _Style:
    """Per-style arrangement: patterns are 16 (or 32) steps per bar.

    Pattern characters give velocities: X=1.0 x=0.7 o=0.45 -=0.25 .=rest.
    """

    kick: str
    snare: str
    hat: str
    chord_voice: str
    chord_rhythm: str
    bass_voice: str
    bass_rhythm: str
    lead_voice: str
    open_hat: str = ""
    clap: str = ""
    rim: str = ""
    shaker: str = ""
    ride: str = ""
    conga_hi: str = ""
    conga_lo: str = ""
    bell: str = ""
    arp_voice: str = ""
    arp_rhythm: str = ""
    pad_voice: str = ""
    chord_gate: float = 0.9
    sevenths: bool = False
    swing_unit: float = 0.25  # beats: 0.25 swings 16ths, 0.5 swings 8ths
    lead_density: float = 0.5
    kick_decay: float = 0.22
    walking_bass: bool = False
    fast_hats: bool = False  # keep 16th hats even at fast tempos


_FOUR = "X...X...X...X..."
_BACKBEAT = "....X.......X..."

_STYLE_TABLE: dict[str, _Style] = {
    "rumba": _Style(
        kick="X...x...X...x...", snare="....o.......o...", hat="x.o.x.o.x.o.x.o.",
        rim="X..X..X...X.X...", shaker="x-o-x-o-x-o-x-o-", conga_hi="..x...x...x...xx",
        conga_lo="x.......x.......", chord_voice="pluck", chord_rhythm="x.......x.......",
        arp_voice="pluck", arp_rhythm="x.x.x.x.x.x.x.x.", bass_voice="pluck_bass",
        bass_rhythm="X.....f.X.....f.", lead_voice="pluck_lead", chord_gate=0.8,
        lead_density=0.45,
    ),
    "ndombolo": _Style(
        kick=_FOUR, snare="....X.......X..-", hat="xoxoxoxoxoxoxoxo", open_hat="..x...x...x...x.",
        shaker="xoxoxoxoxoxoxoxo", conga_hi="..x..x....x..x..", conga_lo="x.......x.......",
        chord_voice="organ", chord_rhythm="..x...x...x...x.", arp_voice="pluck",
        arp_rhythm="xxxxxxxxxxxxxxxx", bass_voice="synth_bass", bass_rhythm="X..f..X.X..f..X.",
        lead_voice="square", chord_gate=0.4, lead_density=0.55, fast_hats=True,
    ),
    "soukous": _Style(
        kick=_FOUR, snare="....X..-....X...", hat="x.xox.xox.xox.xo", open_hat="",
        shaker="xoxoxoxoxoxoxoxo", conga_hi="..x...x...x...x.", conga_lo="x.......x..x....",
        chord_voice="pluck", chord_rhythm="x...x...x...x...", arp_voice="pluck",
        arp_rhythm="xxxxxxxxxxxxxxxx", bass_voice="pluck_bass", bass_rhythm="X.f.X.f.X.f.X.o.",
        lead_voice="pluck_lead", chord_gate=0.5, lead_density=0.5, fast_hats=True,
    ),
    "afrobeats": _Style(
        kick="X...X..xX...X...", snare="", hat="x.x.x.x.x.x.x.x.", clap="....X.......X...",
        rim="...x..x....x..x.", shaker="xoxxxoxxxoxxxoxx", conga_hi="......x.......x.",
        conga_lo="..x.......x.....", chord_voice="epiano", chord_rhythm="x..x..x.....x...",
        pad_voice="pad", bass_voice="sub", bass_rhythm="X..x..x.X.......", lead_voice="flute",
        chord_gate=0.7, lead_density=0.5,
    ),
    "amapiano": _Style(
        kick=_FOUR, snare="", hat="..x...x...x...x.", clap="....X.......X...",
        shaker="xoxoxoxoxoxoxoxo", open_hat="", chord_voice="piano",
        chord_rhythm="x..x..x.x..x..x.", pad_voice="pad", bass_voice="log_drum",
        bass_rhythm="X..x..x...x.x...", lead_voice="marimba", sevenths=True, chord_gate=0.5,
        lead_density=0.4, kick_decay=0.18,
    ),
    "bongo_flava": _Style(
        kick="X.....x.X.......", snare=_BACKBEAT, hat="x.x.x.x.x.x.x.x.", clap="....X.......X...",
        shaker="x-o-x-o-x-o-x-o-", conga_hi="......x.....x...", chord_voice="epiano",
        chord_rhythm="x.......x.......", arp_voice="pluck", arp_rhythm="x..x..x.x..x..x.",
        bass_voice="sub", bass_rhythm="X.....x.X.......", lead_voice="flute", chord_gate=0.9,
        lead_density=0.55,
    ),
    "gospel": _Style(
        kick="X.....x.X.......", snare=_BACKBEAT, hat="x.x.x.x.x.x.x.x.", clap="....X.......X...",
        chord_voice="organ", chord_rhythm="x...............", pad_voice="",
        arp_voice="piano", arp_rhythm="x..x..x.x..x..x.", bass_voice="synth_bass",
        bass_rhythm="X.....x.X...x...", lead_voice="piano_lead", chord_gate=0.95,
        lead_density=0.5, swing_unit=0.5,
    ),
    "coupe_decale": _Style(
        kick=_FOUR, snare="....X.......X.xx", hat="xxxxxxxxxxxxxxxx", open_hat="..x...x...x...x.",
        clap="....X.......X...", conga_hi="..x..x..x..x..x.", chord_voice="brass",
        chord_rhythm="x..x..x.....x...", arp_voice="pluck", arp_rhythm="x.xxx.xxx.xxx.xx",
        bass_voice="synth_bass", bass_rhythm="X.xX.xX.X.xX.xX.", lead_voice="square",
        chord_gate=0.35, lead_density=0.6, fast_hats=True,
    ),
    "highlife": _Style(
        kick="X...x...X...x...", snare="....o.......o...", hat="x.x.x.x.x.x.x.x.",
        bell="X.x.xx.x.x.x", conga_hi="..x...x...x...x.", conga_lo="x.......x.......",
        chord_voice="brass", chord_rhythm="x.....x.........", arp_voice="pluck",
        arp_rhythm="x.xxx.x.x.xxx.x.", bass_voice="pluck_bass", bass_rhythm="X..x..x.X..x..x.",
        lead_voice="pluck_lead", chord_gate=0.5, lead_density=0.5, swing_unit=0.5,
    ),
    "pop": _Style(
        kick="X.......X.x.....", snare=_BACKBEAT, hat="x.x.x.x.x.x.x.x.", clap="....x.......x...",
        chord_voice="piano", chord_rhythm="x.x.x.x.x.x.x.x.", pad_voice="pad",
        bass_voice="synth_bass", bass_rhythm="X.x.X.x.X.x.X.x.", lead_voice="square",
        chord_gate=0.8, lead_density=0.55,
    ),
    "hiphop": _Style(
        kick="X......xX.x.....", snare=_BACKBEAT, hat="x.x.x.x.x.x.x.x.", open_hat="",
        rim="", chord_voice="epiano", chord_rhythm="x.......x.......", bass_voice="sub",
        bass_rhythm="X......xX.x.....", lead_voice="marimba", sevenths=True, chord_gate=0.9,
        lead_density=0.4, kick_decay=0.35,
    ),
    "rnb": _Style(
        kick="X......xX.......", snare=_BACKBEAT, hat="xoxoxoxoxoxoxoxo", chord_voice="epiano",
        chord_rhythm="x.......x.......", pad_voice="pad", bass_voice="sub",
        bass_rhythm="X......xX.....x.", lead_voice="flute", sevenths=True, chord_gate=0.95,
        lead_density=0.45, kick_decay=0.3,
    ),
    "rock": _Style(
        kick="X.......X.X.....", snare=_BACKBEAT, hat="x.x.x.x.x.x.x.x.", chord_voice="power",
        chord_rhythm="x.x.x.x.x.x.x.x.", pad_voice="organ", bass_voice="synth_bass",
        bass_rhythm="x.x.x.x.x.x.x.x.",
        lead_voice="power_lead", chord_gate=0.85, lead_density=0.45,
    ),
    "jazz": _Style(
        kick="o...o...o...o...", snare="", hat="....x.......x...", ride="X..xX...X..xX...",
        chord_voice="piano", chord_rhythm="...x......x.....", bass_voice="upright",
        bass_rhythm="X...X...X...X...", lead_voice="brass", sevenths=True, chord_gate=0.6,
        lead_density=0.5, swing_unit=0.5, walking_bass=True,
    ),
    "electronic": _Style(
        kick=_FOUR, snare="", hat="x.x.x.x.x.x.x.x.", open_hat="..x...x...x...x.",
        clap="....X.......X...", chord_voice="saw", chord_rhythm="..x...x...x...x.",
        pad_voice="pad", arp_voice="square", arp_rhythm="x.xxx.xxx.xxx.xx",
        bass_voice="synth_bass", bass_rhythm="..X...X...X...X.", lead_voice="square",
        chord_gate=0.4, lead_density=0.45,
    ),
    "reggae": _Style(
        kick=_FOUR, snare="........X.......", hat="x.x.x.x.x.x.x.x.", rim="........x.......",
        chord_voice="organ", chord_rhythm="..x...x...x...x.", arp_voice="pluck",
        arp_rhythm="..x...x...x...x.", bass_voice="sub", bass_rhythm="X..x..x.X.....x.",
        lead_voice="brass", chord_gate=0.3, lead_density=0.45, swing_unit=0.5,
    ),
}

# At fast tempos (>= 150 BPM) the backbeat is softened and the kick lifted, so
# every beat weighs the same and the pulse is not heard in pairs (half time).
_FAST_BACKBEAT = 0.45
_FAST_KICK = 1.25
_VELOCITY = {"X": 1.0, "x": 0.7, "o": 0.45, "-": 0.25}


def _step_weight(step: float, bpm: float, tonal: bool = False) -> float:
    """Velocity scale for a 16th-grid step at this tempo.

    Listeners and beat trackers lock onto the strongest periodicity near a
    moderate pulse: at slow tempos loud off-beat 8ths pull them to double
    time, at fast tempos syncopations pull them to half time. Softening the
    subdivisions keeps the written tempo the obvious one; the groove stays.
    Pitched parts are softened more at fast tempos because every chord or
    note change is a strong onset.
    """
    if step % 4 == 0:
        return 1.0
    eighth = step % 2 == 0
    if bpm < 100.0:
        t = min(max((bpm - 70.0) / 30.0, 0.0), 1.0)
        return (0.12 + 0.88 * t) if eighth else (0.35 + 0.65 * t)
    if tonal and bpm > 130.0:
        return 1.0 - 0.7 * min((bpm - 130.0) / 30.0, 1.0)
    if bpm > 140.0:
        t = min((bpm - 140.0) / 30.0, 1.0)
        return (1.0 - 0.6 * t) if eighth else (1.0 - 0.5 * t)
    return 1.0


def _pattern_steps(
    pattern: str, bar: int, bpm: float | None = None, tonal: bool = False
) -> list[tuple[float, float]]:
    """(step, velocity) pairs of one bar of a pattern, cycling longer patterns.

    With ``bpm`` the velocities get the tempo's metric weighting.
    """
    if not pattern:
        return []
    hits = []
    for step in range(_STEPS_PER_BAR):
        ch = pattern[(bar * _STEPS_PER_BAR + step) % len(pattern)]
        if ch in _VELOCITY:
            weight = 1.0 if bpm is None else _step_weight(step, bpm, tonal)
            hits.append((float(step), _VELOCITY[ch] * weight))
    return hits


def _accent_beats(pattern: str, bpm: float) -> str:
    """At fast tempos a hat accent on every beat keeps the pulse from reading as half time."""
    if bpm < 150.0:
        return pattern
    pattern = pattern or "." * _STEPS_PER_BAR
    return "".join("X" if i % 4 == 0 else ch for i, ch in enumerate(pattern))


def _kick_for_tempo(pattern: str, bpm: float) -> str:
    """At fast tempos: a full kick on every beat and no syncopated kicks.

    Off-beat kicks that are groove at 95 BPM group the beats in pairs at 165
    and make the song read as half time.
    """
    if bpm < 140.0:
        return pattern
    if bpm >= 155.0:
        return "X..." * 4
    return "".join("X" if i % 4 == 0 else ch for i, ch in enumerate(pattern))


def _quarters_for_tempo(pattern: str, bpm: float) -> str:
    """At fast tempos let a pitched part sound on every beat.

    Chords or bass on beats 1 and 3 only are heard as the pulse of a
    half-speed song; filling in 2 and 4 keeps the written tempo.
    """
    if not pattern or bpm < 150.0:
        return pattern
    return "".join(
        ("x" if ch not in _VELOCITY else ch) if i % 4 == 0 else ch for i, ch in enumerate(pattern)
    )


def _thin_for_tempo(pattern: str, bpm: float, fast_ok: bool) -> str:
    """Drop 16th-note offbeats at fast tempos, where they blur the beat."""
    if not pattern or bpm < 140 or (fast_ok and bpm < 175):
        return pattern
    return "".join(ch if i % 2 == 0 else "." for i, ch in enumerate(pattern))


# --------------------------------------------------------------------------- structure

_SECTION_ENERGY = {"intro": 0.35, "verse": 0.6, "chorus": 1.0, "bridge": 0.5, "outro": 0.3}
_LADDER: tuple[tuple[tuple[str, int], ...], ...] = (
    (("intro", 2), ("chorus", 4), ("outro", 2)),
    (("intro", 2), ("verse", 4), ("chorus", 4), ("outro", 2)),
    (("intro", 2), ("verse", 4), ("chorus", 4), ("verse", 4), ("chorus", 4), ("outro", 2)),
    (
        ("intro", 2), ("verse", 4), ("chorus", 4), ("verse", 4), ("chorus", 4),
        ("bridge", 2), ("chorus", 4), ("outro", 2),
    ),
    (
        ("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8),
        ("bridge", 4), ("chorus", 8), ("outro", 4),
    ),
)
_CAPS = {"verse": 16, "chorus": 16, "intro": 8, "bridge": 8, "outro": 8}


def _bar_seconds(bpm: float) -> float:
    return _BEATS_PER_BAR * 60.0 / bpm


def _plan_bars(total_bars: int) -> list[tuple[str, int]]:
    """Section names and bar counts summing to ``total_bars``.

    Picks the largest template that fits, grows sections in 4-bar phrases up
    to a cap (choruses first, so they stay the longest part), then for long
    songs inserts extra verse/chorus pairs before the last chorus, so the
    chorus is always the most repeated part. A remainder lengthens the final
    chorus (whole phrases) and the outro (odd bars).
    """
    if total_bars < sum(n for _, n in _LADDER[0]):
        return [("chorus", total_bars)]
    fitting = [t for t in _LADDER if sum(n for _, n in t) <= total_bars]
    plan = [[name, bars] for name, bars in fitting[-1]]
    extra = total_bars - sum(bars for _, bars in plan)
    for groups in ((("chorus",), ("verse",)), (("intro", "bridge", "outro"),)):
        grown = True
        while grown:
            grown = False
            for group in groups:
                for part in plan:
                    if extra >= 4 and part[0] in group and part[1] + 4 <= _CAPS[part[0]]:
                        part[1] += 4
                        extra -= 4
                        grown = True
    last_chorus = max(i for i, part in enumerate(plan) if part[0] == "chorus")
    while extra >= 16:
        bars = min(16, extra // 8 * 4)
        plan[last_chorus:last_chorus] = [["verse", bars], ["chorus", bars]]
        last_chorus += 2
        extra -= 2 * bars
    plan[last_chorus][1] += extra // 4 * 4  # the final chorus repeats out
    plan[-1][1] += extra % 4
    return [(name, bars) for name, bars in plan]


def _section_bars(spec: TrackSpec) -> list[tuple[str, int, int]]:
    """(name, first bar, bar count) for the whole song."""
    total = max(1, math.ceil(spec.duration_s / _bar_seconds(spec.bpm) - 1e-6))
    out, bar = [], 0
    for name, count in _plan_bars(total):
        out.append((name, bar, count))
        bar += count
    return out


def song_structure(spec: TrackSpec) -> list[Section]:
    """Sections on bar boundaries covering exactly ``[0, duration_s]``."""
    bar_s = _bar_seconds(spec.bpm)
    sections = []
    for name, first, count in _section_bars(spec):
        start = first * bar_s
        end = min((first + count) * bar_s, spec.duration_s)
        sections.append(Section(name, start, end, _SECTION_ENERGY[name]))
    last = sections[-1]
    sections[-1] = Section(last.name, last.start_s, spec.duration_s, last.energy)
    return sections


# --------------------------------------------------------------------------- randomness


def _rng(spec: TrackSpec, *salt: int | str) -> np.random.Generator:
    """Generator seeded from the spec and a purpose tag (stable across runs)."""
    words = [
        spec.seed & 0xFFFFFFFF,
        zlib.crc32(spec.style.encode()),
        spec.tonic,
        1 if spec.mode == "minor" else 0,
        int(round(spec.bpm * 1000)),
    ]
    words += [zlib.crc32(s.encode()) if isinstance(s, str) else int(s) & 0xFFFFFFFF for s in salt]
    return np.random.default_rng(np.random.SeedSequence(words))


# --------------------------------------------------------------------------- sound sources

_TABLE_BITS = 14  # 16384-entry tables: nearest lookup is clean to about -50 dB


@lru_cache(maxsize=512)
def _wavetable(amps: tuple[float, ...]) -> np.ndarray:
    """One band-limited cycle from harmonic amplitudes, peak-normalised."""
    x = np.arange(1 << _TABLE_BITS) / (1 << _TABLE_BITS)
    table = np.zeros(1 << _TABLE_BITS)
    for k, a in enumerate(amps, start=1):
        if a:
            table += a * np.sin(2 * np.pi * k * x)
    table /= max(np.abs(table).max(), 1e-9)
    table = table.astype(np.float32)
    table.flags.writeable = False
    return table


def _harmonics(kind: str, count: int) -> tuple[float, ...]:
    """Harmonic amplitude recipes for the additive voices."""
    k = np.arange(1, count + 1, dtype=float)
    if kind == "saw":
        amps = 1.0 / k
    elif kind == "square":
        amps = np.where(k % 2 == 1, 1.0 / k, 0.0)
    elif kind == "organ":
        drawbars = {1: 1.0, 2: 0.8, 3: 0.6, 4: 0.5, 6: 0.3, 8: 0.25}
        amps = np.array([drawbars.get(int(i), 0.0) for i in k])
    elif kind == "soft":
        amps = 1.0 / k**2.2
    elif kind == "brass":
        amps = 1.0 / k**1.1
    else:
        raise ValueError(kind)
    return tuple(round(float(a), 6) for a in amps)


def _osc(freq: float, n: int, sr: int, kind: str, detune_cents: float = 0.0, phase: float = 0.0):
    """Band-limited wavetable oscillator.

    The phase is a wrapping 32-bit fixed-point accumulator: integer maths is
    exact, deterministic and several times faster than float phase plus modulo.
    """
    f = freq * 2.0 ** (detune_cents / 1200.0)
    count = max(1, min(16, int(0.42 * sr / f)))
    table = _wavetable(_harmonics(kind, count))
    step = np.uint32(int(round(f / sr * 2.0**32)) % (1 << 32))
    start = np.uint32(int(phase * 2.0**32) % (1 << 32))
    acc = np.arange(n, dtype=np.uint32) * step + start
    return table[acc >> np.uint32(32 - _TABLE_BITS)]


def _env(n_gate: int, sr: int, attack: float, decay: float, sustain: float, release: float):
    """Attack/exponential-decay/sustain envelope plus a smooth release tail."""
    t = np.arange(n_gate, dtype=np.float32) / np.float32(sr)
    a = np.float32(max(attack, 1e-3))
    decay_env = np.exp(-(t - a) / np.float32(max(decay, 1e-3)))
    env = np.where(t < a, t / a, np.float32(sustain) + np.float32(1.0 - sustain) * decay_env)
    n_rel = max(int(release * sr), 16)
    end = env[-1] if n_gate else np.float32(0.0)
    tail = end * (1.0 - np.arange(1, n_rel + 1, dtype=np.float32) / np.float32(n_rel)) ** 2
    return np.concatenate([env, tail])


def _fade_edges(x: np.ndarray, sr: int, ms: float = 3.0) -> np.ndarray:
    """Short raised-cosine fades so no note starts or stops with a click."""
    m = min(int(sr * ms / 1000), len(x) // 2)
    if m > 1:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, m))
        x[:m] *= ramp
        x[-m:] *= ramp[::-1]
    return x


def _karplus_strong(freq: float, n: int, sr: int, rng: np.random.Generator, bright: float,
                    t60: float) -> np.ndarray:
    """Plucked string: a looped, damped noise burst, computed one period per step.

    The loop length is rounded to whole samples, then the result is resampled
    so the pitch is exact; chroma-based key detection needs in-tune notes.
    """
    period = sr / freq
    length = max(int(period - 0.5), 2)
    true_freq = sr / (length + 0.5)
    ratio = freq / true_freq  # <= 1: read the generated string slower to lower its pitch
    m = int(math.ceil(n * ratio)) + 4
    burst = rng.uniform(-1.0, 1.0, length)
    smooth = np.convolve(burst, np.ones(3) / 3, mode="same")
    burst = bright * burst + (1 - bright) * smooth
    burst -= burst.mean()
    gain = 10.0 ** (-3.0 * ((length + 0.5) / sr) / t60)
    y = np.zeros(m + length + 1)
    y[1 : length + 1] = burst
    start = length + 1
    while start < len(y):
        stop = min(start + length, len(y))
        k = stop - start
        y[start:stop] = gain * 0.5 * (y[start - length : start - length + k]
                                      + y[start - length - 1 : start - length - 1 + k])
        start = stop
    y = y[1:]
    return np.interp(np.arange(n) * ratio, np.arange(len(y)), y)


@lru_cache(maxsize=64)
def _sos(btype: str, freqs: float | tuple[float, float], sr: int) -> np.ndarray:
    """2nd-order Butterworth; edges are clamped below Nyquist so low sample rates work."""
    top = 0.45 * sr
    if isinstance(freqs, tuple):
        high = min(freqs[1], top)
        edges: float | tuple[float, float] = (min(freqs[0], 0.5 * high), high)
    else:
        edges = min(freqs, top)
    return signal.butter(2, edges, btype=btype, fs=sr, output="sos")


def _filtered_noise(
    rng: np.random.Generator, n: int, sr: int, btype: str, freqs: float | tuple[float, float]
) -> np.ndarray:
    return signal.sosfilt(_sos(btype, freqs, sr), rng.standard_normal(n))


def _decay(n: int, sr: int, tau: float, attack: float = 0.001) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(t / attack, 1.0) * np.exp(-t / tau)


def _norm(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.abs(x).max()), 1e-9)


@dataclass
class _Kit:
    """Renders and caches every sound of one track.

    Sounds depend only on (voice, pitch, length), so a chord tone or drum hit
    heard a hundred times is synthesised once.
    """

    spec: TrackSpec
    sr: int
    brightness: float
    detune: float
    cache: dict = field(default_factory=dict)

    def sound(self, voice: str, midi: float | None, n_gate: int) -> np.ndarray:
        key = (voice, midi, n_gate if voice in _TONAL else 0)
        hit = self.cache.get(key)
        if hit is None:
            if voice in _TONAL:
                hit = _TONAL[voice](self, _midi_to_hz(midi), n_gate)
            else:
                hit = _DRUMS[voice](self, midi)
            # High-pass every sound once (cached) rather than the whole mix: removes
            # DC and sub rumble (sine-sweep kicks, sub bass) at a tiny fraction of the cost.
            hit = signal.sosfilt(_sos("high", 25.0, self.sr), np.asarray(hit, dtype=np.float64))
            hit = _fade_edges(hit, self.sr).astype(np.float32)
            self.cache[key] = hit
        return hit

    def rng(self, *salt) -> np.random.Generator:
        return _rng(self.spec, "kit", *salt)


# Tonal voices: (kit, frequency, gate samples) -> mono samples incl. release tail.


def _v_pad(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.12, 0.5, 0.8, 0.35)
    m = len(env)
    kind = "saw" if kit.brightness > 1.0 else "soft"
    x = sum(_osc(f, m, kit.sr, kind, c * kit.detune, p) for c, p in ((-1, 0.0), (0, 0.3), (1, 0.6)))
    return 0.33 * x * env


def _v_organ(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.008, 0.2, 0.9, 0.06)
    return _osc(f, len(env), kit.sr, "organ") * env


def _v_piano(kit: _Kit, f: float, n: int) -> np.ndarray:
    bright = _env(n, kit.sr, 0.003, 0.18 * kit.brightness, 0.0, 0.15)
    body = _env(n, kit.sr, 0.003, 1.2, 0.15, 0.15)
    m = len(body)
    return 0.5 * _osc(f, m, kit.sr, "saw") * bright + 0.7 * _osc(f, m, kit.sr, "soft") * body


def _v_epiano(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.004, 0.9, 0.25, 0.2)
    t = np.arange(len(env)) / kit.sr
    index = 1.2 * kit.brightness * np.exp(-t / 0.25)
    mod = np.sin(2 * np.pi * f * t)
    return np.sin(2 * np.pi * f * t + index * mod) * env


def _v_pluck(kit: _Kit, f: float, n: int) -> np.ndarray:
    m = n + int(0.03 * kit.sr)
    bright = 0.1 + 0.4 * kit.brightness
    x = _karplus_strong(f, m, kit.sr, kit.rng("pluck", int(f * 100)), bright, 1.2)
    gate = np.ones(m)
    r = int(0.03 * kit.sr)
    gate[-r:] = np.linspace(1, 0, r)
    return _norm(x) * gate


def _v_pluck_lead(kit: _Kit, f: float, n: int) -> np.ndarray:
    m = n + int(0.05 * kit.sr)
    x = _karplus_strong(f, m, kit.sr, kit.rng("lead", int(f * 100)), 0.9, 2.0)
    gate = np.ones(m)
    r = int(0.05 * kit.sr)
    gate[-r:] = np.linspace(1, 0, r)
    return _norm(x) * gate


def _v_pluck_bass(kit: _Kit, f: float, n: int) -> np.ndarray:
    # Bright only at the attack: a sustained 5th harmonic is a major third that
    # blurs minor keys in chroma features.
    env = _env(n, kit.sr, 0.004, 0.35, 0.35, 0.06)
    bright = _env(n, kit.sr, 0.002, 0.05, 0.0, 0.06)
    m = len(env)
    return 0.9 * _osc(f, m, kit.sr, "soft") * env + 0.3 * _osc(f, m, kit.sr, "saw") * bright


# Bass voices get their weight from harmonics 2-4 (octaves and a fifth) rather
# than saturation: clipping a low tonic adds its 5th harmonic, a major third,
# which is loud enough in chroma features to turn a minor key major.


def _v_sub(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.005, 0.6, 0.6, 0.08)
    phase = 2 * np.pi * f * np.arange(len(env)) / kit.sr
    x = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase) + 0.06 * np.sin(4 * phase)
    return x * env


def _v_synth_bass(kit: _Kit, f: float, n: int) -> np.ndarray:
    bright = _env(n, kit.sr, 0.003, 0.08, 0.0, 0.05)
    body = _env(n, kit.sr, 0.003, 0.5, 0.6, 0.05)
    m = len(body)
    return 0.4 * _osc(f, m, kit.sr, "saw") * bright + 0.8 * _osc(f, m, kit.sr, "soft") * body


def _v_upright(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.006, 0.4, 0.3, 0.05)
    m = len(env)
    return (_osc(f, m, kit.sr, "soft") + 0.1 * _osc(f, m, kit.sr, "saw")) * env


def _v_log_drum(kit: _Kit, f: float, n: int) -> np.ndarray:
    m = n + int(0.05 * kit.sr)
    t = np.arange(m) / kit.sr
    freq = f * (1.0 + 0.6 * np.exp(-t / 0.025))
    phase = 2 * np.pi * np.cumsum(freq) / kit.sr
    x = np.sin(phase) + 0.45 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase) + 0.1 * np.sin(4 * phase)
    env = np.exp(-t / 0.35) * np.minimum(t / 0.002, 1.0)
    env[-int(0.05 * kit.sr):] *= np.linspace(1, 0, int(0.05 * kit.sr))
    return x * env


def _v_marimba(kit: _Kit, f: float, n: int) -> np.ndarray:
    m = n + int(0.05 * kit.sr)
    t = np.arange(m) / kit.sr
    x = np.sin(2 * np.pi * f * t) * np.exp(-t / 0.35) + 0.3 * np.sin(8 * np.pi * f * t) * np.exp(
        -t / 0.05
    )
    r = int(0.05 * kit.sr)
    x[-r:] *= np.linspace(1, 0, r)
    return x * np.minimum(t / 0.002, 1.0)


def _v_flute(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.05, 0.3, 0.85, 0.12)
    m = len(env)
    t = np.arange(m) / kit.sr
    vib = 1.0 + 0.004 * np.sin(2 * np.pi * 5.0 * t) * np.minimum(t / 0.4, 1.0)
    phase = 2 * np.pi * f * np.cumsum(vib) / kit.sr
    x = np.sin(phase) + 0.2 * np.sin(2 * phase) + 0.08 * np.sin(3 * phase)
    return x * env


def _v_square(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.01, 0.3, 0.7, 0.08)
    m = len(env)
    return 0.5 * (_osc(f, m, kit.sr, "square") + _osc(f, m, kit.sr, "square", kit.detune)) * env


def _v_saw(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.005, 0.15, 0.5, 0.08)
    m = len(env)
    left = _osc(f, m, kit.sr, "saw", -kit.detune)
    right = _osc(f, m, kit.sr, "saw", kit.detune, 0.5)
    return 0.5 * (left + right) * env


def _v_brass(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.03, 0.25, 0.7, 0.1)
    m = len(env)
    swell = _env(n, kit.sr, 0.06, 0.15, 0.4, 0.1)
    return (0.6 * _osc(f, m, kit.sr, "brass") * swell + 0.6 * _osc(f, m, kit.sr, "soft")) * env


def _v_power(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.004, 0.3, 0.7, 0.05)
    m = len(env)
    x = _osc(f, m, kit.sr, "saw", -kit.detune) + _osc(f * 1.5, m, kit.sr, "saw", kit.detune)
    return np.tanh(2.5 * x) * env


def _v_power_lead(kit: _Kit, f: float, n: int) -> np.ndarray:
    env = _env(n, kit.sr, 0.01, 0.4, 0.8, 0.1)
    m = len(env)
    return np.tanh(2.0 * _osc(f, m, kit.sr, "saw")) * env


_TONAL: dict[str, Callable[[_Kit, float, int], np.ndarray]] = {
    "pad": _v_pad, "organ": _v_organ, "piano": _v_piano, "piano_lead": _v_piano,
    "epiano": _v_epiano, "pluck": _v_pluck, "pluck_lead": _v_pluck_lead,
    "pluck_bass": _v_pluck_bass, "sub": _v_sub, "synth_bass": _v_synth_bass,
    "upright": _v_upright, "log_drum": _v_log_drum, "marimba": _v_marimba, "flute": _v_flute,
    "square": _v_square, "saw": _v_saw, "brass": _v_brass, "power": _v_power,
    "power_lead": _v_power_lead,
}


# Drums and tuned percussion: (kit, midi or None) -> mono one-shot of fixed length.


def _d_kick(kit: _Kit, midi: float | None) -> np.ndarray:
    sr = kit.sr
    # Decay shorter than ~a third of a beat so consecutive kicks stay distinct.
    tau = min(_STYLE_TABLE[kit.spec.style].kick_decay, 0.3 * 60.0 / kit.spec.bpm, 0.18)
    m = int((tau * 3 + 0.05) * sr)
    t = np.arange(m) / sr
    f_end = _midi_to_hz(midi)
    # A fast sweep settles on the tonic quickly, so the kick reinforces the key
    # instead of smearing the chroma; no saturation (its 5th harmonic is a major third).
    freq = f_end + (3.2 * f_end + 60.0) * np.exp(-t / 0.012)
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * _decay(m, sr, tau)
    click = _filtered_noise(kit.rng("click"), m, sr, "high", 2000) * _decay(m, sr, 0.003)
    return body + 0.35 * _norm(click)


def _d_snare(kit: _Kit, midi: float | None) -> np.ndarray:
    sr = kit.sr
    m = int(0.35 * sr)
    t = np.arange(m) / sr
    noise = _norm(_filtered_noise(kit.rng("snare"), m, sr, "band", (1200, 9000)))
    body = np.sin(2 * np.pi * 185.0 * t) * _decay(m, sr, 0.05)
    return 0.8 * noise * _decay(m, sr, 0.11) + 0.5 * body


def _d_clap(kit: _Kit, midi: float | None) -> np.ndarray:
    sr = kit.sr
    m = int(0.3 * sr)
    noise = _norm(_filtered_noise(kit.rng("clap"), m, sr, "band", (900, 3500)))
    env = np.zeros(m)
    for offset in (0.0, 0.011, 0.022):
        k = int(offset * sr)
        env[k:] = np.maximum(env[k:], _decay(m - k, sr, 0.012 if offset < 0.02 else 0.09))
    return noise * env


def _d_hat(kit: _Kit, midi: float | None) -> np.ndarray:
    m = int(0.08 * kit.sr)
    noise = _norm(_filtered_noise(kit.rng("hat"), m, kit.sr, "high", 7000))
    return noise * _decay(m, kit.sr, 0.018)


def _d_open_hat(kit: _Kit, midi: float | None) -> np.ndarray:
    m = int(0.45 * kit.sr)
    noise = _norm(_filtered_noise(kit.rng("ohat"), m, kit.sr, "high", 6500))
    return noise * _decay(m, kit.sr, 0.13, 0.003)


def _d_shaker(kit: _Kit, midi: float | None) -> np.ndarray:
    m = int(0.1 * kit.sr)
    noise = _norm(_filtered_noise(kit.rng("shaker"), m, kit.sr, "band", (4500, 11000)))
    return noise * _decay(m, kit.sr, 0.03, 0.012)


def _d_rim(kit: _Kit, midi: float | None) -> np.ndarray:
    m = int(0.08 * kit.sr)
    noise = _norm(_filtered_noise(kit.rng("rim"), m, kit.sr, "band", (1800, 5000)))
    return noise * _decay(m, kit.sr, 0.012)


def _d_ride(kit: _Kit, midi: float | None) -> np.ndarray:
    m = int(0.6 * kit.sr)
    noise = _norm(_filtered_noise(kit.rng("ride"), m, kit.sr, "band", (5000, 12000)))
    return noise * _decay(m, kit.sr, 0.25, 0.002)


def _d_crash(kit: _Kit, midi: float | None) -> np.ndarray:
    m = int(1.8 * kit.sr)
    noise = _norm(_filtered_noise(kit.rng("crash"), m, kit.sr, "high", 4000))
    return noise * _decay(m, kit.sr, 0.5, 0.002)


def _d_conga(kit: _Kit, midi: float | None) -> np.ndarray:
    f = _midi_to_hz(midi)
    m = int(0.3 * kit.sr)
    t = np.arange(m) / kit.sr
    freq = f * (1.0 + 0.15 * np.exp(-t / 0.01))
    x = np.sin(2 * np.pi * np.cumsum(freq) / kit.sr) * _decay(m, kit.sr, 0.09)
    slap = _filtered_noise(kit.rng("slap"), m, kit.sr, "band", (1500, 5000))
    slap *= _decay(m, kit.sr, 0.01)
    return x + 0.15 * slap


def _d_tom(kit: _Kit, midi: float | None) -> np.ndarray:
    f = _midi_to_hz(midi)
    m = int(0.4 * kit.sr)
    t = np.arange(m) / kit.sr
    freq = f * (1.0 + 0.3 * np.exp(-t / 0.03))
    return np.sin(2 * np.pi * np.cumsum(freq) / kit.sr) * _decay(m, kit.sr, 0.15)


def _d_bell(kit: _Kit, midi: float | None) -> np.ndarray:
    f = _midi_to_hz(midi)
    m = int(0.25 * kit.sr)
    t = np.arange(m) / kit.sr
    x = np.sin(2 * np.pi * f * t) + 0.4 * np.sin(4 * np.pi * f * t)
    return x * _decay(m, kit.sr, 0.07)


_DRUMS: dict[str, Callable[[_Kit, float | None], np.ndarray]] = {
    "kick": _d_kick, "snare": _d_snare, "clap": _d_clap, "hat": _d_hat,
    "open_hat": _d_open_hat, "shaker": _d_shaker, "rim": _d_rim, "ride": _d_ride,
    "crash": _d_crash, "conga": _d_conga, "tom": _d_tom, "bell": _d_bell,
}

# Mix: (gain, pan) per voice role. Pan -1 = left, +1 = right.
_MIX: dict[str, tuple[float, float]] = {
    "kick": (0.9, 0.0), "snare": (0.5, 0.05), "clap": (0.35, -0.05), "hat": (0.16, 0.3),
    "open_hat": (0.12, 0.3), "shaker": (0.1, -0.4), "rim": (0.22, -0.25), "ride": (0.13, 0.35),
    "crash": (0.18, -0.3), "conga_hi": (0.26, 0.45), "conga_lo": (0.3, -0.35), "bell": (0.16, 0.5),
    "tom": (0.4, 0.0), "bass": (0.55, 0.0), "chord": (0.16, -0.2), "pad": (0.09, 0.25),
    "arp": (0.15, 0.4), "lead": (0.24, 0.1),
}


# --------------------------------------------------------------------------- arrangement


class _Note(NamedTuple):
    beat: float  # from loop start, before swing
    beats: float  # gate length
    role: str  # mix bus (see _MIX)
    voice: str
    midi: float | None
    velocity: float


@dataclass(frozen=True)
class _Harmony:
    """What the tonal parts of a section play, one chord per bar."""

    chords: tuple[_Chord, ...]
    melody: tuple[tuple[float, float, int], ...]  # (beat, beats, midi) over the loop


def _progression(spec: TrackSpec, kind: str) -> tuple[str, ...]:
    pool = _BRIDGE_PROGRESSIONS if kind == "bridge" else _PROGRESSIONS
    options = pool[spec.mode]
    rng = _rng(spec, "progression", kind if kind in ("bridge", "chorus") else "verse")
    return options[int(rng.integers(len(options)))]


def _melody(spec: TrackSpec, kind: str, chords: list[_Chord], density: float) -> list:
    """Scale melody: chord tones on strong beats, steps between, ends on the tonic.

    A two-bar motif is stated then varied, which is what makes a hook.
    """
    rng = _rng(spec, "melody", kind)
    base = _place(spec.tonic, 67 if kind == "chorus" else 62)
    n_bars = len(chords)
    steps_ok = 2 if spec.bpm > 110 else 1
    motif_rhythm = []
    for step in range(0, 32, steps_ok):
        strength = (0.95 if step % 8 == 0 else 0.7 if step % 4 == 0
                    else 0.45 if step % 2 == 0 else 0.2)
        if rng.random() < strength * density * 1.3:
            motif_rhythm.append(step)
    if not motif_rhythm or motif_rhythm[0] != 0:
        motif_rhythm.insert(0, 0)
    notes: list[tuple[float, float, int]] = []
    degree = 0
    for bar0 in range(0, n_bars, 2):
        rhythm = [s for s in motif_rhythm if bar0 * 16 + s < n_bars * 16]
        if bar0 > 0 and rng.random() < 0.5:
            rhythm = [s for s in rhythm if rng.random() < 0.85] or [0]
        for i, step in enumerate(rhythm):
            abs_step = bar0 * 16 + step
            chord = chords[abs_step // 16]
            scale = _scale_for(chord, spec.mode)
            end_step = bar0 * 16 + (rhythm[i + 1] if i + 1 < len(rhythm) else 32)
            end_step = min(end_step, n_bars * 16)
            if step % 8 == 0:
                degree = _chord_tone_degree(rng, chord, scale, degree)
            else:
                degree += int(rng.choice([-2, -1, -1, 1, 1, 2]))
                degree = int(np.clip(degree, -3, 9))
            if spec.mode == "minor" and degree % 7 == 6 and not chord.harmonic:
                degree += 1  # resolve the flat 7th up to the tonic: keeps the key minor
            pc = scale[degree % 7] + 12 * (degree // 7)
            notes.append((abs_step / 4.0, (end_step - abs_step) / 4.0, base + pc))
    return _end_on_tonic(notes, n_bars, base)


def _end_on_tonic(notes: list[tuple[float, float, int]], n_bars: int, tonic_midi: int) -> list:
    """Make the phrase land on the tonic, held to the end of the loop (a cadence)."""
    if not notes:
        return notes
    last_bar = (n_bars - 1) * 4.0
    beat = notes[-1][0]
    if beat >= last_bar:
        notes[-1] = (beat, n_bars * 4.0 - beat, tonic_midi)
        return notes
    notes = [(b, min(d, last_bar - b), m) for b, d, m in notes]
    return notes + [(last_bar, 4.0, tonic_midi)]


def _chord_tone_degree(
    rng: np.random.Generator, chord: _Chord, scale: tuple[int, ...], current: int
) -> int:
    """Pick a chord tone (as a scale degree) for a strong beat.

    Nearby tones are likelier (smooth lines). Over the tonic chord the third
    and root are favoured: they name the key and its mode, and a melody that
    sits on them is what makes the key unambiguous to listeners and to key
    detectors alike.
    """
    emphasis = (1.5, 2.5, 1.0, 0.6) if chord.root == 0 else (1.0, 1.0, 1.0, 0.6)
    candidates, weights = [], []
    for position, tone in enumerate(chord.tones):
        if tone not in scale:
            continue
        for octave in (-7, 0, 7, 14):
            degree = scale.index(tone) + octave
            if -3 <= degree <= 9:
                candidates.append(degree)
                weights.append(emphasis[position] / (1.0 + abs(degree - current)))
    p = np.asarray(weights) / sum(weights)
    return int(candidates[int(rng.choice(len(candidates), p=p))])


def _harmony(spec: TrackSpec, kind: str, n_bars: int, ending: bool) -> _Harmony:
    style = _STYLE_TABLE[spec.style]
    prog = _progression(spec, kind)
    chords = [_chord(prog[b % len(prog)], spec.mode, style.sevenths) for b in range(n_bars)]
    if ending:
        chords[-1] = _chord("0", spec.mode, style.sevenths)
    density = {"chorus": 1.0, "verse": 0.6, "bridge": 0.5}.get(kind, 0.0) * style.lead_density
    melody = _melody(spec, kind, chords, density) if density > 0 else []
    return _Harmony(tuple(chords), tuple(melody))


def _voicing(chord: _Chord, center: int, tonic: int) -> list[int]:
    """Close voicing of the chord within an octave around ``center``."""
    return sorted(_place((tonic + pc) % 12, center - 6) for pc in chord.tones)


def _drum_part(spec: TrackSpec, style: _Style, kind: str, bar: int, fill: bool,
               kick_midi: int) -> list[_Note]:
    """Drum and percussion hits of one bar."""
    bpm = spec.bpm
    energy = _SECTION_ENERGY[kind]
    notes: list[_Note] = []
    tracks: list[tuple[str, str, str, float | None]] = [
        ("kick", "kick", _kick_for_tempo(style.kick, bpm), kick_midi),
        ("snare", "snare", style.snare, None),
        ("clap", "clap", style.clap, None),
        ("hat", "hat", _accent_beats(_thin_for_tempo(style.hat, bpm, style.fast_hats), bpm), None),
        ("rim", "rim", style.rim, None),
        ("ride", "ride", style.ride, None),
    ]
    if energy >= 0.6:
        tracks += [
            ("shaker", "shaker", _thin_for_tempo(style.shaker, bpm, style.fast_hats), None),
            ("conga_lo", "conga", style.conga_lo, _place(spec.tonic, 50)),
            ("bell", "bell", style.bell, _place(spec.tonic, 79)),
        ]
    if energy >= 1.0:
        tracks += [
            ("open_hat", "open_hat", style.open_hat, None),
            ("conga_hi", "conga", style.conga_hi, _place((spec.tonic + 7) % 12, 57)),
        ]
    if kind in ("intro", "outro"):
        tracks = [t for t in tracks if t[0] in ("kick", "hat", "shaker", "ride", "rim")]
    if kind == "bridge":
        tracks = [t for t in tracks if t[0] not in ("snare", "clap")]
    fast = bpm >= 150.0
    for role, voice, pattern, midi in tracks:
        scale = 1.0
        if fast and role in ("snare", "clap"):
            scale = _FAST_BACKBEAT
        elif fast and role == "kick":
            scale = _FAST_KICK
        for step, vel in _pattern_steps(pattern, bar, bpm):
            if fill and step >= 8 and role != "kick":  # the fill takes beats 3-4
                continue
            notes.append(_Note(step / 4.0, 0.25, role, voice, midi, vel * scale))
    if fill:
        notes += _fill(spec, bar)
    return notes


def _fill(spec: TrackSpec, bar: int) -> list[_Note]:
    """A tom run over the last two beats, tuned down the scale to the tonic."""
    scale = _SCALES[spec.mode]
    stride = 2 if spec.bpm > 130 else 1
    steps = list(range(8, 16, stride))
    notes = []
    for i, step in enumerate(steps):
        degree = scale[(len(steps) - 1 - i) % 7] if i < len(steps) - 1 else 0
        midi = _place((spec.tonic + degree) % 12, 43)
        vel = 0.55 + 0.45 * i / max(len(steps) - 1, 1)
        notes.append(_Note(step / 4.0, 0.25, "tom", "tom", midi, vel))
    notes.append(_Note(12 / 4.0, 0.25, "snare", "snare", None, 0.8))
    return notes


def _bass_part(
    spec: TrackSpec, style: _Style, chords: tuple[_Chord, ...], kind: str
) -> list[_Note]:
    """Bass following chord roots (walking line for jazz)."""
    notes: list[_Note] = []
    low = 36 if style.bass_voice != "log_drum" else 41
    pattern = style.bass_rhythm if kind not in ("intro", "outro") else "X..............."
    pattern = _quarters_for_tempo(pattern, spec.bpm)
    for bar, chord in enumerate(chords):
        root = _place((spec.tonic + chord.root) % 12, low)
        fifth = _place((spec.tonic + chord.tones[2]) % 12, root)
        if style.walking_bass and kind not in ("intro", "outro"):
            nxt = chords[(bar + 1) % len(chords)]
            scale = _scale_for(chord, spec.mode)
            third = _place((spec.tonic + chord.tones[1]) % 12, root)
            target = _place((spec.tonic + nxt.root) % 12, low)
            approach = target + (2 if target < fifth else -1)
            approach_pc = (approach - spec.tonic) % 12
            if approach_pc not in scale:
                approach = target - 2 if (target - 2 - spec.tonic) % 12 in scale else fifth
            for beat, midi in enumerate((root, third, fifth, approach)):
                notes.append(_Note(bar * 4.0 + beat, 0.9, "bass", style.bass_voice, midi, 0.9))
            continue
        hits = _pattern_steps(pattern, bar, spec.bpm, tonal=True)
        for i, (step, vel) in enumerate(hits):
            nxt = hits[i + 1][0] if i + 1 < len(hits) else 16.0
            ch = pattern[(bar * 16 + int(step)) % len(pattern)]
            midi = fifth if ch == "f" else root + 12 if ch == "o" else root
            weight = _step_weight(step, spec.bpm, tonal=True)
            notes.append(_Note(bar * 4.0 + step / 4.0, (nxt - step) / 4.0 * 0.9, "bass",
                               style.bass_voice, midi, max(vel, 0.7 * weight)))
    return notes


def _chord_part(
    spec: TrackSpec, style: _Style, chords: tuple[_Chord, ...], kind: str
) -> list[_Note]:
    """The style's chord instrument, in its rhythm (one held chord in intro/outro)."""
    notes: list[_Note] = []
    rhythm = style.chord_rhythm if kind not in ("intro", "outro") else "x..............."
    rhythm = _quarters_for_tempo(rhythm, spec.bpm)
    for bar, chord in enumerate(chords):
        if style.chord_voice == "power":  # power chords: root (+ fifth inside the voice)
            voicing = [_place((spec.tonic + chord.root) % 12, 40)]
        else:
            voicing = _voicing(chord, 62, spec.tonic)
        hits = _pattern_steps(rhythm, bar, spec.bpm, tonal=True)
        for i, (step, vel) in enumerate(hits):
            nxt = hits[i + 1][0] if i + 1 < len(hits) else 16.0
            length = (nxt - step) / 4.0 * style.chord_gate
            for midi in voicing:
                notes.append(_Note(bar * 4.0 + step / 4.0, length, "chord", style.chord_voice,
                                   midi, vel))
    return notes


def _pad_part(
    spec: TrackSpec, style: _Style, chords: tuple[_Chord, ...], kind: str
) -> list[_Note]:
    """A sustained pad, one chord per bar, with the third doubled.

    Every section gets one (a faint one where the style has none) because it
    keeps the chord's third audible between short stabs, and the third is what
    tells a minor key from its parallel major.
    """
    featured = bool(style.pad_voice) or kind in ("intro", "outro", "bridge")
    voice = style.pad_voice or "pad"
    velocity = 0.8 if featured else 0.45
    notes = []
    for bar, chord in enumerate(chords):
        third = _place((spec.tonic + chord.tones[1]) % 12, 63)
        for midi in _voicing(chord, 57, spec.tonic) + [third]:
            notes.append(_Note(bar * 4.0, 3.9, "pad", voice, midi, velocity))
    return notes


def _arp_part(
    spec: TrackSpec, style: _Style, chords: tuple[_Chord, ...], kind: str
) -> list[_Note]:
    """Arpeggiated chord tones (sebene-style guitar, synth arps) in busy sections."""
    if not style.arp_voice or _SECTION_ENERGY[kind] < 0.6:
        return []
    notes = []
    for bar, chord in enumerate(chords):
        tones = _voicing(chord, 70, spec.tonic)
        cycle = tones + [tones[0] + 12] + tones[1:][::-1]
        hits = _pattern_steps(style.arp_rhythm, bar, spec.bpm, tonal=True)
        for i, (step, vel) in enumerate(hits):
            notes.append(_Note(bar * 4.0 + step / 4.0, 0.375, "arp", style.arp_voice,
                               cycle[i % len(cycle)], vel))
    return notes


def _lead_part(style: _Style, harmony: _Harmony, bpm: float) -> list[_Note]:
    return [
        _Note(b, d * 0.92, "lead", style.lead_voice, m,
              0.85 * _step_weight((b * 4) % 16, bpm, tonal=True))
        for b, d, m in harmony.melody
    ]


def _arrange(spec: TrackSpec, kind: str, n_bars: int, ending: bool, final: bool) -> list[_Note]:
    """All notes of a loop of ``n_bars`` bars of section ``kind``.

    The ending variant resolves to the tonic and (unless it ends the song)
    carries a drum fill into the next section.
    """
    style = _STYLE_TABLE[spec.style]
    harmony = _harmony(spec, kind, n_bars, ending)
    kick_midi = _place(spec.tonic, 28)  # tonic at 41-78 Hz: the kick reinforces the key
    notes: list[_Note] = []
    for bar in range(n_bars):
        fill = ending and not final and bar == n_bars - 1 and kind != "outro"
        for note in _drum_part(spec, style, kind, bar, fill, kick_midi):
            notes.append(note._replace(beat=note.beat + bar * 4.0))
    if kind == "chorus":
        notes.append(_Note(0.0, 0.25, "crash", "crash", None, 0.9))
    notes += _bass_part(spec, style, harmony.chords, kind)
    notes += _chord_part(spec, style, harmony.chords, kind)
    notes += _pad_part(spec, style, harmony.chords, kind)
    notes += _arp_part(spec, style, harmony.chords, kind)
    notes += _lead_part(style, harmony, spec.bpm)
    return notes


# --------------------------------------------------------------------------- rendering


def _swing_warp(beats: np.ndarray, unit: float, amount: float) -> np.ndarray:
    """Delay the second note of each pair of ``unit``-long steps by ``amount`` of a step."""
    if amount <= 0:
        return beats
    pair = 2 * unit
    base = np.floor(beats / pair) * pair
    pos = beats - base
    late = unit * (1 + amount) + (pos - unit) * (1 - amount)
    warped = np.where(pos < unit, pos * (1 + amount), late)
    return base + warped


_SECTION_GAIN = {"intro": 0.55, "verse": 0.72, "chorus": 1.0, "bridge": 0.62, "outro": 0.5}
_TAIL_S = 2.0


def _render_loop(kit: _Kit, notes: list[_Note], loop_beats: float, kind: str) -> np.ndarray:
    """Mix a loop's notes into a stereo buffer (loop length plus release tail)."""
    spec, sr = kit.spec, kit.sr
    beat_s = 60.0 / spec.bpm
    style = _STYLE_TABLE[spec.style]
    n = int(round(loop_beats * beat_s * sr)) + int(_TAIL_S * sr)
    starts = np.array([nt.beat for nt in notes])
    ends = np.array([nt.beat + nt.beats for nt in notes])
    t0 = _swing_warp(starts, style.swing_unit, spec.swing) * beat_s
    t1 = _swing_warp(ends, style.swing_unit, spec.swing) * beat_s
    buses: dict[str, np.ndarray] = {}
    for note, a, b in zip(notes, t0, t1):
        sound = kit.sound(note.voice, note.midi, max(int(round((b - a) * sr)), 32))
        start = int(round(a * sr))
        stop = min(start + len(sound), n)
        if stop <= start:
            continue
        bus = buses.get(note.role)
        if bus is None:
            bus = buses[note.role] = np.zeros(n, dtype=np.float32)
        bus[start:stop] += np.float32(note.velocity) * sound[: stop - start]
    level = _SECTION_GAIN[kind]
    out = np.zeros((2, n), dtype=np.float32)  # channel-major: every add below is contiguous
    send = np.zeros(n, dtype=np.float32)
    for role, bus in buses.items():
        gain, pan = _MIX[role]
        angle = (pan + 1.0) * np.pi / 4.0
        out[0] += np.float32(level * gain * math.cos(angle)) * bus
        out[1] += np.float32(level * gain * math.sin(angle)) * bus
        if role in _ROOM_SEND:
            send += np.float32(level * gain * 0.5) * bus
    _add_room(out, send, sr)
    return out


_ROOM_TAPS = (
    (0.029, 0.38, 0.037, 0.36), (0.061, 0.27, 0.053, 0.28), (0.089, 0.2, 0.107, 0.19),
    (0.139, 0.13, 0.151, 0.12), (0.197, 0.08, 0.223, 0.08),
)
_ROOM_SEND = frozenset({"chord", "lead", "pad", "snare", "clap", "arp"})


def _add_room(out: np.ndarray, send: np.ndarray, sr: int) -> None:
    """Cheap stereo room: a few decaying early reflections, different per side.

    Shifted adds cost far less than a convolution reverb and already give the
    dry synth voices some space and width.
    """
    n = len(send)
    for dl, gl, dr, gr in _ROOM_TAPS:
        for ch, d, g in ((0, dl, gl), (1, dr, gr)):
            k = int(d * sr)
            out[ch, k:] += np.float32(g) * send[: n - k]


def _soft_clip(x: np.ndarray, ceiling: float) -> np.ndarray:
    """Pass quiet samples unchanged; bend peaks smoothly under ``ceiling``."""
    knee = 0.6 * ceiling
    mag = np.abs(x)
    over = mag > knee
    if over.any():
        room = ceiling - knee
        x[over] = np.sign(x[over]) * (knee + room * np.tanh((mag[over] - knee) / room))
    return x


def _rms(x: np.ndarray) -> float:
    """RMS over all samples (einsum: no temporary array, deterministic)."""
    subscripts = "ij,ij->" if x.ndim == 2 else "i,i->"
    return math.sqrt(float(np.einsum(subscripts, x, x)) / max(x.size, 1))


def _peak(x: np.ndarray) -> float:
    return max(float(x.max()), -float(x.min()))


def _master(mix: np.ndarray, level_db: float) -> np.ndarray:
    """Reach the target RMS while keeping peaks under the ceiling (in place).

    Quiet targets only need a gain; loud ones are soft-limited and re-levelled
    a few times, and a final gain guarantees the ceiling.
    """
    target = 10.0 ** (level_db / 20.0)
    ceiling = 10.0 ** ((_PEAK_CEILING_DB - 0.05) / 20.0)
    for _ in range(6):
        level = _rms(mix)
        if level <= 0:
            return mix
        gain = target / level
        if _peak(mix) * gain <= ceiling:
            mix *= np.float32(gain)
            return mix
        mix *= np.float32(gain)
        mix = _soft_clip(mix, ceiling)
    peak = _peak(mix)
    if peak > ceiling:
        mix *= np.float32(ceiling / peak)
    return mix


def _apply_fades(mix: np.ndarray, sr: int, duration_s: float) -> None:
    """Fade in (10 ms, no click) and out (up to 3 s): songs end, they do not stop."""
    fade_in = min(int(0.01 * sr), len(mix) // 4)
    if fade_in > 1:
        mix[:fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)[:, None]
    fade_out = min(int(min(3.0, 0.15 * duration_s) * sr), len(mix) // 2)
    if fade_out > 1:
        ramp = np.cos(np.linspace(0, np.pi / 2, fade_out, dtype=np.float32)) ** 2
        mix[-fade_out:] *= ramp[:, None]


def synthesize(spec: TrackSpec, sample_rate: int = 44100) -> np.ndarray:
    """Render ``spec`` as float32 stereo ``(frames, 2)``, ``frames == round(duration_s * sr)``.

    Bit-identical for equal specs (on the same platform and numpy build).
    """
    sr = int(sample_rate)
    frames = int(round(spec.duration_s * sr))
    if frames == 0:
        return np.zeros((0, 2), dtype=np.float32)
    timbre = _rng(spec, "timbre")
    kit = _Kit(spec, sr, brightness=float(timbre.uniform(0.7, 1.3)),
               detune=float(timbre.uniform(4.0, 14.0)))
    song = _render_song(kit, frames)
    mix = _master(song[:, :frames], spec.level_db)
    _apply_fades(mix.T, sr, spec.duration_s)
    return np.ascontiguousarray(mix.T)


def _render_song(kit: _Kit, frames: int) -> np.ndarray:
    """Overlap-add every section's loops along the timeline: channel-major ``(2, n)``.

    A section repeats its 4-bar loop; its last repetition is the "ending"
    variant (cadence and fill). Equal loops are rendered once and reused,
    which is what makes long songs cheap and repeated choruses identical.
    """
    spec, sr = kit.spec, kit.sr
    bar_s = _bar_seconds(spec.bpm)
    song = np.zeros((2, frames + int(_TAIL_S * sr) + 1), dtype=np.float32)
    loops: dict[tuple[str, int, bool, bool], np.ndarray] = {}
    layout = _section_bars(spec)
    for index, (kind, first_bar, count) in enumerate(layout):
        last_section = index == len(layout) - 1
        loop_bars = min(4, count)
        reps = math.ceil(count / loop_bars)
        for rep in range(reps):
            bars = min(loop_bars, count - rep * loop_bars)
            ending = rep == reps - 1
            key = (kind, bars, ending, last_section and ending)
            if key not in loops:
                notes = _arrange(spec, kind, bars, ending, last_section and ending)
                loops[key] = _render_loop(kit, notes, bars * 4.0, kind)
            buf = loops[key]
            start = int(round((first_bar + rep * loop_bars) * bar_s * sr))
            stop = min(start + buf.shape[1], song.shape[1])
            if start < stop:
                song[:, start:stop] += buf[:, : stop - start]
    return song


# --------------------------------------------------------------------------- noise


_NOISE_LEVEL_DB = -20.0


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pink noise from white noise through Kellet's -3 dB/octave filter."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    return signal.lfilter(b, a, rng.standard_normal(n))


def _rain(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Rain: a soft pink wash with slow swells plus sparse filtered droplets."""
    wash = _pink(rng, n)
    wash = signal.sosfilt(_sos("low", 6000.0, sr), wash)
    swell_points = rng.uniform(0.75, 1.0, max(int(n / sr / 4) + 2, 2))
    swell = np.interp(np.arange(n), np.linspace(0, n, len(swell_points)), swell_points)
    drops = np.zeros(n)
    count = int(n / sr * 30)
    positions = rng.integers(0, n, count)
    np.add.at(drops, positions, rng.uniform(0.2, 1.0, count) * rng.choice([-1.0, 1.0], count))
    drops = signal.sosfilt(_sos("band", (1500.0, 7000.0), sr), drops)
    wash /= max(_rms(wash), 1e-12)
    drops /= max(_rms(drops), 1e-12)
    return wash * swell + 0.35 * drops


def synthesize_noise(
    duration_s: float,
    seed: int,
    sample_rate: int = 44100,
    kind: Literal["rain", "white", "pink"] = "rain",
) -> np.ndarray:
    """A non-music "sleep sounds" track: stereo float32 noise at -20 dBFS RMS."""
    if kind not in ("rain", "white", "pink"):
        raise ValueError(f"unknown noise kind {kind!r}")
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    sr = int(sample_rate)
    n = int(round(duration_s * sr))
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    words = [seed & 0xFFFFFFFF, zlib.crc32(kind.encode())]
    rng = np.random.default_rng(np.random.SeedSequence(words))
    channels = []
    for _ in range(2):
        if kind == "white":
            channels.append(rng.standard_normal(n))
        elif kind == "pink":
            channels.append(_pink(rng, n))
        else:
            channels.append(_rain(rng, n, sr))
    mix = np.stack(channels, axis=1).astype(np.float32)
    mix -= mix.mean(axis=0, keepdims=True)
    mix = _master(mix, _NOISE_LEVEL_DB)
    _apply_fades(mix, sr, duration_s)
    return mix

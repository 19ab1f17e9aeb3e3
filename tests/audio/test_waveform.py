"""audio.waveform: audiowaveform v2 peaks, their validation, JSON bytes and the PNG."""

from __future__ import annotations

import copy
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from audio.waveform import render_png, validate_waveform, waveform_json_bytes, waveform_peaks

SR = 44100
KEYS = {"version", "channels", "sample_rate", "samples_per_pixel", "bits", "length", "data"}


def _sine(amplitude: float, seconds: float, freq: float = 441.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _pairs(doc: dict) -> np.ndarray:
    """data as (length, channels, 2)."""
    return np.asarray(doc["data"]).reshape(doc["length"], doc["channels"], 2)


def test_document_has_the_v2_keys_and_types() -> None:
    doc = waveform_peaks(_sine(0.5, 2.0)[:, None], SR)
    assert set(doc) == KEYS
    assert doc["version"] == 2 and doc["channels"] == 1 and doc["bits"] == 8
    assert doc["sample_rate"] == SR
    assert all(type(doc[k]) is int for k in KEYS - {"data"})
    assert isinstance(doc["data"], list) and all(type(v) is int for v in doc["data"])
    assert validate_waveform(doc) == []


@pytest.mark.parametrize("frames", [64, 1000, 44100, 44101, 123457])
def test_length_covers_every_frame(frames: int) -> None:
    doc = waveform_peaks(np.zeros((frames, 2), np.float32), SR, pixels=100)
    spp = doc["samples_per_pixel"]
    assert spp == max(64, math.ceil(frames / 100))
    assert doc["length"] == math.ceil(frames / spp)
    assert len(doc["data"]) == 2 * doc["length"] * doc["channels"]


def test_half_scale_sine_peaks_at_plus_minus_64() -> None:
    doc = waveform_peaks(_sine(0.5, 2.0), SR, pixels=200)
    full = _pairs(doc)[: len(_sine(0.5, 2.0)) // doc["samples_per_pixel"], 0]
    assert np.all(np.abs(full[:, 0] + 64) <= 1)
    assert np.all(np.abs(full[:, 1] - 64) <= 1)


def test_last_pixel_covers_the_remainder() -> None:
    pcm = np.zeros(1000, np.float32)
    pcm[-1] = 0.75  # only in the partial final pixel
    doc = waveform_peaks(pcm, SR, pixels=3, min_samples_per_pixel=1)
    assert doc["samples_per_pixel"] == 334 and doc["length"] == 3
    assert _pairs(doc)[-1, 0].tolist() == [0, 96]


def test_silence_is_all_zeros() -> None:
    doc = waveform_peaks(np.zeros((SR, 2), np.float32), SR)
    assert set(doc["data"]) == {0}


def test_stereo_keeps_channels_interleaved() -> None:
    pcm = np.stack([_sine(0.5, 1.0), _sine(0.25, 1.0)], axis=1)
    doc = waveform_peaks(pcm, SR, pixels=50, mono=False)
    assert doc["channels"] == 2
    assert doc["data"][:4] == [-64, 64, -32, 32]  # p0c0min, p0c0max, p0c1min, p0c1max
    pairs = _pairs(doc)
    assert np.all(np.abs(pairs[:, 0] - [-64, 64]) <= 1)
    assert np.all(np.abs(pairs[:, 1] - [-32, 32]) <= 1)
    mixed = waveform_peaks(pcm, SR, pixels=50)
    assert mixed["channels"] == 1
    assert np.all(np.abs(_pairs(mixed)[:, 0] - [-48, 48]) <= 1)


def test_sixteen_bit_range() -> None:
    pcm = np.concatenate([_sine(0.5, 0.5), np.linspace(-1.0, 1.0, 1000, dtype=np.float32)])
    pcm = np.concatenate([pcm, np.array([1.5, -1.5], np.float32)])  # over full scale: clipped
    doc = waveform_peaks(pcm, SR, bits=16, pixels=40)
    assert doc["bits"] == 16
    values = np.asarray(doc["data"])
    assert values.max() == 32767 and values.min() == -32768
    assert abs(_pairs(doc)[0, 0, 1] - 16384) <= 2
    assert validate_waveform(doc) == []
    assert max(waveform_peaks(pcm, SR, bits=8)["data"]) == 127


def test_four_minutes_fit_the_seek_bar() -> None:
    frames = 4 * 60 * SR
    pcm = np.tile(np.array([0.1, -0.1], np.float32), frames // 2)
    doc = waveform_peaks(np.stack([pcm, pcm], axis=1), SR)
    assert 1700 <= doc["length"] <= 1800
    assert len(waveform_json_bytes(doc)) < 20_000


def _good() -> dict:
    return waveform_peaks(np.stack([_sine(0.5, 0.5), _sine(0.2, 0.5)], 1), SR, mono=False)


def _broken(edit) -> dict:
    doc = copy.deepcopy(_good())
    edit(doc)
    return doc


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.pop("sample_rate"), "missing key 'sample_rate'"),
        (lambda d: d.update(version=1), "version"),
        (lambda d: d.update(bits=12), "bits"),
        (lambda d: d.update(length=d["length"] + 1), "needs"),
        (lambda d: d["data"].pop(), "needs"),
        (lambda d: d["data"].__setitem__(1, 300), "outside -128..127"),
        (lambda d: d["data"].__setitem__(0, 1.5), "integers"),
        (lambda d: d["data"].__setitem__(slice(2, 4), [50, -50]), "min > max"),
        (lambda d: d.update(channels="2"), "'channels' must be an integer"),
        (lambda d: d.update(samples_per_pixel=0), "samples_per_pixel"),
        (lambda d: d.update(data="nope"), "'data' must be a list"),
    ],
)
def test_validate_catches_broken_documents(edit, needle: str) -> None:
    problems = validate_waveform(_broken(edit))
    assert problems, "broken document passed validation"
    assert any(needle in p for p in problems), problems


def test_validate_accepts_good_documents() -> None:
    assert validate_waveform(_good()) == []
    assert validate_waveform(json.loads(waveform_json_bytes(_good()))) == []
    assert validate_waveform([1, 2]) == ["waveform must be a JSON object, got list"]


def test_json_bytes_are_compact_and_deterministic() -> None:
    raw = waveform_json_bytes(_good())
    assert raw == waveform_json_bytes(_good())
    assert raw.endswith(b"}\n") and b" " not in raw
    assert list(json.loads(raw)) == sorted(KEYS)
    with pytest.raises(ValueError, match="invalid waveform"):
        waveform_json_bytes(_broken(lambda d: d.update(version=3)))


def test_render_png_is_a_deterministic_png_of_the_asked_size() -> None:
    doc = waveform_peaks(_sine(0.5, 1.0) * np.linspace(0, 1, SR, dtype=np.float32), SR)
    png = render_png(doc, width=300, height=60)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == render_png(doc, width=300, height=60)
    image = Image.open(io.BytesIO(png))
    assert image.size == (300, 60) and image.mode == "RGBA"
    alpha = np.asarray(image)[:, :, 3]
    assert alpha[:, 0].sum() < alpha[:, -1].sum()  # fade-in: bars grow left to right
    column = alpha[:, -1] > 0
    assert column[30] and not column[0] and np.array_equal(column, column[::-1])  # mirrored


def test_render_png_with_background_and_wider_than_data() -> None:
    doc = waveform_peaks(np.zeros(640, np.float32), SR)  # 10 pixels, silence
    image = Image.open(io.BytesIO(render_png(doc, width=50, height=20, background=(255, 255, 255))))
    pixels = np.asarray(image)
    assert image.size == (50, 20)
    assert np.all(pixels[:, :, 3] == 255)
    assert np.all(pixels[9, :, 0] == 255) and np.all(pixels[0, :, 1] == 255)  # centre line drawn


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: waveform_peaks(np.zeros((0, 2), np.float32), SR), "no frames"),
        (lambda: waveform_peaks(np.zeros(100, np.float32), SR, bits=24), "bits"),
        (lambda: waveform_peaks(np.array([0.0, np.nan], np.float32), SR), "NaN"),
        (lambda: waveform_peaks(np.zeros((2, 2, 2), np.float32), SR), "shape"),
        (lambda: waveform_peaks(np.zeros(100, np.int16), SR), "float"),
        (lambda: waveform_peaks(np.zeros(100, np.float32), 0), "sample_rate"),
        (lambda: waveform_peaks(np.zeros(100, np.float32), SR, pixels=0), "pixels"),
        (lambda: render_png({"version": 2}), "invalid waveform"),
        (lambda: render_png(_good(), width=0), "width"),
        (lambda: render_png(_good(), color=(300, 0, 0)), "color"),
    ],
)
def test_bad_inputs_raise_value_error(call, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        call()

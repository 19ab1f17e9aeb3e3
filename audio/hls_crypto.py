"""AES-128 full-segment encryption for HLS, done after ffmpeg has written clear fMP4.

ffmpeg's HLS muxer only encrypts MPEG-TS segments, and we deliver fMP4 (CMAF)
segments. RFC 8216 section 5.2 defines METHOD=AES-128 as "the whole segment is
AES-128-CBC encrypted with PKCS7 padding", independent of the segment format, so
we write clear segments to a private work folder and encrypt each media segment
here before anything is published. hls.js, Safari (AVFoundation) and ExoPlayer
(`Aes128DataSource`) all decrypt whole segments before parsing them, so they
play this without knowing it was not ffmpeg that encrypted it.

Choices that keep re-runs byte-identical and players happy:
- The IV is left out of the playlist, so each player derives it from the media
  sequence number (RFC 8216 5.2): the same key gives the same bytes every run.
- The initialisation section (EXT-X-MAP) stays clear: it holds codec setup, not
  audio, and leaving it clear avoids the "encrypted EXT-X-MAP needs an explicit
  IV" rule that some players handle badly.
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_BYTES = 16
_BLOCK_BITS = 128

__all__ = ["KEY_BYTES", "new_key", "iv_for_sequence", "encrypt_segment", "decrypt_segment"]


def new_key() -> bytes:
    """A fresh random content key for one track version."""
    return secrets.token_bytes(KEY_BYTES)


def iv_for_sequence(sequence: int) -> bytes:
    """The IV a player uses when the playlist gives none: the media sequence number, big-endian."""
    if sequence < 0:
        raise ValueError(f"media sequence number must be non-negative, got {sequence}")
    return sequence.to_bytes(16, "big")


def _check_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"an AES-128 key is {KEY_BYTES} bytes, got {len(key)}")


def encrypt_segment(data: bytes, key: bytes, sequence: int) -> bytes:
    """AES-128-CBC with PKCS7 padding, as RFC 8216 METHOD=AES-128 requires."""
    _check_key(key)
    padder = padding.PKCS7(_BLOCK_BITS).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv_for_sequence(sequence))).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt_segment(data: bytes, key: bytes, sequence: int) -> bytes:
    """Inverse of :func:`encrypt_segment`; what a player does with the key it fetched."""
    _check_key(key)
    if len(data) % (_BLOCK_BITS // 8):
        raise ValueError(f"encrypted segment length {len(data)} is not a multiple of 16 bytes")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv_for_sequence(sequence))).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise ValueError("segment does not decrypt with this key (bad padding)") from exc

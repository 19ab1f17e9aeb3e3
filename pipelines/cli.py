"""The `congowave` command line: one entry point, one subcommand per task.

Later parts of the platform add their subcommands in `COMMANDS`, each a
function that registers its parser and handler.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

Registrar = Callable[[argparse._SubParsersAction], None]


def _add_run(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run the main job on the configured profile")
    parser.set_defaults(handler=_run)


def _run(_args: argparse.Namespace) -> int:
    from pipelines.main_run import run_main
    from pipelines.settings import get_settings

    return run_main(get_settings())


def _add_sample_world(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sample-world", help="generate a deterministic synthetic CongoWave")
    parser.add_argument("--scale", choices=["small", "medium", "large"], default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="processes for audio and events")
    parser.set_defaults(handler=_sample_world)


def _sample_world(args: argparse.Namespace) -> int:
    from pipelines.main_run import say
    from pipelines.sample_world.world import generate_world

    summary = generate_world(args.scale, args.seed, args.out, workers=args.workers, progress=say)
    print(json.dumps({"scale": summary.scale, "seed": summary.seed, "counts": summary.counts,
                      "seconds": summary.seconds, "files": len(summary.files)}, indent=2))
    return 0


def _add_settings(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("settings", help="show the resolved settings (secrets hidden)")
    parser.add_argument("--table", action="store_true", help="print the README's settings table")
    parser.set_defaults(handler=_settings)


def _settings(args: argparse.Namespace) -> int:
    from pipelines.settings import Settings, get_settings

    if args.table:
        print("| Variable | Default | Meaning |\n|---|---|---|")
        for env, default, description in Settings.described():
            print(f"| `{env}` | {default} | {description} |")
        return 0
    print(get_settings().model_dump_json(indent=2))
    return 0


def _add_audio(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("audio", help="audio tools (validate, ...)")
    audio_sub = parser.add_subparsers(dest="audio_command", required=True)
    validate = audio_sub.add_parser("validate", help="validate one audio file (and its metadata) as ingestion would")
    validate.add_argument("file", type=Path)
    validate.add_argument("--metadata", type=Path, help="a metadata.json to validate with it")
    validate.set_defaults(handler=_audio_validate)
    transcode = audio_sub.add_parser(
        "transcode",
        help="make the HLS ladder, loudness, waveform and preview of one file (the assets' code path)",
    )
    transcode.add_argument("input", type=Path, help="an audio file (WAV, FLAC, MP3, ...)")
    transcode.add_argument("outdir", type=Path, help="an empty or new folder for the outputs")
    transcode.add_argument("--encrypt", action="store_true", help="AES-128 encrypt the segments with a new key")
    transcode.add_argument("--key-out", type=Path, help="where to write the key (required with --encrypt)")
    transcode.add_argument("--key-uri", default="key.bin", help="key URI written into the playlists")
    transcode.add_argument("--lossless", action="store_true", help="add the FLAC rendition")
    transcode.set_defaults(handler=_audio_transcode)
    features = audio_sub.add_parser("features", help="print one file's audio features as JSON (the assets' code path)")
    features.add_argument("file", type=Path, help="an audio file")
    features.add_argument("--no-second-opinion", action="store_true", help="skip the librosa tempo and key estimate")
    features.set_defaults(handler=_audio_features)


def _audio_validate(args: argparse.Namespace) -> int:
    """Print the verdict as JSON; exit 1 on rejection, like ingestion would decide."""
    from audio.delivery.metadata import parse_metadata
    from audio.validate import validate_audio
    from pipelines.settings import get_settings

    settings = get_settings()
    from pipelines.resources import build_resources

    bounds = build_resources(settings)["audio_tools"].bounds()
    facts, problems = validate_audio(args.file, args.file.name, bounds, ffmpeg_path=settings.ffmpeg_binary)
    report: dict = {"file": str(args.file), "audio": None if facts is None else _facts(facts)}
    if args.metadata is not None:
        parsed = parse_metadata(_read(args.metadata), delivery_id="cli")
        problems = [*problems, *parsed.all_problems]
        report["metadata"] = parsed.accepted[0].to_record() if parsed.ok else None
    report["decision"] = "rejected" if problems else "accepted"
    report["problems"] = [{"code": p.reason.value, "message": p.message, "field": p.field} for p in problems]
    print(json.dumps(report, indent=2, sort_keys=True, default=str))
    return 1 if problems else 0


def _audio_transcode(args: argparse.Namespace) -> int:
    """Same functions as the audio assets, into a local folder; prints the summary as JSON."""
    import time

    from audio.ffmpeg import FFmpegError
    from audio.hls import Encryption, Ladder
    from audio.hls_crypto import new_key
    from pipelines.resources import build_resources
    from pipelines.settings import get_settings

    from audio.transcode import transcode_track

    if not args.input.is_file():
        raise SystemExit(f"congowave: no such audio file: {args.input}")
    if args.encrypt and args.key_out is None:
        raise SystemExit("congowave: --encrypt needs --key-out PATH (the key must not sit beside the segments)")
    options = build_resources(get_settings())["audio_processing"].options()
    if args.lossless and not any(r.codec == "flac" for r in options.ladder.renditions):
        ladder = options.ladder
        options = type(options)(**{**options.__dict__, "ladder": Ladder(
            (*ladder.renditions, *Ladder.standard([], lossless=True).renditions), ladder.segment_s)})
    encryption = None
    if args.encrypt:
        key = new_key()
        args.key_out.write_bytes(key)
        encryption = Encryption(key, args.key_uri)
    print(f"[transcode] {args.input} -> {args.outdir}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        summary = transcode_track(args.input, args.outdir, options, encryption=encryption)
    except (FFmpegError, ValueError) as exc:
        raise SystemExit(f"congowave: transcode failed: {exc}") from None
    summary["wall_s"] = round(time.perf_counter() - started, 3)
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def _audio_features(args: argparse.Namespace) -> int:
    from audio.features import extract_features
    from audio.ffmpeg import FFmpegError
    from pipelines.settings import get_settings

    if not args.file.is_file():
        raise SystemExit(f"congowave: no such audio file: {args.file}")
    try:
        features = extract_features(args.file, ffmpeg_path=get_settings().ffmpeg_binary,
                                    second_opinion=not args.no_second_opinion)  # fmt: skip
    except (FFmpegError, ValueError) as exc:
        raise SystemExit(f"congowave: feature extraction failed: {exc}") from None
    print(json.dumps(features.to_row(), indent=2, sort_keys=True))
    return 0


def _facts(facts: object) -> dict:
    from dataclasses import asdict

    return asdict(facts)  # type: ignore[call-overload]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SystemExit(f"congowave: cannot read {path}: {exc.strerror}") from None


def _add_ingest(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ingest", help="drop a delivery folder into the lake's landing zone")
    parser.add_argument("path", type=Path, help="a delivery folder (audio + metadata.json, or an ERN with resources)")
    parser.add_argument("--delivery-id", help="name in the landing zone (default: the folder's name)")
    parser.set_defaults(handler=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    """Upload every file, then the BatchComplete marker last, so the sensor never sees half a delivery."""
    from audio.ingest import MARKER_FILE
    from pipelines.lake import LakeError
    from pipelines.resources import build_resources
    from pipelines.settings import get_settings

    folder: Path = args.path
    if not folder.is_dir():
        print(f"congowave: {folder} is not a folder", file=sys.stderr)
        return 2
    delivery_id = args.delivery_id or folder.name
    lake = build_resources(get_settings())["lake"].lake()
    prefix = f"landing/uploads/{delivery_id}"
    try:
        lake.resolve(prefix)
        if lake.exists(f"{prefix}/{MARKER_FILE}"):
            print(f"congowave: delivery {delivery_id} is already in the landing zone", file=sys.stderr)
            return 2
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER_FILE)
        for path in files:
            lake.put_file(path, f"{prefix}/{path.relative_to(folder).as_posix()}")
        lake.write_bytes(f"{prefix}/{MARKER_FILE}", b"")
    except LakeError as exc:
        print(f"congowave: cannot ingest {folder}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"delivery_id": delivery_id, "files": len(files), "landing": lake.url(prefix)}))
    return 0


COMMANDS: list[Registrar] = [_add_run, _add_sample_world, _add_settings, _add_audio, _add_ingest]


def build_parser() -> argparse.ArgumentParser:
    """The full parser; exposed for tests and docs."""
    parser = argparse.ArgumentParser(prog="congowave", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a person reads this: say what failed, not a traceback
        from pydantic import ValidationError

        from pipelines.sample_world.world import WorldMismatchError

        if isinstance(exc, ValidationError):
            print(f"congowave: invalid settings:\n{exc}", file=sys.stderr)
            return 2
        if isinstance(exc, WorldMismatchError):
            print(f"congowave: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

"""``python -m airflow_provider_videogen.emulator``: serve the emulated gateways on loopback.

Prints one JSON line ``{"url", "cdn_url", "pid"}`` on stdout once both sites listen (and writes it
to ``--ready-file``), logs one line per request on stderr, stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from .core import State, make_config
from .rules import GATEWAYS
from .server import start_servers, stop_servers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m airflow_provider_videogen.emulator",
                                description="Emulated AI video-generation gateways on loopback.")
    p.add_argument("--host", default="127.0.0.1", help="API site address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="API site port (default 0: any free port)")
    p.add_argument("--cdn-host", default="127.0.0.2", help="CDN site address (default 127.0.0.2)")
    p.add_argument("--cdn-port", type=int, default=0, help="CDN site port (default 0: any free port)")
    p.add_argument("--job-seconds", type=float, default=None, help="seconds until a job finishes (default 2.0)")
    p.add_argument("--video-bytes", type=int, default=None, help="exact size of every video (default clip + 1 KiB)")
    p.add_argument("--api-key", default=None,
                   help="accept only this key (default: any non-empty key; env VIDEOGEN_EMULATOR_API_KEY)")
    p.add_argument("--gateway", default=None, choices=GATEWAYS,
                   help="whose rules apply on the shared /v1/videos and /v1/models routes (default openai)")
    p.add_argument("--lenient", action="store_true",
                   help="accept what the gateways' documents do not allow (config strict=false)")
    p.add_argument("--config", default=None, help='other config keys as JSON, e.g. \'{"status_vocab": "hingnet"}\'')
    p.add_argument("--ready-file", default=None, help="also write the ready JSON line to this file")
    p.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace, state: State) -> None:
    runners = await start_servers(state, args.host, args.port, args.cdn_host, args.cdn_port)
    try:
        line = json.dumps({"url": state.url, "cdn_url": state.cdn_url, "pid": os.getpid()})
        if args.ready_file:
            tmp = f"{args.ready_file}.tmp{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(line + "\n")
            os.replace(tmp, args.ready_file)
        try:
            print(line, flush=True)
        except BrokenPipeError:  # nobody reads stdout: keep serving
            pass
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await stop_servers(runners)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = json.loads(args.config) if args.config else {}
        flags = {"job_seconds": args.job_seconds, "video_bytes": args.video_bytes, "gateway": args.gateway,
                 "strict": False if args.lenient else None,
                 "api_key": args.api_key or os.environ.get("VIDEOGEN_EMULATOR_API_KEY")}
        config = make_config(**{**config, **{k: v for k, v in flags.items() if v is not None}})
    except (ValueError, TypeError) as exc:
        print(f"videogen-emulator: bad configuration: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(args, State(config, log_requests=not args.quiet)))
    except OSError as exc:
        print(f"videogen-emulator: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``triton-ingest-server``: the server-side commands ``serve``, ``demo`` and ``nvcf-local``.

The client CLI ``triton-ingest`` (package triton-ingest-client) forwards these three here."""

from __future__ import annotations

import argparse
import sys

from . import demo, nvcf_gateway, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="triton-ingest-server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve.add_arguments(commands.add_parser("serve", help="run tritonserver on model_repository/"))
    commands.add_parser("demo", help="start Triton, embed examples, print similarities, stop")
    nvcf_gateway.add_arguments(commands.add_parser("nvcf-local", help="NVCF pexec API in front of a local Triton"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve.run(args)
    if args.command == "nvcf-local":
        return nvcf_gateway.run(args)
    return demo.main()


if __name__ == "__main__":
    sys.exit(main())

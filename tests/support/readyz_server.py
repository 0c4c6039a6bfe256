"""``python -m tests.support.readyz_server serve``: a stand-in service for devstack's tests. It
answers 200 to every GET on ``HTTP_PORT`` (loopback), as a real service answers ``/readyz``,
after ``READY_AFTER_SECONDS`` (a real service imports its code before it binds)."""

from __future__ import annotations

import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests read no log
        pass


def main() -> None:
    if sys.argv[1:2] != ["serve"]:
        raise SystemExit("usage: python -m tests.support.readyz_server serve")
    time.sleep(float(os.environ.get("READY_AFTER_SECONDS", "0")))
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["HTTP_PORT"])), Ready).serve_forever()


if __name__ == "__main__":
    main()

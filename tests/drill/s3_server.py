"""moto's S3 (server mode) over TLS on 127.0.0.1, on a port the kernel picks; prints `port N` when serving.

pgBackRest speaks S3 over HTTPS only. moto's own `moto_server --ssl` closes each TLS connection without a
close_notify, which OpenSSL 3 clients (pgBackRest) report as a truncated response ("unexpected eof while
reading") and retry for a minute; this server sends close_notify before closing. Run:
`python -m tests.drill.s3_server`; stop it by its pid (SIGTERM).
"""

from __future__ import annotations

import signal
import ssl
import sys
from types import FrameType
from typing import Any, Optional

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import generate_adhoc_ssl_context, make_server

HOST = "127.0.0.1"


def main() -> None:
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(HOST, 0, app, threaded=True, ssl_context=generate_adhoc_ssl_context())
    close = server.shutdown_request

    def shutdown_request(request: Any) -> None:
        try:
            request.unwrap()  # TLS close_notify, then the TCP close
        except (ssl.SSLError, OSError):
            pass
        close(request)

    server.shutdown_request = shutdown_request  # type: ignore[method-assign]

    def stop(signum: int, frame: Optional[FrameType]) -> None:
        server.server_close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"port {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

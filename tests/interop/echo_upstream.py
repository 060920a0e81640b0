"""The upstream behind nginx in run.sh: answers every GET with the identity headers it got.

Usage: python echo_upstream.py PORT
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (f"user={self.headers.get('X-User', '')}\n"
                f"roles={self.headers.get('X-Roles', '')}\n"
                f"path={self.path}\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()

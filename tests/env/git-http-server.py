#!/usr/bin/env python3
"""Serves the git repositories under ROOT over git's smart HTTP protocol, on 127.0.0.1, through
`git http-backend` (CGI). Test-only: lets the tests clone over http:// the way aws-app clones
from a hosting service. Prints the port it listens on, then serves until killed.

usage: git-http-server.py ROOT [USER:SECRET]

With USER:SECRET, every request needs HTTP basic auth with exactly those (else 401 and a
`WWW-Authenticate: Basic` challenge), as a private repository on a hosting service.
"""
import base64
import http.server
import os
import subprocess
import sys

ROOT = os.path.abspath(sys.argv[1])
AUTH = sys.argv[2] if len(sys.argv) > 2 else None


class GitHandler(http.server.BaseHTTPRequestHandler):
    def _authorized(self):
        if AUTH is None:
            return True
        expected = "Basic " + base64.b64encode(AUTH.encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="private repository"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _backend(self):
        if not self._authorized():
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = dict(
            os.environ,
            GIT_PROJECT_ROOT=ROOT,
            GIT_HTTP_EXPORT_ALL="1",
            PATH_INFO=path,
            QUERY_STRING=query,
            REQUEST_METHOD=self.command,
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
            CONTENT_LENGTH=str(len(body)),
            REMOTE_ADDR=self.client_address[0],
            HTTP_CONTENT_ENCODING=self.headers.get("Content-Encoding", ""),
            GIT_PROTOCOL=self.headers.get("Git-Protocol", ""),
        )
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _backend
    do_POST = _backend

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GitHandler)
print(server.server_address[1], flush=True)
server.serve_forever()

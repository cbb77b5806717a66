"""An event destination for a Redfish subscription: an HTTP server on
127.0.0.1 (a free port) that prints PORT first, then EVENT <json> for each
POST it receives, and exits after COUNT events or TIMEOUT seconds.

usage: redfish_events.py COUNT TIMEOUT
"""
import http.server
import json
import sys
import threading

count, timeout = int(sys.argv[1]), float(sys.argv[2])
got = []
done = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        print("EVENT", json.dumps(json.loads(body), sort_keys=True), flush=True)
        print("CONTENT_TYPE", self.headers.get("Content-Type"), flush=True)
        got.append(body)
        if len(got) >= count:
            done.set()

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("PORT", srv.server_address[1], flush=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
done.wait(timeout)
print("RECEIVED", len(got), flush=True)

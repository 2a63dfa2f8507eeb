"""Sends sample callbacks from events/ to the running function over real HTTP, the way
Xpollens would (same headers, same body), and prints what the function answered.

Usage: send_events.py BASE_URL FILE...   (a FILE may repeat: that is a redelivery)
"""

import json
import sys
import urllib.error
import urllib.request

base = sys.argv[1].rstrip("/")
for path in sys.argv[2:]:
    event = json.load(open(path))
    headers = {k: v for k, v in event["headers"].items() if k.lower() not in ("host", "content-length")}
    query = event.get("rawQueryString") or ""
    url = base + event["rawPath"] + ("?" + query if query else "")
    req = urllib.request.Request(url, data=event["body"].encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=900) as resp:
            status, body = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    print(f"  {status}  {path.split('/')[-1]:<36} {body}")

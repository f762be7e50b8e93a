#!/usr/bin/env python3
"""SIP relay for bench/media_rtpengine.sh: puts rtpengine in the media path of sipp's calls.

It sits between the carrier (sipp, client) and the answering phone (sipp, server), relays their
SIP and drives rtpengine over its ng control protocol (bencode over UDP), one exchange per step:
`offer` with the carrier's SDP on INVITE, `answer` with the phone's SDP on its 200, `delete` on
BYE. The SDPs each side sees are rtpengine's, so all RTP flows through it. Its own Contact goes
into the 200, so the carrier's ACK and BYE come back here. It writes one line per call to the
stats file: answer time, delete time and the RTP packets rtpengine counted for the call.

    ng_proxy.py LISTEN_PORT CARRIER_PORT PHONE_PORT NG_PORT STATS_FILE
"""
import itertools
import re
import socket
import sys
import time


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(type(v))


def bdecode(b, i=0):
    """The value at b[i:] and the index after it."""
    c = b[i : i + 1]
    if c == b"i":
        end = b.index(b"e", i)
        return int(b[i + 1 : end]), end + 1
    if c == b"l":
        out, i = [], i + 1
        while b[i : i + 1] != b"e":
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while b[i : i + 1] != b"e":
            k, i = bdecode(b, i)
            v, i = bdecode(b, i)
            out[k.decode()] = v
        return out, i + 1
    colon = b.index(b":", i)
    n = int(b[i:colon])
    return b[colon + 1 : colon + 1 + n], colon + 1 + n


class Ng:
    def __init__(self, port):
        self.addr = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2.0)
        self.cookies = itertools.count(1)

    def call(self, command, **args):
        cookie = b"%d_%d" % (id(self) & 0xFFFF, next(self.cookies))
        args["command"] = command
        msg = cookie + b" " + bencode(args)
        for _ in range(3):
            self.sock.sendto(msg, self.addr)
            try:
                while True:
                    data, _ = self.sock.recvfrom(65535)
                    got, _, body = data.partition(b" ")
                    if got == cookie:
                        reply, _ = bdecode(body)
                        if reply.get("result") != b"ok":
                            print(f"ng {command}: {reply}", file=sys.stderr)
                        return reply
            except socket.timeout:
                continue
        raise RuntimeError(f"rtpengine did not answer {command}")


def header(msg, name):
    m = re.search(rb"^" + name + rb":\s*(.*?)\r$", msg, re.M | re.I)
    return m.group(1).strip() if m else b""


def tag(value):
    m = re.search(rb";tag=([^;>\s]+)", value)
    return m.group(1).decode() if m else ""


def split(msg):
    head, _, body = msg.partition(b"\r\n\r\n")
    return head, body


def join(head, body):
    head = re.sub(rb"(?mi)^Content-Length:.*$", b"Content-Length: %d" % len(body), head)
    return head + b"\r\n\r\n" + body


def main():
    listen, carrier, phone, ng_port, stats_path = sys.argv[1:6]
    listen, carrier, phone = int(listen), ("127.0.0.1", int(carrier)), ("127.0.0.1", int(phone))
    ng = Ng(int(ng_port))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # root may pass net.core.rmem_max (SO_RCVBUFFORCE), as the bench's echo socket does
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 4 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", listen))
    via = b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-ngp" % listen
    contact = b"Contact: <sip:127.0.0.1:%d>" % listen
    answered = {}  # call-id -> time of the answer
    stats = open(stats_path, "a", buffering=1)
    while True:
        msg, src = sock.recvfrom(65535)
        if not msg.strip():
            continue
        head, body = split(msg)
        first = head.split(b"\r\n", 1)[0]
        call_id = header(head, b"Call-ID").decode()
        if not first.startswith(b"SIP/2.0"):
            # A request from the carrier: our Via on top, the SDP rtpengine's, on to the phone.
            method = first.split(b" ", 1)[0]
            from_tag = tag(header(head, b"From"))
            if method == b"INVITE" and body:
                r = ng.call("offer", **{"call-id": call_id, "from-tag": from_tag, "sdp": body})
                body = r.get("sdp", body)
            elif method == b"BYE" and call_id in answered:  # not again for a retransmitted BYE
                r = ng.call("delete", **{"call-id": call_id, "from-tag": from_tag})
                packets = r.get("totals", {}).get("RTP", {}).get("packets", 0)
                stats.write(f"{call_id} {answered.pop(call_id):.3f} {time.time():.3f} {packets}\n")
            line_end = head.index(b"\r\n")
            # The carrier's in-dialog requests come to us (our Contact); the phone's is its port.
            start = b"%s sip:127.0.0.1:%d SIP/2.0" % (method, phone[1]) if method != b"INVITE" else first
            head = start + head[line_end : line_end + 2] + via + b"\r\n" + head[line_end + 2 :]
            sock.sendto(join(head, body), phone)
        else:
            # A response from the phone: our Via off, rtpengine's SDP in a 200, on to the carrier.
            head = re.sub(rb"(?mi)^Via: SIP/2.0/UDP 127\.0\.0\.1:%d;branch=z9hG4bK-ngp\r\n" % listen, b"", head, count=1)
            if first.startswith(b"SIP/2.0 200") and b"INVITE" in header(head, b"CSeq") and body:
                r = ng.call(
                    "answer",
                    **{
                        "call-id": call_id,
                        "from-tag": tag(header(head, b"From")),
                        "to-tag": tag(header(head, b"To")),
                        "sdp": body,
                    },
                )
                body = r.get("sdp", body)
                head = re.sub(rb"(?mi)^Contact:.*$", contact, head, count=1)
                answered.setdefault(call_id, time.time())
            sock.sendto(join(head, body), carrier)


if __name__ == "__main__":
    main()

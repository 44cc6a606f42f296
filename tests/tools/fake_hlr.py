#!/usr/bin/env python3
"""fake_hlr: a malicious "HLR" for the fault tests. It listens where guichetd expects osmo-hlr
(GSUP over IPA, TCP), takes guichetd's EUSE connection and sends it malformed traffic: IPA
frames with junk, GSUP messages whose IEs are truncated or oversized, USSD requests whose GSM
04.80 component is broken in every way a parser can meet, answers for sessions never opened,
reused session ids, floods. Between the kinds, and at the end, a well-formed USSD request must
still get its screen: the daemon kept serving.

  fake_hlr.py PORT [HOST]       prints `ok ...` / `FAIL ...` lines; exit 0 when every check held

Stdlib only. The GSUP and IPA layouts are libosmocore's (gsup.h, protocol/ipaccess.h)."""
import random
import socket
import struct
import sys
import time

PORT = int(sys.argv[1])
HOST = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
IMSI = "001010000000001"
fails = 0
rng = random.Random(4222)


def ok(msg):
    print("ok - " + msg, flush=True)


def fail(msg):
    global fails
    fails += 1
    print("FAIL: " + msg, flush=True)


def ipa(proto, payload):
    return struct.pack(">HB", len(payload), proto) + payload


def gsup_frame(gsup):
    return ipa(0xEE, b"\x05" + gsup)   # IPAC_PROTO_OSMO, IPAC_PROTO_EXT_GSUP


def bcd(digits):
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1], 16) << 4 | int(digits[i], 16) for i in range(0, len(digits), 2))


def ie(tag, value):
    return bytes([tag, len(value)]) + value


def pack7(text):
    out, acc, bits = [], 0, 0
    for ch in text:
        acc |= ord(ch) << bits
        bits += 7
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits:
        out.append(acc & 0xFF)
    return bytes(out)


def invoke(text, invoke_id=1, op=0x3B, dcs=0x0F, data=None):
    s = pack7(text) if data is None else data
    seq = bytes([0x04, 1, dcs, 0x04, len(s)]) + s
    body = bytes([0x02, 1, invoke_id, 0x02, 1, op, 0x30, len(seq)]) + seq
    return bytes([0xA1, len(body)]) + body


def ss_msg(sid, state, comp, imsi=IMSI, mtype=0x20, extra=b""):
    m = bytes([mtype]) + ie(0x01, bcd(imsi)) + ie(0x30, struct.pack(">I", sid)) + ie(0x31, bytes([state]))
    if comp is not None:
        m += ie(0x35, comp)
    return m + extra


class Link:
    def __init__(self, conn):
        self.c = conn
        self.c.settimeout(0.2)
        self.buf = b""

    def send(self, data):
        self.c.sendall(data)

    def frames(self, timeout):
        """Frames received within timeout (answers PINGs, acks identities)."""
        out, end = [], time.time() + timeout
        while time.time() < end:
            try:
                d = self.c.recv(65536)
                if not d:
                    raise ConnectionError("guichetd closed the GSUP link")
                self.buf += d
            except socket.timeout:
                pass
            while len(self.buf) >= 3:
                n, proto = struct.unpack(">HB", self.buf[:3])
                if len(self.buf) < 3 + n:
                    break
                payload, self.buf = self.buf[3:3 + n], self.buf[3 + n:]
                if proto == 0xFE and payload[:1] == b"\x00":
                    self.send(ipa(0xFE, b"\x01"))           # PING -> PONG
                elif proto == 0xFE and payload[:1] == b"\x05":
                    self.send(ipa(0xFE, b"\x06"))           # ID_RESP -> ID_ACK
                elif proto == 0xEE and payload[:1] == b"\x05":
                    out.append(payload[1:])
        return out

    def screen_for(self, sid, timeout=5.0):
        """Waits for a PROC_SS_RESULT/ERROR of session sid; returns its message type or None."""
        end = time.time() + timeout
        while time.time() < end:
            for g in self.frames(0.2):
                if len(g) < 1 or g[0] not in (0x21, 0x22):
                    continue
                i = 1
                while i + 2 <= len(g):
                    tag, ln = g[i], g[i + 1]
                    if tag == 0x30 and ln == 4 and struct.unpack(">I", g[i + 2:i + 6])[0] == sid:
                        return g[0]
                    i += 2 + ln
        return None


sid_next = [1000]


def new_sid():
    sid_next[0] += 1
    return sid_next[0]


def still_serving(link, what):
    sid = new_sid()
    link.send(gsup_frame(ss_msg(sid, 1, invoke("*4321#"))))
    t = link.screen_for(sid)
    if t == 0x22:
        ok("a well-formed USSD request after %s is answered" % what)
    else:
        fail("no screen for a well-formed request after %s (got %r)" % (what, t))
    # Close it from the phone's side.
    link.send(gsup_frame(ss_msg(sid, 3, invoke("0", invoke_id=2, op=0x3C))))


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((HOST, PORT))
    srv.listen(4)
    srv.settimeout(15)
    conn, _ = srv.accept()
    link = Link(conn)
    # What osmo-hlr does first: ask for the peer's identity.
    link.send(ipa(0xFE, b"\x04\x01\x08\x01\x07\x01\x02"))
    link.frames(0.5)
    still_serving(link, "the link came up")

    # 1. IPA junk: unknown protocols, unknown OSMO extensions, empty frames, short frames.
    link.send(ipa(0x42, b"junk") + ipa(0xEE, b"") + ipa(0xEE, b"\x7f hello") + ipa(0xFE, b"\x99") +
              ipa(0xEE, b"\x05"))
    still_serving(link, "IPA frames of unknown kinds")

    # 2. GSUP envelopes that do not decode: truncated IEs, lengths past the end, unknown types.
    bad = [b"\x20", b"\x20\x01", b"\x20\x01\xff" + b"\x00" * 3, b"\x20\x01\x08" + bcd(IMSI),
           b"\xff" + ie(0x01, bcd(IMSI)), b"\x20" + ie(0x01, b"") + ie(0x30, b"\x00"),
           b"\x20" + ie(0x01, bcd(IMSI)) + ie(0x30, b"\x00\x00\x00\x01\x02") + ie(0x31, b"\x01"),
           b"\x20" + ie(0x01, bcd("1" * 20)) + ie(0x30, b"\x00\x00\x00\x02") + ie(0x31, b"\x01"),
           b"\x20" + ie(0x01, b"\xff" * 8) + ie(0x30, b"\x00\x00\x00\x03") + ie(0x31, b"\x09") +
           ie(0x35, b"\xa1"),
           bytes(rng.randrange(256) for _ in range(200))]
    for g in bad:
        link.send(gsup_frame(g))
    still_serving(link, "%d undecodable GSUP messages" % len(bad))

    # 3. USSD requests whose GSM 04.80 component is broken.
    comps = [b"", b"\xa1", b"\xa1\x00", b"\xa1\x7f\x02\x01", b"\xa1\x81", b"\xa1\x82\xff\xff",
             b"\xa1\x84\xff\xff\xff\xff" + b"\x00" * 8,
             invoke("x", dcs=0x48, data=b"\xd8\x00"),              # lone surrogate
             invoke("x", dcs=0x48, data=b"\x00\x41\x00"),          # odd UCS-2
             invoke("x", dcs=0x44, data=b"\x00\xff\x80"),          # 8-bit with NUL
             invoke("x", dcs=0xF4, data=b"\x1b" * 20),             # escapes only
             invoke("x", data=b"\xff" * 160),                       # 182 septets
             invoke("x", op=0x3C), invoke("x", op=0x00), invoke("x", invoke_id=255),
             bytes([0xA2, 3, 2, 1, 1]), bytes([0xA3, 6, 2, 1, 1, 2, 1, 0x22]),
             bytes([0xA4, 3, 2, 1, 1]), bytes([0x30, 2, 0xA1, 0]),
             bytes(rng.randrange(256) for _ in range(120))]
    for k, comp in enumerate(comps):
        sid = new_sid()
        link.send(gsup_frame(ss_msg(sid, 1, comp)))
        link.frames(0.02)
    link.send(gsup_frame(ss_msg(new_sid(), 1, None)))          # BEGIN without ss_info
    still_serving(link, "%d broken 04.80 components in BEGINs" % (len(comps) + 1))

    # 4. Dialogue misuse: answers for unknown sessions, END for unknown ones, errors, reuse of a
    #    session id while its screen is in flight, CONTINUE with a broken component, RESULT and
    #    ERROR messages from the "network" side, unknown session states.
    link.send(gsup_frame(ss_msg(new_sid(), 2, invoke("1", op=0x3C))))
    link.send(gsup_frame(ss_msg(new_sid(), 3, None)))
    link.send(gsup_frame(ss_msg(new_sid(), 7, invoke("1"))))
    link.send(gsup_frame(ss_msg(new_sid(), 1, invoke("*4321#"), mtype=0x22)))
    link.send(gsup_frame(ss_msg(new_sid(), 1, None, mtype=0x21, extra=ie(0x02, b"\x11"))))
    sid = new_sid()
    link.send(gsup_frame(ss_msg(sid, 1, invoke("*4321#"))) + gsup_frame(ss_msg(sid, 1, invoke("*4321#"))) +
              gsup_frame(ss_msg(sid, 2, b"\xa2\x05\x02\x01")) + gsup_frame(ss_msg(sid, 2, invoke("9"))))
    link.frames(0.5)
    still_serving(link, "answers for unknown sessions and a reused session id")

    # 5. A flood of BEGINs never continued (each waits for its guard timeout), other IMSIs.
    for i in range(300):
        link.send(gsup_frame(ss_msg(new_sid(), 1, invoke("*4321#"), imsi="0010100000%05d" % i)))
    link.frames(1.0)
    still_serving(link, "300 dialogues opened and abandoned")

    # 6. One frame cut in the middle, completed later; then a huge frame of garbage.
    f = gsup_frame(ss_msg(new_sid(), 1, invoke("*4321#")))
    link.send(f[:7])
    time.sleep(0.3)
    link.send(f[7:])
    link.frames(0.5)
    still_serving(link, "a frame split in two writes")
    # A frame larger than libosmocore's IPA buffers: guichetd may drop the link (it then
    # must come back by itself) or skip the frame; either way it serves again.
    try:
        link.send(ipa(0xEE, b"\x05" + b"\x20" * 60000))
        link.frames(1.0)
    except (ConnectionError, OSError):
        conn.close()
        conn, _ = srv.accept()
        link = Link(conn)
        link.send(ipa(0xFE, b"\x04\x01\x08\x01\x07\x01\x02"))
        link.frames(0.5)
        ok("guichetd dropped the link on a 60 KB frame and connected again")
    still_serving(link, "a 60 KB frame")
    conn.close()
    print("fake_hlr: %s" % ("all passed" if not fails else "%d check(s) failed" % fails), flush=True)
    return 1 if fails else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ConnectionError, OSError, socket.timeout) as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)

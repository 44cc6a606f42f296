#!/usr/bin/env python3
"""Soak test driver (run by soak.sh): guichetd under random dialogues with faults, then checks.

Peers: the demo HTTPS back-end, two dummy modems (sms_inject), the test SMSC (smsc), the
aggregator USSD callback (HTTP). For SOAK_MINUTES:
  - people text random words of the sample flows through the modems and the SMSC (a person
    waits at least 1.5 s between two texts), and dial *4321# through the USSD callback;
  - SIGHUP every minute (SOAK_HUP_S; the daemon must still be running after it);
  - kill -9 at random (every ~90 s on average), restarted at once;
  - back-end outages of 5-20 s every ~2 minutes.
The last fifth (at least 60 s) runs the same load without faults; guichetd's RSS is taken
15 s into it (baseline) and again after the load stops and replies drain (end).
Checks: every message given to a modem was stored (inbound table) and the modem inboxes are
empty; every deliver_sm the SMSC sent was acknowledged; no reply left queued; no sanitizer
report; no unexpected exit; end RSS within 25 % + 4 MB of the baseline. Prints figures.
Exit 0 when every check held."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

ROOT, B, T = sys.argv[1], sys.argv[2], sys.argv[3]
MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
SEED = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
rng = random.Random(SEED)
WORDS = ["RDV", "1", "2", "3", "DOSSIER", "12345678", "1234", "AIDE", "0", "STOP", "bonjour",
         "OUI", "NON", "DROITS", "15/03/2026", "Bonjour, je voudrais un rendez-vous svp",
         "Ça marche très bien, merci !", "9" * 30]
fails = []


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def check(cond, what):
    log(("ok - " if cond else "FAIL: ") + what)
    if not cond:
        fails.append(what)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---- peers (stopped by pid at exit, whatever the exit) ----
children = []


def stop_children():
    for p in children:
        try:
            os.kill(p() if callable(p) else p, signal.SIGKILL)
        except (OSError, TypeError):
            pass


import atexit
atexit.register(stop_children)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
bport = free_port()
backend_pid = int(subprocess.check_output([ROOT + "/tests/backend/run-demo-backend.sh",
                                           T + "/backend", str(bport)]).decode().strip())
with open(T + "/backend/agenda-token") as f, open(T + "/agenda-token", "w") as g:
    g.write(f.read())
os.chmod(T + "/agenda-token", 0o600)
with open(T + "/smsc-password", "w") as f:
    f.write("soakpass\n")
os.chmod(T + "/smsc-password", 0o600)
os.mkfifo(T + "/smsc.ctl")
smsc = subprocess.Popen([B + "/tools/smsc", "--port-file", T + "/smsc.port", "--control", T + "/smsc.ctl",
                         "--log", T + "/smsc.log", "--system-id", "guichet", "--password", "soakpass"],
                        stderr=open(T + "/smsc.err", "w"))
for _ in range(100):
    if os.path.exists(T + "/smsc.port") and os.path.getsize(T + "/smsc.port") > 0:
        break
    time.sleep(0.1)
sport = int(open(T + "/smsc.port").read().strip())
children.append(smsc.pid)
children.append(lambda: backend_pid)
children.append(lambda: gd.pid if gd else None)
smsc_ctl = open(T + "/smsc.ctl", "w")
hport = free_port()

demo = open(ROOT + "/config/demo.yaml", encoding="utf-8").read().split("\nmodems:")[0]
demo = demo.replace("flows: ../flows", "flows: %s/flows" % ROOT)
demo = demo.replace("store: ../build/demo/guichet.db", "store: %s/guichet.db" % T)
demo = demo.replace("credentials: ../build/demo", "credentials: %s" % T)
demo = demo.replace("retention: 1h", "retention: 4h")
demo = demo.replace("../build/demo/demo-ca.pem", "%s/backend/demo-ca.pem" % T)
demo = demo.replace("https://127.0.0.1:8443", "https://127.0.0.1:%d" % bport)
demo += """
modems:
  - { name: d1, model: dummy, device: %(t)s/d1, poll_ms: 100, rate: 0, sent_log: %(t)s/d1.sent.jsonl }
  - { name: d2, model: dummy, device: %(t)s/d2, poll_ms: 100, rate: 0, sent_log: %(t)s/d2.sent.jsonl }
smpp:
  - { name: opx, host: 127.0.0.1, port: %(sport)d, system_id: guichet, password: smsc-password,
      source: "38123", parts_per_second: 100, enquire_link: 5s, reconnect_min: 1s, reconnect_max: 2s }
ussd_http: { listen: 127.0.0.1, port: %(hport)d, allow: [127.0.0.1] }
""" % {"t": T, "sport": sport, "hport": hport}
open(T + "/guichet.yaml", "w", encoding="utf-8").write(demo)
for m in ("d1", "d2"):
    os.makedirs("%s/%s/sms/1" % (T, m), exist_ok=True)

gd = None
glog = open(T + "/guichetd.log", "ab")
unexpected_exits = 0


def start_guichetd():
    """Starts guichetd and waits for its own "started" line (the log holds earlier ones)."""
    global gd
    before = open(T + "/guichetd.log", "rb").read().count(b"guichetd started")
    gd = subprocess.Popen([B + "/guichetd", "-f", "-c", T + "/guichet.yaml"], stderr=glog)
    for _ in range(400):
        if open(T + "/guichetd.log", "rb").read().count(b"guichetd started") > before:
            return
        if gd.poll() is not None:
            return
        time.sleep(0.05)


def alive():
    global unexpected_exits
    if gd.poll() is not None:
        unexpected_exits += 1
        tail = open(T + "/guichetd.log", "rb").read()[-600:].decode("utf-8", "replace")
        log("guichetd exited by itself (status %s): restarted; its last lines:\n%s" %
            (gd.returncode, "\n".join("    " + l for l in tail.splitlines()[-4:])))
        start_guichetd()
        return False
    return True


start_guichetd()

# ---- load ----
people = ["+3361100%04d" % i for i in range(80)]
home = {p: ("d1", "d2", "smpp")[i % 3] for i, p in enumerate(people)}
last_text = {p: 0.0 for p in people}
injected = {}
smpp_sent = 0
ussd_ok = ussd_bad = 0
ussd_lock = threading.Lock()


def text_someone():
    global smpp_sent
    p = rng.choice(people)
    now = time.time()
    if now - last_text[p] < 1.5:
        return
    last_text[p] = now
    w = rng.choice(WORDS)
    if home[p] == "smpp":
        smsc_ctl.write("deliver single %s 38123 %s\n" % (p, w))
        smsc_ctl.flush()
        smpp_sent += 1
    else:
        subprocess.run([B + "/tools/sms_inject", "%s/%s" % (T, home[p]), p, w],
                       stdout=subprocess.DEVNULL, check=True)
        injected[(home[p], p)] = injected.get((home[p], p), 0) + 1


def ussd_dialogue(sid):
    global ussd_ok, ussd_bad
    text, good = "", True
    answers = [rng.choice(["1", "2", "3", "0", "12345678", "9"]) for _ in range(rng.randint(0, 3))]
    for step in range(len(answers) + 1):
        if step:
            text = (text + "*" if text else "") + answers[step - 1]
        body = urllib.parse.urlencode({"sessionId": sid, "serviceCode": "*4321#",
                                       "phoneNumber": "+33622%06d" % (hash(sid) % 10 ** 6),
                                       "text": text}).encode()
        try:
            r = urllib.request.urlopen("http://127.0.0.1:%d/" % hport, body, timeout=10).read().decode()
        except Exception:
            good = False
            break
        if not r.startswith("CON"):
            break
    with ussd_lock:
        if good:
            ussd_ok += 1
        else:
            ussd_bad += 1


t0 = time.time()
deadline = t0 + MINUTES * 60
calm_from = deadline - max(60.0, MINUTES * 60 / 5)
HUP_S = float(os.environ.get("SOAK_HUP_S", "60"))
next_hup = t0 + HUP_S
next_kill = t0 + rng.expovariate(1 / 90.0)
next_outage = t0 + rng.uniform(60, 180)
backend_down_until = 0.0
kills = hups = outages = 0
baseline = None
peak = 0
threads = []
log("soak: %.1f minutes, seed %d, guichetd pid %d" % (MINUTES, SEED, gd.pid))
while time.time() < deadline:
    now = time.time()
    calm = now >= calm_from
    for _ in range(2):
        text_someone()
    if rng.random() < 0.3:
        th = threading.Thread(target=ussd_dialogue, args=("s%d" % rng.getrandbits(40),), daemon=True)
        th.start()
        threads.append(th)
    if now >= next_hup:
        next_hup += HUP_S
        if alive():
            gd.send_signal(signal.SIGHUP)
            hups += 1
            time.sleep(1)
            alive()
    if not calm and now >= next_kill:
        next_kill = now + rng.expovariate(1 / 90.0)
        if alive():
            gd.send_signal(signal.SIGKILL)
            gd.wait()
            kills += 1
            start_guichetd()
    if backend_down_until and now >= backend_down_until:
        backend_pid = int(subprocess.check_output([ROOT + "/tests/backend/run-demo-backend.sh",
                                                   T + "/backend", str(bport)]).decode().strip())
        backend_down_until = 0.0
    if not calm and not backend_down_until and now >= next_outage:
        next_outage = now + rng.uniform(90, 150)
        os.kill(backend_pid, signal.SIGKILL)
        outages += 1
        backend_down_until = now + rng.uniform(5, 20)
    if calm and baseline is None and now >= calm_from + 15:
        alive()
        baseline = rss_kb(gd.pid)
        log("calm phase: baseline RSS %d kB" % baseline)
    if gd.poll() is None:
        peak = max(peak, rss_kb(gd.pid))
    alive()
    time.sleep(0.2)

# ---- drain, then checks ----
for th in threads:
    th.join(15)
if backend_down_until:
    backend_pid = int(subprocess.check_output([ROOT + "/tests/backend/run-demo-backend.sh",
                                               T + "/backend", str(bport)]).decode().strip())
log("load stopped; draining")
db_path = T + "/guichet.db"


def pending_replies():
    try:
        c = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
        n = c.execute("SELECT count(*) FROM outbound WHERE state IN ('queued','taken')").fetchone()[0]
        c.close()
        return n
    except sqlite3.Error:
        return -1


inbox_left = lambda: sum(len(os.listdir("%s/%s/sms/1" % (T, m))) for m in ("d1", "d2"))
for _ in range(120):
    if pending_replies() == 0 and inbox_left() == 0:
        break
    time.sleep(0.5)
time.sleep(5)
alive()
end_rss = rss_kb(gd.pid)
gd.send_signal(signal.SIGTERM)
try:
    rc = gd.wait(30)
except subprocess.TimeoutExpired:
    rc = "timeout"
check(rc == 0, "guichetd stopped cleanly at the end (exit %s)" % rc)

c = sqlite3.connect(db_path)
stored_short = 0
for (via, num), n in injected.items():
    s = c.execute("SELECT count(*) FROM inbound WHERE via = ? AND sender = ?", (via, num)).fetchone()[0]
    if s < n:
        stored_short += n - s
states = dict(c.execute("SELECT state, count(*) FROM outbound GROUP BY state").fetchall())
stored = c.execute("SELECT count(*) FROM inbound").fetchone()[0]
not_done = c.execute("SELECT count(*) FROM inbound WHERE done = 0").fetchone()[0]
dup = c.execute("SELECT value FROM meta WHERE name = 'duplicate_sends'").fetchone()[0]
c.close()
n_mod = sum(injected.values())
smsc_ctl.close()
acks = 0
replies_smpp = 0
for line in open(T + "/smsc.log", encoding="utf-8", errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "mo_ack" and not e.get("receipt"):
        acks += 1
    elif e.get("event") == "message":
        replies_smpp += 1
replies_mod = 0
for m in ("d1", "d2"):
    if os.path.exists("%s/%s.sent.jsonl" % (T, m)):
        replies_mod += sum(1 for _ in open("%s/%s.sent.jsonl" % (T, m)))
gtext = open(T + "/guichetd.log", "rb").read().decode("utf-8", "replace")
sanitizer = any(k in gtext for k in ("runtime error", "AddressSanitizer", "LeakSanitizer"))

check(inbox_left() == 0, "the modem inboxes are empty (%d files left)" % inbox_left())
check(stored_short == 0, "every message given to a modem is stored (%d of %d missing)" % (stored_short, n_mod))
check(acks >= smpp_sent, "every deliver_sm acknowledged by guichetd (%d of %d)" % (acks, smpp_sent))
check(states.get("queued", 0) + states.get("taken", 0) == 0,
      "no reply left queued (outbound states: %s)" % states)
check(not_done == 0, "every stored inbound message processed (%d not done)" % not_done)
check(not sanitizer, "no sanitizer report in guichetd's log")
check(unexpected_exits == 0, "no unexpected exit of guichetd (%d)" % unexpected_exits)
if baseline:
    check(end_rss <= baseline * 1.25 + 4096,
          "memory back to baseline: %d kB at the end, %d kB baseline" % (end_rss, baseline))
print("SOAK FIGURES: minutes=%.1f seed=%d sms_modem_in=%d sms_smpp_in=%d stored=%d replies_modem=%d "
      "replies_smpp=%d ussd_dialogues_ok=%d ussd_dialogues_failed=%d kill9=%d sighup=%d "
      "backend_outages=%d duplicate_sends=%d dead_replies=%d rss_baseline_kb=%s rss_end_kb=%d "
      "rss_peak_kb=%d" % (MINUTES, SEED, n_mod, smpp_sent, stored, replies_mod, replies_smpp, ussd_ok,
                          ussd_bad, kills, hups, outages, dup, states.get("dead", 0), baseline, end_rss,
                          peak), flush=True)
for p in (smsc,):
    p.terminate()
os.kill(backend_pid, signal.SIGTERM)
print("soak: %s" % ("all checks passed" if not fails else "%d check(s) failed" % len(fails)))
sys.exit(1 if fails else 0)

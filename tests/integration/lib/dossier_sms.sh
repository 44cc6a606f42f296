# The privacy scripts' person, sourced after harness.sh: the sample case status flow, asking
# a secret code, texted (SECRET, from NUMBER) on the dummy modem against the demo back-end.
SECRET=739146
NUMBER=+33698765432

# dossier_setup LINE...: T/flows (the sample dossier flow with a 6-digit code, so that the code
# cannot occur in a log by chance, and the common messages), the demo back-end, and
# T/guichet.yaml: the flows, LINEs (store:, log:, ...), the dossier back-end and the dummy
# modem on T/modem, its sent messages in T/sent.jsonl.
dossier_setup() {
	mkdir -p "$T/flows" "$T/modem"
	sed 's/expect: { secret: { digits: 4 }, retry: "Le code a 4 chiffres."/expect: { secret: { digits: 6 }, retry: "Le code a 6 chiffres."/' \
		"$ROOT/flows/dossier.yaml" > "$T/flows/dossier.yaml"
	grep -q "digits: 6" "$T/flows/dossier.yaml" || fail "test setup: the flow did not change"
	cp "$ROOT/flows/commun.yaml" "$T/flows/"
	start_backend "$T/backend"
	{ printf '%s\n' "flows: $T/flows" "credentials: $T/backend" "$@"; cat <<EOF
backends:
  dossier:
    url: https://127.0.0.1:$BPORT
    ca: $T/backend/demo-ca.pem
    auth: { bearer: agenda-token }
    operations:
      status:
        method: POST
        path: /dossiers/status
        body: { numero: "{{numero}}", code: "{{code}}" }
        require: [status, label]
modems:
  - { name: m1, model: dummy, device: $T/modem, poll_ms: 50, rate: 0, sent_log: $T/sent.jsonl }
EOF
	} > "$T/guichet.yaml"
}

# replies: how many messages the modem has sent.
replies() { [ -f "$T/sent.jsonl" ] && wc -l < "$T/sent.jsonl" || echo 0; }

# say TEXT: the person texts TEXT and waits for the answer (fail when none comes).
say() {
	local before; before=$(replies)
	"$B/tools/sms_inject" "$T/modem" "$NUMBER" "$1" >/dev/null || fail "inject"
	for _ in $(seq 100); do [ "$(replies)" -gt "$before" ] && return 0; sleep 0.05; done
	fail "no answer to [$1]"
}

#!/usr/bin/env bash
# make-certs.sh DIR: a test CA, a server certificate for 127.0.0.1 and localhost signed by it,
# a client certificate (for `auth: { cert: ... }`), and a second, unrelated CA for the
# wrong-CA test. Everything goes into DIR; nothing here is ever committed.
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077
days=3650
subj() { echo "/O=Guichet test/CN=$1"; }
# ECDSA P-256: handshakes cost a fraction of RSA's, which matters for bursts of 200.
key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"

openssl req -x509 $key -nodes -sha256 -days $days -subj "$(subj 'Guichet demo CA')" \
  -keyout demo-ca.key -out demo-ca.pem -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req $key -nodes -sha256 -subj "$(subj localhost)" \
  -keyout server.key -out server.csr 2>/dev/null
cat > server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
openssl x509 -req -in server.csr -CA demo-ca.pem -CAkey demo-ca.key -CAcreateserial \
  -days $days -sha256 -extfile server.ext -out server.pem 2>/dev/null

openssl req $key -nodes -sha256 -subj "$(subj guichet)" \
  -keyout client.key -out client.csr 2>/dev/null
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA demo-ca.pem -CAkey demo-ca.key -CAcreateserial \
  -days $days -sha256 -extfile client.ext -out client.pem 2>/dev/null

openssl req -x509 $key -nodes -sha256 -days $days -subj "$(subj 'Unrelated CA')" \
  -keyout other-ca.key -out other-ca.pem 2>/dev/null

rm -f server.csr server.ext client.csr client.ext demo-ca.srl
chmod 644 demo-ca.pem other-ca.pem server.pem client.pem
echo "certificates in $dir: demo-ca.pem server.pem server.key client.pem client.key other-ca.pem"

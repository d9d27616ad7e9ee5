#!/bin/sh
# Makes the county's own certificate authority (CA) and the broker's TLS certificate,
# with the openssl command line only:
#   sh deploy/central/make-certs.sh DIR NAME [NAME...]
#   sh deploy/central/make-certs.sh /etc/schoolnet-central/tls mqtt.hx.edu.example mosquitto
#
# NAMEs are what clients connect to: the broker's host name in every agent.yaml
# (broker.url), "mosquitto" for the collector under docker compose, IP addresses too.
# DIR/ca.pem goes to every gateway (/etc/schoolnet/ca.pem); DIR/ca.key signs, so keep it
# offline once the certificates are made. An existing CA is kept: run the script again
# to renew the server certificate (825 days) without touching a single gateway.
# BROKER_GROUP (default mosquitto; 1883 for the docker image) may read server.key.
set -eu

[ $# -ge 2 ] || { sed -n '2,13p' "$0"; exit 2; }
DIR=$1
shift
BROKER_GROUP=${BROKER_GROUP:-mosquitto}
CURVE="ec -pkeyopt ec_paramgen_curve:prime256v1"  # P-256: fast on a gateway's CPU

san=""
for name in "$@"; do
    case $name in
        *:*) entry="IP:$name" ;;       # IPv6
        *[!0-9.]*) entry="DNS:$name" ;;  # a host name
        *) entry="IP:$name" ;;           # IPv4
    esac
    san="${san:+$san,}$entry"
done

mkdir -p "$DIR"
cd "$DIR"
umask 077
if [ ! -f ca.pem ] || [ ! -f ca.key ]; then
    # shellcheck disable=SC2086  # CURVE is two words on purpose
    openssl req -x509 -newkey $CURVE -nodes -keyout ca.key -out ca.pem -days 3650 \
        -subj "/CN=schoolnet county CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign"
    echo "make-certs: new CA $DIR/ca.pem (copy it to each gateway as /etc/schoolnet/ca.pem)"
fi
printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > server.ext
# shellcheck disable=SC2086
openssl req -newkey $CURVE -nodes -keyout server.key -out server.csr -subj "/CN=$1"
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out server.pem -days 825 -extfile server.ext
rm -f server.csr server.ext
chmod 0644 ca.pem server.pem
chmod 0600 ca.key
chmod 0640 server.key
chgrp "$BROKER_GROUP" server.key 2>/dev/null \
    || echo "make-certs: group $BROKER_GROUP not found: let mosquitto's group read $DIR/server.key" >&2
echo "make-certs: server certificate $DIR/server.pem for $san"

#!/bin/sh
# Creates a self-signed certificate for nginx in /tls (a compose volume) once: TLS from the first start.
# Replace tls.crt / tls.key with your CA's certificate (the edge then needs no ROLLCALL_CA_FILE), or give the
# Pis this self-signed tls.crt as their ROLLCALL_CA_FILE.
set -eu
name="${TLS_HOSTNAME:-rollcall.local}"
[ -s /tls/tls.crt ] && [ -s /tls/tls.key ] && exit 0
openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=${name}" \
  -addext "subjectAltName=DNS:${name}" -addext "extendedKeyUsage=serverAuth" \
  -keyout /tls/tls.key -out /tls/tls.crt
chmod 644 /tls/tls.crt
chmod 640 /tls/tls.key
echo "self-signed certificate for ${name} written to /tls/tls.crt"

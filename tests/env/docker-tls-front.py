#!/usr/bin/env python3
"""A TLS front of a local Docker engine, as `dockerd --tlsverify -H tcp://...` serves its API:
TLS on 127.0.0.1 with a server certificate for 127.0.0.1 and localhost, a client certificate of
its CA required, the bytes relayed to the engine's unix socket. Test-only: lets the tests reach
a real engine the way an operator reaches a remote one (DOCKER_HOST=tcp://, DOCKER_TLS_VERIFY,
DOCKER_CERT_PATH), without a second engine.

usage: docker-tls-front.py DIR SOCKET

Writes, as the Docker documentation's "Protect the Docker daemon socket" makes them:
  DIR/client/{ca,cert,key}.pem  a docker CLI's DOCKER_CERT_PATH (key.pem an RSA key in the
                                traditional "BEGIN RSA PRIVATE KEY" form, as `openssl genrsa`
                                writes it)
  DIR/other/{ca,cert,key}.pem   the same from another CA: the engine's certificate is not its
Then prints the port it listens on and serves until killed.
"""
import asyncio
import datetime
import ipaddress
import os
import ssl
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DIR, SOCKET = os.path.abspath(sys.argv[1]), sys.argv[2]
NOW = datetime.datetime.now(datetime.timezone.utc)


def name(common):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def certificate(subject, key, issuer, issuer_key, ca=False, usage=None, sans=()):
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def client_set(folder, ca_name):
    """A CA and a client certificate of it, written as a DOCKER_CERT_PATH; the CA and its key."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(ca_name, ca_key, ca_name, ca_key, ca=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = certificate("client", key, ca_name, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    write(f"{DIR}/{folder}/ca.pem", pem(ca))
    write(f"{DIR}/{folder}/cert.pem", pem(cert))
    write(
        f"{DIR}/{folder}/key.pem",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
    )
    return ca, ca_key


ca, ca_key = client_set("client", "aws-app test engine CA")
client_set("other", "another CA")
server_key = ec.generate_private_key(ec.SECP256R1())
server = certificate(
    "127.0.0.1", server_key, "aws-app test engine CA", ca_key,
    usage=ExtendedKeyUsageOID.SERVER_AUTH,
    sans=(x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")),
)
write(f"{DIR}/server/cert.pem", pem(server))
write(
    f"{DIR}/server/key.pem",
    server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ),
)
write(f"{DIR}/server/ca.pem", pem(ca))

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(f"{DIR}/server/cert.pem", f"{DIR}/server/key.pem")
context.load_verify_locations(f"{DIR}/server/ca.pem")
context.verify_mode = ssl.CERT_REQUIRED


async def relay(tls_reader, tls_writer):
    try:
        engine_reader, engine_writer = await asyncio.open_unix_connection(SOCKET)
    except OSError:
        tls_writer.close()
        return

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass

    both = [asyncio.create_task(pipe(tls_reader, engine_writer)),
            asyncio.create_task(pipe(engine_reader, tls_writer))]
    await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
    for task in both:
        task.cancel()
    for writer in (engine_writer, tls_writer):
        writer.close()


async def main():
    # A refused handshake (a client of another CA) is what some tests make on purpose.
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())

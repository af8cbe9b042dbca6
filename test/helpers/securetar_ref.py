#!/usr/bin/env python3
"""Independent SecureTar v1/v2/v3 reference for the tests (haos-format.md section 5.5).

Written from the byte layouts, not from haos-rescue's code: Argon2id comes from argon2-cffi, BLAKE2b and
libsodium's secretstream from PyNaCl, AES-128-CBC from the `openssl enc` command line tool.

    securetar_ref.py encrypt --version {1,2,3} (--password PW | --raw-key HEX) IN OUT
    securetar_ref.py decrypt (--password PW | --raw-key HEX) IN OUT
    securetar_ref.py check            exits 0 when every module and tool this needs is there

decrypt exits 3 for a wrong password and 4 for damaged data (the message goes to stderr).
"""

import argparse
import hashlib
import hmac
import os
import struct
import subprocess
import sys

MAGIC = b"SecureTar"
CHUNK = 1024 * 1024
ABYTES = 17
PERSON = b"SecureTarv3"


def fail(code, message):
    sys.stderr.write(message + "\n")
    sys.exit(code)


def aes_key(password):
    key = password.encode("utf-8")
    for _ in range(100):
        key = hashlib.sha256(key).digest()
    return key[:16]


def aes_iv(key, salt):
    iv = key + salt
    for _ in range(100):
        iv = hashlib.sha256(iv).digest()
    return iv[:16]


def openssl_cbc(decrypt, key, iv, data):
    """Encrypts with PKCS#7 padding; decrypts without removing it (the caller checks it)."""
    args = ["openssl", "enc", "-aes-128-cbc", "-K", key.hex(), "-iv", iv.hex()]
    if decrypt:
        args += ["-d", "-nopad"]
    run = subprocess.run(args, input=data, capture_output=True)
    if run.returncode != 0:
        fail(4, "openssl: " + run.stderr.decode(errors="replace").strip())
    return run.stdout


def v3_keys(password, root_salt, validation_salt, derivation_salt):
    from argon2.low_level import Type, hash_secret_raw
    from nacl.encoding import RawEncoder
    from nacl.hash import blake2b

    root = hash_secret_raw(password.encode("utf-8"), root_salt, time_cost=8, memory_cost=16384,
                           parallelism=1, hash_len=32, type=Type.ID)
    validation = blake2b(b"", key=root, salt=validation_salt, person=PERSON, encoder=RawEncoder)
    file_key = blake2b(b"", key=root, salt=derivation_salt, person=PERSON, encoder=RawEncoder)
    return validation, file_key


def encrypt(version, password, raw_key, plain):
    head = MAGIC + bytes([version]) + b"\0" * 6 + struct.pack(">Q", len(plain)) + b"\0" * 8
    if version in (1, 2):
        key = bytes.fromhex(raw_key) if raw_key else aes_key(password)
        salt = os.urandom(16)
        return (head if version == 2 else b"") + salt + openssl_cbc(False, key, aes_iv(key, salt), plain)
    import nacl.bindings.crypto_secretstream as ss

    root_salt, validation_salt, derivation_salt = os.urandom(16), os.urandom(16), os.urandom(16)
    validation, file_key = v3_keys(password, root_salt, validation_salt, derivation_salt)
    state = ss.crypto_secretstream_xchacha20poly1305_state()
    stream_header = ss.crypto_secretstream_xchacha20poly1305_init_push(state, file_key)
    out = [head, root_salt, validation_salt, validation, derivation_salt, stream_header]
    pos = 0
    while True:
        piece = plain[pos:pos + CHUNK]
        pos += len(piece)
        last = pos >= len(plain)
        tag = ss.crypto_secretstream_xchacha20poly1305_TAG_FINAL if last else ss.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
        out.append(ss.crypto_secretstream_xchacha20poly1305_push(state, piece, None, tag))
        if last:
            return b"".join(out)


def decrypt_cbc(version, key, data):
    if version == 1:
        salt, body = data[:16], data[16:]
    else:
        salt, body = data[32:48], data[48:]
    plain = openssl_cbc(True, key, aes_iv(key, salt), body) if len(body) % 16 == 0 and body else None
    if plain is None:
        fail(4, "ciphertext length %d is not a positive multiple of 16" % len(body))
    if not (plain[:3] == b"\x1f\x8b\x08" or plain[257:262] == b"ustar"):
        fail(3, "wrong password: the first block is neither gzip nor tar")
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        fail(4, "bad padding")
    plain = plain[:-pad]
    if version == 2 and len(plain) != struct.unpack(">Q", data[16:24])[0]:
        fail(4, "plaintext size differs from the header")
    return plain


def decrypt_v3(password, data):
    import nacl.bindings.crypto_secretstream as ss
    from nacl.exceptions import CryptoError

    (size,) = struct.unpack(">Q", data[16:24])
    root_salt, validation_salt, stored, derivation_salt, stream_header = (
        data[32:48], data[48:64], data[64:96], data[96:112], data[112:136])
    validation, file_key = v3_keys(password, root_salt, validation_salt, derivation_salt)
    if not hmac.compare_digest(validation, stored):
        fail(3, "wrong password: the validation key differs")
    state = ss.crypto_secretstream_xchacha20poly1305_state()
    ss.crypto_secretstream_xchacha20poly1305_init_pull(state, stream_header, file_key)
    body, out, pos = data[136:], [], 0
    while True:
        piece = body[pos:pos + CHUNK + ABYTES]
        pos += len(piece)
        try:
            message, tag = ss.crypto_secretstream_xchacha20poly1305_pull(state, piece, None)
        except CryptoError as err:
            fail(4, "chunk at %d: %s" % (pos - len(piece), err))
        out.append(message)
        final = tag == ss.crypto_secretstream_xchacha20poly1305_TAG_FINAL
        if final != (pos >= len(body)):
            fail(4, "final tag in the wrong place")
        if final:
            plain = b"".join(out)
            if len(plain) != size:
                fail(4, "plaintext size differs from the header")
            return plain


def check():
    import argon2.low_level  # noqa: F401
    import nacl.bindings.crypto_secretstream  # noqa: F401
    import nacl.hash  # noqa: F401

    subprocess.run(["openssl", "version"], check=True, capture_output=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["encrypt", "decrypt", "check"])
    parser.add_argument("--version", type=int, choices=[1, 2, 3])
    parser.add_argument("--password")
    parser.add_argument("--raw-key")
    parser.add_argument("files", nargs="*")
    args = parser.parse_intermixed_args()
    if args.action == "check":
        check()
        return
    with open(args.files[0], "rb") as f:
        data = f.read()
    if args.action == "encrypt":
        result = encrypt(args.version, args.password, args.raw_key, data)
    elif data[:9] == MAGIC and data[9] == 3:
        result = decrypt_v3(args.password, data)
    else:
        key = bytes.fromhex(args.raw_key) if args.raw_key else aes_key(args.password)
        result = decrypt_cbc(2 if data[:9] == MAGIC else 1, key, data)
    with open(args.files[1], "wb") as f:
        f.write(result)


if __name__ == "__main__":
    main()

"""The appliance's VAPID identity (RFC 8292): a P-256 key pair made on first start, kept in
the data folder (mode 0600), and the signed token each push request carries."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ..system import durable
from . import b64

KEY_FILE = "push-vapid.pem"
TOKEN_LIFETIME_S = 12 * 3600  # push services accept at most 24 h


class VapidKey:
    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        # What browsers take as applicationServerKey and push services as `k`.
        self.public_key = b64.encode(raw)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> VapidKey:
        """Blocking (file I/O, key generation): call it in a thread."""
        path = data_dir / KEY_FILE
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path} does not hold a P-256 key")
            return cls(loaded)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        durable.write_file(path, pem, mode=0o600)
        return cls(key)

    def token(self, audience: str, subject: str, now_s: int) -> str:
        """An ES256 JWT for one push service origin (RFC 8292 section 2)."""
        header = b64.encode(json.dumps({"typ": "JWT", "alg": "ES256"}).encode())
        claims = {"aud": audience, "exp": now_s + TOKEN_LIFETIME_S, "sub": subject}
        body = b64.encode(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{body}".encode("ascii")
        der = self._key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JWS wants r||s, 32 bytes each, not DER
        return f"{header}.{body}.{b64.encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def authorization(self, audience: str, subject: str, now_s: int) -> str:
        return f"vapid t={self.token(audience, subject, now_s)}, k={self.public_key}"

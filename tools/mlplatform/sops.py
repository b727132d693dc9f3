"""SOPS-encrypted Secrets, as Flux's kustomize-controller recognises them.

kustomize-controller (internal/decryptor/decryptor.go, IsEncryptedSecret, v1.7) treats a `v1` Secret with a
top-level `sops` field as encrypted and decrypts it only when the Flux Kustomization sets
`spec.decryption` (provider `sops`); the applied Secret carries the decrypted values and no `sops` field.
The tool has no keys: the object it renders is that Secret with placeholders for the values, so schema
validation and the rules see what Flux applies, and never a ciphertext or a plaintext.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

PLACEHOLDER = "sops-encrypted-value"  # what a value decrypts to, as far as an offline check can know
_PLACEHOLDER_B64 = base64.b64encode(PLACEHOLDER.encode()).decode()


def is_encrypted_secret(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("kind") == "Secret"
        and obj.get("apiVersion") == "v1"
        and isinstance(obj.get("sops"), dict)
    )


def decrypted_placeholder(obj: dict[str, Any]) -> dict[str, Any]:
    """The Secret Flux would apply after decryption: no `sops` field, every encrypted value a placeholder
    (`data` keeps valid base64, `stringData` plain text); keys, metadata and type are kept."""
    out = copy.deepcopy(obj)
    out.pop("sops", None)
    for field, value in (("data", _PLACEHOLDER_B64), ("stringData", PLACEHOLDER)):
        entries = out.get(field)
        if isinstance(entries, dict):
            out[field] = {key: value if _encrypted(text) else text for key, text in entries.items()}
    return out


def _encrypted(text: Any) -> bool:
    # sops writes every encrypted leaf as ENC[<cipher>,data:...,type:...]; values left in clear by
    # encrypted_regex / unencrypted_suffix stay as they are
    return isinstance(text, str) and text.startswith("ENC[")

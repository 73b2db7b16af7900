"""Encode and decode: one encoder, validation with a readable reason (``ContractError``)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from groundstation.contract._base import MAX_PAYLOAD_BYTES

_encoder = msgspec.json.Encoder()
T = TypeVar("T")


def encode(obj: msgspec.Struct) -> bytes:
    return _encoder.encode(obj)


class ContractError(ValueError):
    """A payload that does not fit its channel. ``reason`` is safe to send back to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode(payload: bytes | bytearray, kind: type[T]) -> T:
    """Decode and validate a payload; raise ContractError with a readable reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return msgspec.json.decode(payload, type=kind)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        raise ContractError(str(exc)) from exc


def decode_data(data: dict[str, Any], kind: type[T]) -> T:
    """Validate the ``data`` of an envelope against a method's struct."""
    try:
        return msgspec.convert(data, type=kind)
    except msgspec.ValidationError as exc:
        raise ContractError(f"data: {exc}") from exc

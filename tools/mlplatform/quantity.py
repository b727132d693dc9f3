"""Kubernetes resource quantities ("500m", "16Gi", "1e3") to numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}


class QuantityError(ValueError):
    pass


def parse_quantity(value: object) -> Decimal:
    """Parse a quantity exactly; raise QuantityError on anything Kubernetes would reject."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str) or not value.strip():
        raise QuantityError(f"not a quantity: {value!r}")
    text = value.strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return _number(text[: -len(suffix)], value) * factor
    if text[-1:] in _DECIMAL and text[-1:] != "" and not text[-1:].isdigit():
        suffix = text[-1]
        # "1e3" is an exponent, not the E suffix; only a trailing letter is a suffix.
        return _number(text[:-1], value) * _DECIMAL[suffix]
    return _number(text, value)


def _number(text: str, original: object) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise QuantityError(f"not a quantity: {original!r}") from exc
    if not number.is_finite():
        raise QuantityError(f"not a quantity: {original!r}")
    return number


def cpu_millicores(value: object) -> int:
    return int((parse_quantity(value) * 1000).to_integral_value(rounding="ROUND_CEILING"))


def memory_bytes(value: object) -> int:
    return int(parse_quantity(value).to_integral_value(rounding="ROUND_CEILING"))


def count(value: object) -> int:
    """An extended resource or pod count; Kubernetes requires whole numbers for these."""
    number = parse_quantity(value)
    if number != number.to_integral_value():
        raise QuantityError(f"extended resources must be whole numbers: {value!r}")
    return int(number)

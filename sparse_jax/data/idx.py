"""Reader for IDX files, the format of MNIST, Fashion-MNIST and KMNIST.

An IDX file is a big-endian header followed by raw unsigned bytes. An image file
(magic number 2051) has a 16-byte header: magic, count, rows, cols. A label file
(magic number 2049) has an 8-byte header: magic, count. Files may be gzipped, and the
reader detects compression from the gzip magic bytes ``1f 8b``, not from the file
name.

The structure is always checked. The sha256 is checked only when the caller passes
``expected_sha256``, because Fashion-MNIST and KMNIST use the same file names as
MNIST and a name cannot tell them apart.
"""

import gzip
import hashlib
import os
import pathlib
import re
import struct
import zlib

import numpy as np

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
IMAGE_SIZE = 28  # rows and cols of MNIST, Fashion-MNIST and KMNIST images

_IMAGE_HEADER_BYTES = 16
_LABEL_HEADER_BYTES = 8
_GZIP_MAGIC = b"\x1f\x8b"
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")


def is_gzip_file(path: str | os.PathLike) -> bool:
    """Returns True when the file starts with the gzip magic bytes."""
    with open(path, "rb") as file:
        return file.read(2) == _GZIP_MAGIC


def read_idx_images(
    path: str | os.PathLike,
    *,
    verify: bool = True,
    expected_sha256: str | None = None,
) -> np.ndarray:
    """Reads an IDX image file, gzipped or not, and checks its structure.

    Args:
      path: the file, e.g. ``train-images-idx3-ubyte.gz``.
      verify: when False, ``expected_sha256`` is ignored. The structure is checked
        either way.
      expected_sha256: hex sha256 of the file as stored on disk (of the gzipped
        bytes for a gzipped file). None checks the structure only.

    Returns:
      uint8 array of shape (count, 28, 28), grey levels 0..255.

    Raises:
      ValueError: the file is truncated, corrupted, not an IDX image file, has
        images that are not 28 x 28, or does not match ``expected_sha256``.
    """
    path = _validate_path(path)
    expected_sha256 = _validate_sha256_arguments(verify, expected_sha256)
    stored, content, compressed = _read_and_decompress(path)

    if len(content) < _IMAGE_HEADER_BYTES:
        raise ValueError(
            f"{path}: {_describe_length(len(content), compressed)}, shorter than the "
            f"{_IMAGE_HEADER_BYTES}-byte IDX image header. The file is truncated or not an "
            "IDX image file."
        )
    magic, count, rows, cols = struct.unpack(">4I", content[:_IMAGE_HEADER_BYTES])
    _check_magic(path, magic, IMAGE_MAGIC, "image")
    if rows != IMAGE_SIZE or cols != IMAGE_SIZE:
        raise ValueError(
            f"{path}: images are {rows} x {cols}, expected {IMAGE_SIZE} x {IMAGE_SIZE} "
            "(MNIST-format datasets only)."
        )
    _check_length(path, len(content), _IMAGE_HEADER_BYTES + count * rows * cols, compressed)
    _check_sha256(path, stored, expected_sha256)

    pixels = np.frombuffer(content, dtype=np.uint8, offset=_IMAGE_HEADER_BYTES)
    return pixels.reshape(count, rows, cols).copy()


def read_idx_labels(
    path: str | os.PathLike,
    *,
    verify: bool = True,
    expected_sha256: str | None = None,
) -> np.ndarray:
    """Reads an IDX label file, gzipped or not, and checks its structure.

    Args:
      path: the file, e.g. ``train-labels-idx1-ubyte.gz``.
      verify: when False, ``expected_sha256`` is ignored. The structure is checked
        either way.
      expected_sha256: hex sha256 of the file as stored on disk (of the gzipped
        bytes for a gzipped file). None checks the structure only.

    Returns:
      uint8 array of shape (count,).

    Raises:
      ValueError: the file is truncated, corrupted, not an IDX label file, or does
        not match ``expected_sha256``.
    """
    path = _validate_path(path)
    expected_sha256 = _validate_sha256_arguments(verify, expected_sha256)
    stored, content, compressed = _read_and_decompress(path)

    if len(content) < _LABEL_HEADER_BYTES:
        raise ValueError(
            f"{path}: {_describe_length(len(content), compressed)}, shorter than the "
            f"{_LABEL_HEADER_BYTES}-byte IDX label header. The file is truncated or not an "
            "IDX label file."
        )
    magic, count = struct.unpack(">2I", content[:_LABEL_HEADER_BYTES])
    _check_magic(path, magic, LABEL_MAGIC, "label")
    _check_length(path, len(content), _LABEL_HEADER_BYTES + count, compressed)
    _check_sha256(path, stored, expected_sha256)

    return np.frombuffer(content, dtype=np.uint8, offset=_LABEL_HEADER_BYTES).copy()


def _validate_path(path) -> pathlib.Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}: {path!r}")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    return path


def _validate_sha256_arguments(verify, expected_sha256) -> str | None:
    """Returns the lower-case hash to check, or None when nothing is checked."""
    if not isinstance(verify, bool):
        raise TypeError(f"verify must be a bool, got {type(verify).__name__}: {verify!r}")
    if expected_sha256 is None:
        return None
    if not isinstance(expected_sha256, str):
        raise TypeError(
            "expected_sha256 must be a str of 64 hex digits or None, got "
            f"{type(expected_sha256).__name__}: {expected_sha256!r}"
        )
    if not _SHA256_PATTERN.fullmatch(expected_sha256.lower()):
        raise ValueError(f"expected_sha256 must be 64 hex digits, got {expected_sha256!r}")
    return expected_sha256.lower() if verify else None


def _read_and_decompress(path: pathlib.Path) -> tuple[bytes, bytes, bool]:
    """Returns the bytes as stored, the IDX bytes and whether the file was gzipped."""
    stored = path.read_bytes()
    if stored[:2] != _GZIP_MAGIC:
        return stored, stored, False
    try:
        return stored, gzip.decompress(stored), True
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(
            f"{path}: gzip decompression failed ({error}). The file is truncated or "
            "corrupted, so copy or download it again."
        ) from error


def _describe_length(length: int, compressed: bool) -> str:
    if compressed:
        return f"{length:,} bytes after decompression"
    return f"{length:,} bytes"


def _check_magic(path: pathlib.Path, magic: int, expected: int, kind: str) -> None:
    if magic == expected:
        return
    names = {IMAGE_MAGIC: "an IDX image file", LABEL_MAGIC: "an IDX label file"}
    found = f" ({names[magic]})" if magic in names else ""
    raise ValueError(
        f"{path}: invalid magic number {magic}{found}, expected {expected} for an IDX {kind} file."
    )


def _check_length(path: pathlib.Path, length: int, expected: int, compressed: bool) -> None:
    """Compares the content length with the one that the header counts imply."""
    if length == expected:
        return
    unit = "bytes after decompression" if compressed else "bytes"
    reason = "is truncated" if length < expected else "is longer than its header says"
    raise ValueError(f"{path}: expected {expected:,} {unit}, got {length:,}. The file {reason}.")


def _check_sha256(path: pathlib.Path, stored: bytes, expected_sha256: str | None) -> None:
    if expected_sha256 is None:
        return
    actual = hashlib.sha256(stored).hexdigest()
    if actual != expected_sha256:
        raise ValueError(
            f"{path}: sha256 mismatch: expected {expected_sha256}, got {actual}. The file "
            "is corrupted or is not the expected file (Fashion-MNIST and KMNIST use the "
            "same names as MNIST). Pass verify=False to load it anyway, with its structure "
            "still checked."
        )

"""MNIST from the official IDX files, a prepared TFDS directory or the shipped sample.

Splits of the full dataset (60,000 official training images, 10,000 test images):

=============  ==============================================
``train``      the first 50,000 official training images
``validation`` the last 10,000 official training images
``train_full`` all 60,000 official training images
``test``       the 10,000 official test images
=============  ==============================================

With IDX files "first" and "last" refer to the order in the files. TFDS stores
the examples in its own deterministic shuffle order, and the same positions are
taken in that order, so the IDX and TFDS ``train``/``validation`` splits contain
different images. ``train_full`` and ``test`` contain the same images in a
different order.

The shipped sample contains the first 5,000 training and the first 1,000 test images
in IDX order. Its splits are ``train`` = the first 4,000 of those training images,
``validation`` = the last 1,000, ``train_full`` = all 5,000 and ``test`` = the
1,000 test images.
"""

import json
import os
import pathlib
from typing import NamedTuple

import numpy as np

from sparse_jax.data import _common
from sparse_jax.data.idx import is_gzip_file, read_idx_images, read_idx_labels

SPLITS = ("train", "validation", "train_full", "test")
SOURCES = ("auto", "idx", "tfds", "download", "sample")
TFDS_NAME = "mnist"
TFDS_VERSION = "3.0.1"
SAMPLE_FILE = "mnist_sample.npz"


class Dataset(NamedTuple):
    """One split of MNIST as NumPy arrays, with the source it was read from."""

    images: np.ndarray  # float32 in [0, 1], (n, 784) or (n, 28, 28, 1) when not flattened
    labels: np.ndarray  # int32 (n,), digits 0..9
    source: str  # "idx:<dir>", "tfds:<dir>", "download:<dir>" or "sample"


class _KnownFile(NamedTuple):
    gzip_sha256: str  # of the official .gz file
    idx_sha256: str  # of its decompressed content, for uncompressed copies


# The official MNIST files. The gzip hashes match tensorflow-datasets 4.9.10
# (url_checksums/mnist.txt). The IDX hashes were computed from those files after
# decompression.
_KNOWN_FILES = {
    "train-images-idx3-ubyte": _KnownFile(
        gzip_sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        idx_sha256="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte": _KnownFile(
        gzip_sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        idx_sha256="65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "t10k-images-idx3-ubyte": _KnownFile(
        gzip_sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        idx_sha256="0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte": _KnownFile(
        gzip_sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        idx_sha256="ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

# Image and label file names of each official part, without the optional ".gz".
_IDX_FILE_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_FULL_PART_SIZES = {"train": 60_000, "test": 10_000}


class _SplitRange(NamedTuple):
    part: str  # "train" or "test": the official file, TFDS split or sample array
    start: int
    stop: int


_FULL_SPLITS = {
    "train": _SplitRange("train", 0, 50_000),
    "validation": _SplitRange("train", 50_000, 60_000),
    "train_full": _SplitRange("train", 0, 60_000),
    "test": _SplitRange("test", 0, 10_000),
}
_SAMPLE_SPLITS = {
    "train": _SplitRange("train", 0, 4_000),
    "validation": _SplitRange("train", 4_000, 5_000),
    "train_full": _SplitRange("train", 0, 5_000),
    "test": _SplitRange("test", 0, 1_000),
}


def load_mnist(
    split: str = "train",
    *,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    flatten: bool = True,
    verify: bool = True,
    limit: int | None = None,
) -> Dataset:
    """Loads one MNIST split without network access, unless ``source="download"``.

    Logs one line on the ``sparse_jax.data`` logger naming the source in use.

    Args:
      split: ``"train"``, ``"validation"``, ``"train_full"`` or ``"test"``. The
        module docstring says what each contains.
      source: where to read from.
        ``"idx"``: a directory with the four IDX files, gzipped or not
        (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
        ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``). The
        default directory is ``$SPARSE_JAX_DATA_DIR/mnist``.
        ``"tfds"``: a TFDS data directory with ``mnist/3.0.1/`` prepared in the
        array_record format. The default is ``$SPARSE_JAX_DATA_DIR/tfds/array_record``.
        ``"download"``: let TFDS download and prepare MNIST in ``data_dir`` (or its
        default directory). This needs network access and TensorFlow.
        ``"sample"``: the 5,000 + 1,000 digit sample shipped with the package.
        ``"auto"``: with ``data_dir``, the IDX files in it or else a TFDS data
        directory. Without it, ``$SPARSE_JAX_DATA_DIR/mnist`` if that directory
        exists, else ``$SPARSE_JAX_DATA_DIR/tfds/array_record``. When the variable
        is unset or empty, the shipped sample.
      data_dir: the IDX directory or the TFDS data directory itself, not the
        ``$SPARSE_JAX_DATA_DIR`` root.
      flatten: return images of shape (n, 784) when True, (n, 28, 28, 1) when False.
      verify: check the sha256 of the official IDX files, and raise for a file
        that does not match. False loads any files of the right structure and
        size, such as Fashion-MNIST. Ignored by the other sources.
      limit: when given, return only the first ``limit`` examples of the split.

    Returns:
      ``Dataset(images, labels, source)``: images float32 in [0, 1], labels int32.

    Raises:
      FileNotFoundError: the directory, an IDX file or the TFDS dataset is missing.
      ValueError: an invalid argument, or a file that is truncated, corrupted or
        fails verification.
      TypeError: an argument of the wrong type.
    """
    split = _common.validate_choice("split", split, SPLITS)
    source = _common.validate_choice("source", source, SOURCES)
    data_dir = _common.validate_optional_path("data_dir", data_dir)
    flatten = _common.validate_bool("flatten", flatten)
    verify = _common.validate_bool("verify", verify)
    _validate_limit(limit)

    source, directory = _resolve_source(source, data_dir)
    splits = _SAMPLE_SPLITS if source == "sample" else _FULL_SPLITS
    split_range = _apply_limit(splits[split], limit, split, source)

    images, labels, source_name, description = _read_split(source, directory, split_range, verify)

    images = images.astype(np.float32) / np.float32(255)
    images = images.reshape(len(images), -1) if flatten else images[..., np.newaxis]
    labels = labels.astype(np.int32)
    _common.logger.info("MNIST %r: %s images from %s", split, f"{len(images):,}", description)
    return Dataset(images=images, labels=labels, source=source_name)


def _read_split(source: str, directory: pathlib.Path | None, split_range: _SplitRange, verify):
    """Returns uint8 images (n, 28, 28), labels, the ``Dataset.source`` string and a
    description of the source for the log line."""
    if source == "idx":
        images, labels = _load_idx(directory, split_range, verify)
        check = "sha256 verified" if verify else "sha256 not checked (verify=False)"
        return images, labels, f"idx:{directory}", f"the IDX files in {directory}, {check}"

    if source == "tfds":
        images, labels = _load_tfds(directory, split_range)
        description = f"TFDS {TFDS_NAME} {TFDS_VERSION} in {directory} (TFDS order)"
        return images, labels, f"tfds:{directory}", description

    if source == "download":
        images, labels = _download_tfds(directory, split_range)
        location = directory if directory is not None else "the TFDS default data directory"
        description = f"TFDS {TFDS_NAME} {TFDS_VERSION} downloaded to {location} (TFDS order)"
        return images, labels, f"download:{directory or 'default'}", description

    images, labels = _load_sample(split_range)
    description = (
        "the sample shipped with sparse_jax (5,000 training and 1,000 test digits). "
        + _common.SAMPLE_HINT
    )
    return images, labels, "sample", description


def _validate_limit(limit) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer):
        raise TypeError(f"limit must be an int or None, got {type(limit).__name__}: {limit!r}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


def _apply_limit(split_range: _SplitRange, limit, split: str, source: str) -> _SplitRange:
    if limit is None:
        return split_range
    size = split_range.stop - split_range.start
    if limit > size:
        where = "the shipped sample" if source == "sample" else "MNIST"
        raise ValueError(
            f"limit={limit:,} is larger than split {split!r} of {where}, which has "
            f"{size:,} examples."
        )
    return split_range._replace(stop=split_range.start + int(limit))


def _resolve_source(source: str, data_dir: pathlib.Path | None):
    """Returns the concrete source ("idx", "tfds", "download" or "sample") and its directory."""
    environment_dir = _common.data_dir_from_environment()

    if source == "sample":
        if data_dir is not None:
            raise ValueError(
                f"data_dir is not used with source='sample', got data_dir={str(data_dir)!r}. "
                "Pass source='auto', 'idx' or 'tfds' to load from it."
            )
        return "sample", None
    if source == "download":
        return "download", data_dir
    if source in ("idx", "tfds"):
        return source, _explicit_directory(source, data_dir, environment_dir)

    if data_dir is not None:
        return _detect_directory_format(data_dir), data_dir
    if environment_dir is None:
        return "sample", None
    if (environment_dir / "mnist").is_dir():
        return "idx", environment_dir / "mnist"
    if (environment_dir / "tfds" / "array_record").is_dir():
        return "tfds", environment_dir / "tfds" / "array_record"
    raise FileNotFoundError(
        f"MNIST not found under {_common.DATA_DIR_VARIABLE}={environment_dir}: neither "
        f"{environment_dir / 'mnist'} (IDX files) nor {environment_dir / 'tfds' / 'array_record'} "
        f"(TFDS {TFDS_NAME} {TFDS_VERSION}) exists. Put the data there, or unset "
        f"{_common.DATA_DIR_VARIABLE} to use the shipped sample."
    )


def _explicit_directory(source, data_dir, environment_dir) -> pathlib.Path:
    if data_dir is not None:
        return data_dir
    subdirectory = "mnist" if source == "idx" else "tfds/array_record"
    if environment_dir is None:
        raise ValueError(
            f"source={source!r} needs data_dir= or {_common.DATA_DIR_VARIABLE}, and neither "
            f"is set. data_dir is the directory itself, and {_common.DATA_DIR_VARIABLE} is "
            f"the root that contains {subdirectory}/."
        )
    return environment_dir / subdirectory


def _detect_directory_format(data_dir: pathlib.Path) -> str:
    """Returns "idx" when data_dir has an MNIST IDX file, "tfds" when it has mnist/."""
    idx_names = [name for names in _IDX_FILE_NAMES.values() for name in names]
    if any(_find_idx_file(data_dir, name) is not None for name in idx_names):
        return "idx"
    if (data_dir / TFDS_NAME).is_dir():
        return "tfds"
    raise FileNotFoundError(
        f"No MNIST data found in {data_dir}: it has neither the IDX files "
        "(train-images-idx3-ubyte[.gz] and the other three) nor the mnist/ folder of a "
        f"TFDS data directory. data_dir must be one of those directories, not the "
        f"{_common.DATA_DIR_VARIABLE} root that contains mnist/ and tfds/array_record/."
    )


def _find_idx_file(directory: pathlib.Path, name: str) -> pathlib.Path | None:
    """Returns ``name.gz`` or ``name`` in directory, preferring the gzipped file."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _load_idx(directory: pathlib.Path, split_range: _SplitRange, verify: bool):
    if not directory.is_dir():
        raise FileNotFoundError(
            f"MNIST IDX directory not found: {directory}. Point data_dir= at the directory "
            f"that contains the IDX files, or set {_common.DATA_DIR_VARIABLE} to the root "
            "that contains mnist/."
        )
    image_name, label_name = _IDX_FILE_NAMES[split_range.part]
    image_path = _find_idx_file(directory, image_name)
    label_path = _find_idx_file(directory, label_name)
    missing = [
        name for name, path in ((image_name, image_path), (label_name, label_path)) if not path
    ]
    if missing:
        listed = ", ".join(f"{name}[.gz]" for name in missing)
        raise FileNotFoundError(
            f"MNIST IDX files for the {split_range.part} part not found in {directory}: "
            f"{listed}. Copy the official files there, gzipped or not."
        )

    images = read_idx_images(
        image_path, verify=verify, expected_sha256=_expected_sha256(image_path, image_name)
    )
    labels = read_idx_labels(
        label_path, verify=verify, expected_sha256=_expected_sha256(label_path, label_name)
    )
    expected_count = _FULL_PART_SIZES[split_range.part]
    if len(images) != expected_count or len(labels) != expected_count:
        raise ValueError(
            f"{image_path} has {len(images):,} images and {label_path} has "
            f"{len(labels):,} labels, expected {expected_count:,} each for the MNIST "
            f"{split_range.part} part."
        )
    if labels.max() > 9:
        raise ValueError(f"{label_path}: labels must be digits 0..9, found {labels.max()}.")
    return images[split_range.start : split_range.stop], labels[
        split_range.start : split_range.stop
    ]


def _expected_sha256(path: pathlib.Path, name: str) -> str:
    known = _KNOWN_FILES[name]
    return known.gzip_sha256 if is_gzip_file(path) else known.idx_sha256


def _check_tfds_directory(directory: pathlib.Path, part: str) -> pathlib.Path:
    """Returns the mnist/3.0.1 folder after checking it locally, so TFDS never looks
    for the dataset elsewhere."""
    version_dir = directory / TFDS_NAME / TFDS_VERSION
    info_path = version_dir / "dataset_info.json"
    if not info_path.is_file():
        dataset_dir = directory / TFDS_NAME
        versions = sorted(p.name for p in dataset_dir.iterdir()) if dataset_dir.is_dir() else []
        present = f" (versions present: {', '.join(versions)})" if versions else ""
        raise FileNotFoundError(
            f"TFDS dataset {TFDS_NAME} version {TFDS_VERSION} not found in {directory}: "
            f"{info_path} does not exist{present}. Point data_dir= (or "
            f"{_common.DATA_DIR_VARIABLE}/tfds/array_record) at a TFDS data directory where "
            f"{TFDS_NAME} {TFDS_VERSION} was prepared with file_format='array_record', or "
            "pass source='download' to let TFDS download and prepare it."
        )

    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{info_path}: cannot read the TFDS dataset info ({error}).") from error
    # TFDS writes no fileFormat for the default tfrecord format.
    formats = {info.get("fileFormat", "tfrecord"), *info.get("alternativeFileFormats", [])}
    if "array_record" not in formats:
        raise ValueError(
            f"TFDS dataset {TFDS_NAME} {TFDS_VERSION} in {version_dir} is stored as "
            f"{', '.join(sorted(formats))}, but random access needs array_record. Prepare "
            f"it again with tfds.builder({TFDS_NAME!r}, data_dir=..., "
            "file_format='array_record').download_and_prepare()."
        )
    if not any(version_dir.glob(f"{TFDS_NAME}-{part}.array_record-*")):
        raise FileNotFoundError(
            f"TFDS dataset {TFDS_NAME} {TFDS_VERSION} in {version_dir} has no array_record "
            f"files for the {part} split ({TFDS_NAME}-{part}.array_record-*)."
        )
    return version_dir


def _load_tfds(directory: pathlib.Path, split_range: _SplitRange):
    version_dir = _check_tfds_directory(directory, split_range.part)
    import tensorflow_datasets as tfds

    builder = tfds.builder_from_directory(version_dir)
    data_source = builder.as_data_source(split=_tfds_split(split_range), file_format="array_record")
    return _decode_examples(data_source)


def _download_tfds(directory: pathlib.Path | None, split_range: _SplitRange):
    # NOTE: not covered by the tests, which run offline. Preparing MNIST needs
    # TensorFlow besides tensorflow-datasets (TFDS 4.9 decompresses and encodes
    # the images with it).
    import tensorflow_datasets as tfds

    data_source = tfds.data_source(
        f"{TFDS_NAME}:{TFDS_VERSION}",
        split=_tfds_split(split_range),
        data_dir=directory,
        download=True,
        builder_kwargs={"file_format": "array_record"},
    )
    return _decode_examples(data_source)


def _tfds_split(split_range: _SplitRange) -> str:
    return f"{split_range.part}[{split_range.start}:{split_range.stop}]"


def _decode_examples(data_source):
    # One batched read took a third of the time of indexing example by example
    # (5,000 examples, TFDS 4.9.10, 2 CPU cores).
    examples = data_source.__getitems__(list(range(len(data_source))))
    images = np.stack([example["image"][..., 0] for example in examples])
    labels = np.array([example["label"] for example in examples])
    return images, labels


def _load_sample(split_range: _SplitRange):
    arrays = _common.load_sample(SAMPLE_FILE)
    images = arrays[f"{split_range.part}_images"][split_range.start : split_range.stop]
    labels = arrays[f"{split_range.part}_labels"][split_range.start : split_range.stop]
    return images, labels

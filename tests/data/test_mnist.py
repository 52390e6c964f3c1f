"""Tests for the MNIST loader and the IDX reader.

Tests marked ``full_data`` need SPARSE_JAX_DATA_DIR and are skipped without it.
Tests that take ``connection_attempts`` replace the socket functions with ones
that raise and record the call, so they prove the loader stays offline.
"""

import gzip
import logging
import shutil
import socket
import struct
import threading

import numpy as np
import pytest

from sparse_jax.data import DATA_DIR_VARIABLE, load_mnist, read_idx_images, read_idx_labels

TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
HANG_TIMEOUT_SECONDS = 120

full_data = pytest.mark.full_data


def run_with_hang_guard(function):
    """Calls function in a thread and fails the test if it has not returned in 120 s.

    A loader that waits on the network hangs instead of failing, so this turns a
    hang into a test failure without asserting on the duration of a normal run.
    """
    outcome = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as error:  # re-raised in the test thread below
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_TIMEOUT_SECONDS)
    if thread.is_alive():
        pytest.fail(f"the loader did not return within {HANG_TIMEOUT_SECONDS} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def connection_attempts(monkeypatch):
    """Makes every socket connection and name lookup raise, and records each attempt."""
    attempts = []

    def reject_connection(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access is disabled in this test")

    for name in ("create_connection", "getaddrinfo", "gethostbyname"):
        monkeypatch.setattr(socket, name, reject_connection)
    monkeypatch.setattr(socket.socket, "connect", reject_connection)
    monkeypatch.setattr(socket.socket, "connect_ex", reject_connection)
    return attempts


@pytest.fixture
def no_data_dir_variable(monkeypatch):
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)


def idx_image_bytes(images: np.ndarray, *, magic: int = 2051, rows: int = 28) -> bytes:
    header = struct.pack(">4I", magic, len(images), rows, 28)
    return header + images.astype(np.uint8).tobytes()


def idx_label_bytes(labels: np.ndarray) -> bytes:
    return struct.pack(">2I", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def random_images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def data_log_messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "sparse_jax.data"]


# --- Shipped sample ---------------------------------------------------------


def test_sample_loads_without_environment(no_data_dir_variable, caplog):
    caplog.set_level(logging.INFO, logger="sparse_jax.data")

    dataset = load_mnist("train")

    assert dataset.source == "sample"
    assert dataset.images.shape == (4_000, 784)
    assert dataset.images.dtype == np.float32
    assert dataset.labels.shape == (4_000,)
    assert dataset.labels.dtype == np.int32
    assert dataset.images.min() >= 0.0
    assert dataset.images.max() <= 1.0
    assert set(np.unique(dataset.labels)) == set(range(10))

    messages = data_log_messages(caplog)
    assert len(messages) == 1
    assert "sample" in messages[0]
    assert DATA_DIR_VARIABLE in messages[0]
    assert "data_dir=" in messages[0]


@pytest.mark.parametrize(
    ("split", "size"),
    [("train", 4_000), ("validation", 1_000), ("train_full", 5_000), ("test", 1_000)],
)
def test_sample_split_sizes(no_data_dir_variable, split, size):
    dataset = load_mnist(split, source="sample")

    assert dataset.images.shape == (size, 784)
    assert dataset.labels.shape == (size,)


def test_sample_train_and_validation_partition_train_full():
    train_full = load_mnist("train_full", source="sample")
    train = load_mnist("train", source="sample")
    validation = load_mnist("validation", source="sample")

    np.testing.assert_array_equal(train.images, train_full.images[:4_000])
    np.testing.assert_array_equal(validation.images, train_full.images[4_000:])
    np.testing.assert_array_equal(validation.labels, train_full.labels[4_000:])


def test_unflattened_images_shape():
    dataset = load_mnist("test", source="sample", flatten=False)

    assert dataset.images.shape == (1_000, 28, 28, 1)
    assert dataset.images.dtype == np.float32


def test_limit_takes_first_examples():
    validation = load_mnist("validation", source="sample")
    first = load_mnist("validation", source="sample", limit=10)

    np.testing.assert_array_equal(first.images, validation.images[:10])
    np.testing.assert_array_equal(first.labels, validation.labels[:10])


def test_limit_larger_than_split_raises():
    with pytest.raises(ValueError, match=r"limit=1,001 .*'validation'.*1,000 examples"):
        load_mnist("validation", source="sample", limit=1_001)


@pytest.mark.parametrize(
    ("arguments", "error", "pattern"),
    [
        ({"split": "training"}, ValueError, r"split must be one of .*'training'"),
        ({"source": "web"}, ValueError, r"source must be one of .*'web'"),
        ({"flatten": 1}, TypeError, r"flatten must be a bool, got int"),
        ({"verify": "no"}, TypeError, r"verify must be a bool, got str"),
        ({"limit": 0}, ValueError, r"limit must be at least 1, got 0"),
        ({"limit": 2.5}, TypeError, r"limit must be an int or None, got float"),
        ({"limit": True}, TypeError, r"limit must be an int or None, got bool"),
        ({"data_dir": 3}, TypeError, r"data_dir must be a str, os.PathLike or None, got int"),
        ({"source": "sample", "data_dir": "/data"}, ValueError, r"data_dir is not used"),
    ],
)
def test_invalid_arguments_raise(arguments, error, pattern):
    with pytest.raises(error, match=pattern):
        load_mnist(**arguments)


def test_idx_source_without_directory_raises(no_data_dir_variable):
    with pytest.raises(ValueError, match=rf"source='idx' needs data_dir= or {DATA_DIR_VARIABLE}"):
        load_mnist(source="idx")


def test_auto_with_empty_environment_directory_raises(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))

    with pytest.raises(FileNotFoundError, match="MNIST not found") as raised:
        load_mnist()
    assert str(tmp_path / "mnist") in str(raised.value)
    assert str(tmp_path / "tfds" / "array_record") in str(raised.value)


def test_auto_with_unrecognised_data_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="No MNIST data found") as raised:
        load_mnist(data_dir=tmp_path)
    assert str(tmp_path) in str(raised.value)


# --- IDX reader --------------------------------------------------------------


def test_idx_gzip_detected_by_content(tmp_path):
    images = random_images(7)
    labels = np.arange(7, dtype=np.uint8)
    # The names are swapped on purpose: detection must use the gzip magic bytes.
    raw_image_path = tmp_path / "images-idx3-ubyte.gz"
    gzipped_image_path = tmp_path / "images-idx3-ubyte"
    raw_image_path.write_bytes(idx_image_bytes(images))
    gzipped_image_path.write_bytes(gzip.compress(idx_image_bytes(images)))
    raw_label_path = tmp_path / "labels-idx1-ubyte"
    gzipped_label_path = tmp_path / "labels-idx1-ubyte.gz"
    raw_label_path.write_bytes(idx_label_bytes(labels))
    gzipped_label_path.write_bytes(gzip.compress(idx_label_bytes(labels)))

    for path in (raw_image_path, gzipped_image_path):
        loaded = read_idx_images(path)
        assert loaded.dtype == np.uint8
        np.testing.assert_array_equal(loaded, images)
    for path in (raw_label_path, gzipped_label_path):
        np.testing.assert_array_equal(read_idx_labels(path), labels)


def test_idx_truncated_file_names_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_image_bytes(random_images(3))[:1_000])

    with pytest.raises(ValueError, match=r"expected 2,368 bytes, got 1,000") as raised:
        read_idx_images(path)
    assert str(path) in str(raised.value)


def test_idx_truncated_gzip_names_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_image_bytes(random_images(3)))[:500])

    with pytest.raises(ValueError, match="gzip decompression failed") as raised:
        read_idx_images(path)
    assert str(path) in str(raised.value)


def test_idx_decompressed_length_mismatch(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    content = idx_image_bytes(random_images(3))
    path.write_bytes(gzip.compress(content[:1_000]))

    with pytest.raises(ValueError, match=r"expected 2,368 bytes after decompression, got 1,000"):
        read_idx_images(path)


def test_idx_trailing_bytes_raise(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_label_bytes(np.arange(5)) + b"\x00")

    with pytest.raises(ValueError, match="longer than its header says"):
        read_idx_labels(path)


def test_idx_short_header_raises(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(b"\x00\x00\x08")

    with pytest.raises(ValueError, match="shorter than the 16-byte IDX image header"):
        read_idx_images(path)


def test_idx_wrong_magic_raises(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_image_bytes(random_images(2), magic=2050))

    with pytest.raises(ValueError, match="invalid magic number 2050, expected 2051"):
        read_idx_images(path)


def test_idx_label_file_as_images_raises(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_label_bytes(np.arange(30)))

    with pytest.raises(ValueError, match=r"magic number 2049 \(an IDX label file\)"):
        read_idx_images(path)


def test_idx_image_size_other_than_28_raises(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_image_bytes(random_images(2), rows=32))

    with pytest.raises(ValueError, match="images are 32 x 28, expected 28 x 28"):
        read_idx_images(path)


def test_idx_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        read_idx_images(tmp_path / "absent")


def test_idx_expected_sha256(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_label_bytes(np.arange(5)))
    wrong_hash = "0" * 64

    with pytest.raises(ValueError, match="sha256 mismatch") as raised:
        read_idx_labels(path, expected_sha256=wrong_hash)
    message = str(raised.value)
    assert str(path) in message
    assert wrong_hash in message
    assert "verify=False" in message

    np.testing.assert_array_equal(
        read_idx_labels(path, expected_sha256=wrong_hash, verify=False), np.arange(5)
    )


def test_idx_invalid_expected_sha256_raises(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_label_bytes(np.arange(5)))

    with pytest.raises(ValueError, match="expected_sha256 must be 64 hex digits"):
        read_idx_labels(path, expected_sha256="abc")


def test_fashion_like_files_load_without_verification(tmp_path):
    """Random files with MNIST structure and names stand in for Fashion-MNIST."""
    images = random_images(10_000, seed=1)
    labels = np.random.default_rng(2).integers(0, 10, size=10_000).astype(np.uint8)
    image_path = tmp_path / "t10k-images-idx3-ubyte.gz"
    label_path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    image_path.write_bytes(gzip.compress(idx_image_bytes(images), compresslevel=1))
    label_path.write_bytes(gzip.compress(idx_label_bytes(labels), compresslevel=1))

    np.testing.assert_array_equal(read_idx_images(image_path), images)

    with pytest.raises(ValueError, match="sha256 mismatch") as raised:
        load_mnist("test", source="idx", data_dir=tmp_path)
    assert str(image_path) in str(raised.value)

    dataset = load_mnist("test", source="idx", data_dir=tmp_path, verify=False)
    np.testing.assert_array_equal(dataset.labels, labels)
    np.testing.assert_allclose(dataset.images[0], images[0].reshape(-1) / 255, rtol=1e-6)


def test_idx_directory_missing_files_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte") as raised:
        load_mnist("test", source="idx", data_dir=tmp_path)
    assert str(tmp_path) in str(raised.value)


def test_idx_wrong_count_raises(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_image_bytes(random_images(20)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_label_bytes(np.zeros(20)))

    with pytest.raises(ValueError, match="expected 10,000 each"):
        load_mnist("test", source="idx", data_dir=tmp_path, verify=False)


# --- TFDS directory checks (no data needed) --------------------------------


def test_tfds_empty_directory_error_names_dataset(tmp_path, connection_attempts):
    with pytest.raises(FileNotFoundError) as raised:
        run_with_hang_guard(lambda: load_mnist("test", source="tfds", data_dir=tmp_path))

    message = str(raised.value)
    assert "mnist" in message
    assert "3.0.1" in message
    assert str(tmp_path) in message
    assert "source='download'" in message
    assert connection_attempts == []


def test_tfds_other_version_is_listed(tmp_path):
    (tmp_path / "mnist" / "3.0.0").mkdir(parents=True)

    with pytest.raises(FileNotFoundError, match=r"versions present: 3\.0\.0"):
        load_mnist("test", source="tfds", data_dir=tmp_path)


def test_tfds_tfrecord_directory_raises(tmp_path):
    version_dir = tmp_path / "mnist" / "3.0.1"
    version_dir.mkdir(parents=True)
    (version_dir / "dataset_info.json").write_text('{"name": "mnist", "version": "3.0.1"}')

    with pytest.raises(ValueError, match="random access needs array_record"):
        load_mnist("test", source="tfds", data_dir=tmp_path)


# --- Full data ---------------------------------------------------------------


@full_data
def test_full_idx_label_counts_offline(data_dir, connection_attempts):
    mnist_dir = data_dir / "mnist"

    train = run_with_hang_guard(lambda: load_mnist("train_full", source="idx", data_dir=mnist_dir))
    test = run_with_hang_guard(lambda: load_mnist("test", source="idx", data_dir=mnist_dir))

    assert np.bincount(train.labels).tolist() == TRAIN_LABEL_COUNTS
    assert np.bincount(test.labels).tolist() == TEST_LABEL_COUNTS
    assert connection_attempts == []


@full_data
def test_full_idx_splits(data_dir):
    mnist_dir = data_dir / "mnist"
    train_full = load_mnist("train_full", source="idx", data_dir=mnist_dir)
    train = load_mnist("train", source="idx", data_dir=mnist_dir)
    validation = load_mnist("validation", source="idx", data_dir=mnist_dir)
    test = load_mnist("test", source="idx", data_dir=mnist_dir, flatten=False)

    assert train_full.images.shape == (60_000, 784)
    assert train.images.shape == (50_000, 784)
    assert validation.images.shape == (10_000, 784)
    assert test.images.shape == (10_000, 28, 28, 1)
    np.testing.assert_array_equal(train.labels, train_full.labels[:50_000])
    np.testing.assert_array_equal(validation.labels, train_full.labels[50_000:])
    assert train_full.source == f"idx:{mnist_dir}"


@full_data
def test_full_idx_values(data_dir):
    dataset = load_mnist("test", source="idx", data_dir=data_dir / "mnist")

    assert dataset.images.dtype == np.float32
    assert dataset.labels.dtype == np.int32
    assert dataset.images.min() == 0.0
    assert dataset.images.max() == 1.0


@full_data
def test_full_uncompressed_copies_verify(data_dir, tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(data_dir / "mnist" / f"{name}.gz", "rb") as source:
            (tmp_path / name).write_bytes(source.read())

    uncompressed = load_mnist("test", source="idx", data_dir=tmp_path)
    gzipped = load_mnist("test", source="idx", data_dir=data_dir / "mnist")

    np.testing.assert_array_equal(uncompressed.images, gzipped.images)
    np.testing.assert_array_equal(uncompressed.labels, gzipped.labels)


@full_data
def test_full_flipped_byte_fails_verification(data_dir, tmp_path):
    shutil.copy(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz", tmp_path)
    with gzip.open(data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz", "rb") as source:
        content = bytearray(source.read())
    content[8] = (content[8] + 1) % 10  # the first label, 7 in the official file
    label_path = tmp_path / "t10k-labels-idx1-ubyte"
    label_path.write_bytes(bytes(content))

    with pytest.raises(ValueError, match="sha256 mismatch") as raised:
        load_mnist("test", source="idx", data_dir=tmp_path)
    message = str(raised.value)
    assert str(label_path) in message
    assert "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" in message
    assert "verify=False" in message

    dataset = load_mnist("test", source="idx", data_dir=tmp_path, verify=False)
    assert dataset.labels[0] == content[8]


@full_data
def test_full_changed_gzip_header_fails_verification(data_dir, tmp_path):
    shutil.copy(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz", tmp_path)
    content = bytearray((data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    content[4] ^= 0xFF  # a gzip modification-time byte, labels unchanged
    label_path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    label_path.write_bytes(bytes(content))

    with pytest.raises(ValueError, match="sha256 mismatch") as raised:
        load_mnist("test", source="idx", data_dir=tmp_path)
    assert "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6" in str(raised.value)

    dataset = load_mnist("test", source="idx", data_dir=tmp_path, verify=False)
    assert np.bincount(dataset.labels).tolist() == TEST_LABEL_COUNTS


@full_data
def test_full_tfds_slice_offline(data_dir, connection_attempts):
    tfds_dir = data_dir / "tfds" / "array_record"

    dataset = run_with_hang_guard(
        lambda: load_mnist("test", source="tfds", data_dir=tfds_dir, limit=300)
    )

    assert connection_attempts == []
    assert dataset.source == f"tfds:{tfds_dir}"
    assert dataset.images.shape == (300, 784)
    assert dataset.images.dtype == np.float32
    assert dataset.labels.dtype == np.int32
    assert dataset.images.min() >= 0.0
    assert dataset.images.max() <= 1.0

    # TFDS keeps its own order, so match each image to the IDX test set by content.
    idx_images = read_idx_images(data_dir / "mnist" / "t10k-images-idx3-ubyte.gz")
    idx_labels = read_idx_labels(data_dir / "mnist" / "t10k-labels-idx1-ubyte.gz")
    label_by_image = {
        image.tobytes(): label for image, label in zip(idx_images, idx_labels, strict=True)
    }
    tfds_bytes = np.rint(dataset.images * 255).astype(np.uint8)
    matched_labels = [label_by_image.get(image.tobytes()) for image in tfds_bytes]
    assert None not in matched_labels
    assert matched_labels == dataset.labels.tolist()


@full_data
def test_full_tfds_validation_slice(data_dir, connection_attempts):
    tfds_dir = data_dir / "tfds" / "array_record"

    dataset = run_with_hang_guard(
        lambda: load_mnist("validation", source="tfds", data_dir=tfds_dir, flatten=False, limit=200)
    )

    assert connection_attempts == []
    assert dataset.images.shape == (200, 28, 28, 1)
    assert dataset.labels.min() >= 0
    assert dataset.labels.max() <= 9


@full_data
def test_full_auto_uses_environment_idx(data_dir, monkeypatch, caplog):
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(data_dir))
    caplog.set_level(logging.INFO, logger="sparse_jax.data")

    dataset = load_mnist("test", limit=10)

    assert dataset.source == f"idx:{data_dir / 'mnist'}"
    messages = data_log_messages(caplog)
    assert len(messages) == 1
    assert "IDX files" in messages[0]
    assert "sample" not in messages[0]


@full_data
def test_full_auto_falls_back_to_tfds(data_dir, monkeypatch, tmp_path, connection_attempts):
    (tmp_path / "tfds").mkdir()
    (tmp_path / "tfds" / "array_record").symlink_to(data_dir / "tfds" / "array_record")
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))

    dataset = run_with_hang_guard(lambda: load_mnist("test", limit=20))

    assert dataset.source == f"tfds:{tmp_path / 'tfds' / 'array_record'}"
    assert dataset.images.shape == (20, 784)
    assert connection_attempts == []


@full_data
def test_full_sample_matches_first_idx_images(data_dir):
    for split, count in (("train_full", 5_000), ("test", 1_000)):
        full = load_mnist(split, source="idx", data_dir=data_dir / "mnist", limit=count)
        sample = load_mnist(split, source="sample")
        np.testing.assert_array_equal(sample.images, full.images)
        np.testing.assert_array_equal(sample.labels, full.labels)


@full_data
def test_full_auto_detects_data_dir_format(data_dir, connection_attempts):
    tfds_dir = data_dir / "tfds" / "array_record"

    from_tfds = run_with_hang_guard(lambda: load_mnist("test", data_dir=str(tfds_dir), limit=5))
    from_idx = load_mnist("test", data_dir=str(data_dir / "mnist"), limit=5)

    assert from_tfds.source == f"tfds:{tfds_dir}"
    assert from_idx.source == f"idx:{data_dir / 'mnist'}"
    assert connection_attempts == []

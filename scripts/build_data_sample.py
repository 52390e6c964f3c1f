"""Builds the dataset samples shipped in sparse_jax/data/sample from the full data.

Usage:
  python scripts/build_data_sample.py --data-dir /path/to/data

The data directory must contain ``mnist/`` (the four official IDX files) and
``olshausen/IMAGES.npy``. The script writes:

* ``mnist_sample.npz``: the first 5,000 training and the first 1,000 test images
  in IDX order, as ``train_images`` (5000, 28, 28), ``train_labels`` (5000,),
  ``test_images`` (1000, 28, 28) and ``test_labels`` (1000,), all uint8.
* ``natural_images_sample.npz``: ``images``, float32 (10, 128, 128), the
  top-left 128 x 128 crop of each whitened natural image.

The MNIST files are checked against the official sha256 before use.
"""

import argparse
import os
import pathlib

import numpy as np

from sparse_jax.data import DATA_DIR_VARIABLE, load_mnist, load_natural_images

MNIST_TRAIN_COUNT = 5_000
MNIST_TEST_COUNT = 1_000
CROP_SIZE = 128
MAX_TOTAL_BYTES = 2_500_000  # keeps the installed package small

DEFAULT_OUTPUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "sparse_jax" / "data" / "sample"


def mnist_as_uint8(split: str, count: int, data_dir: pathlib.Path):
    """Reads the first ``count`` images of an MNIST split as uint8 grey levels."""
    dataset = load_mnist(split, source="idx", data_dir=data_dir, flatten=False, limit=count)
    # load_mnist divides by 255 in float32, and rounding recovers the stored bytes exactly.
    images = np.rint(dataset.images[..., 0] * 255).astype(np.uint8)
    return images, dataset.labels.astype(np.uint8)


def build(data_dir: pathlib.Path, output_dir: pathlib.Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)

    train_images, train_labels = mnist_as_uint8("train_full", MNIST_TRAIN_COUNT, data_dir / "mnist")
    test_images, test_labels = mnist_as_uint8("test", MNIST_TEST_COUNT, data_dir / "mnist")
    mnist_path = output_dir / "mnist_sample.npz"
    np.savez_compressed(
        mnist_path,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
    )

    natural_images = load_natural_images(source="file", data_dir=data_dir / "olshausen")
    crops = np.ascontiguousarray(natural_images[:, :CROP_SIZE, :CROP_SIZE], dtype=np.float32)
    natural_path = output_dir / "natural_images_sample.npz"
    np.savez_compressed(natural_path, images=crops)

    total = 0
    for path in (mnist_path, natural_path):
        size = path.stat().st_size
        total += size
        print(f"wrote {path} ({size:,} bytes)")
    if total > MAX_TOTAL_BYTES:
        raise SystemExit(
            f"samples total {total:,} bytes, more than the {MAX_TOTAL_BYTES:,} allowed"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=pathlib.Path,
        default=os.environ.get(DATA_DIR_VARIABLE),
        help=f"directory with mnist/ and olshausen/ (default: ${DATA_DIR_VARIABLE})",
    )
    parser.add_argument(
        "--output-dir",
        type=pathlib.Path,
        default=DEFAULT_OUTPUT_DIR,
        help="where to write the .npz files (default: sparse_jax/data/sample)",
    )
    arguments = parser.parse_args()
    if arguments.data_dir is None:
        parser.error(f"pass --data-dir or set {DATA_DIR_VARIABLE}")
    build(pathlib.Path(arguments.data_dir), arguments.output_dir)


if __name__ == "__main__":
    main()

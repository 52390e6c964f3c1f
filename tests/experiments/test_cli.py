"""Tests of the command-line helpers shared by the experiment scripts."""

import logging

from absl import logging as absl_logging

from experiments import _cli


def test_quiet_library_logs_drops_only_library_info_records():
    logger = absl_logging.get_absl_logger()
    before = list(logger.filters)
    try:
        _cli.quiet_library_logs()
        added = [f for f in logger.filters if f not in before]
        assert len(added) == 1

        def record(level, path):
            return logging.LogRecord("absl", level, path, 1, "message", None, None)

        keep = added[0]
        assert not keep(record(logging.INFO, "/site-packages/orbax/checkpoint/a.py"))
        assert keep(record(logging.WARNING, "/site-packages/orbax/checkpoint/a.py"))
        assert keep(record(logging.INFO, "/work/experiments/topographic_map/train.py"))
        assert keep(record(logging.INFO, "/work/sparse_jax/data/natural_images.py"))
    finally:
        for item in list(logger.filters):
            if item not in before:
                logger.removeFilter(item)

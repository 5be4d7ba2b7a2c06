"""Imports every module that registers gin configurables, so any gin file parses."""
# pylint: disable=unused-import
import zoo.data  # noqa: F401
import zoo.models  # noqa: F401
import zoo.posteriors  # noqa: F401
import zoo.training  # noqa: F401

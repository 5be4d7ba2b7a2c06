"""Encoder and decoder networks (conv64 of the large-scale study, MLP, split encoder).

Models name their encoder by one of ENCODERS (the four `gin_configs/encoders/*.gin` files) and
may override its settings; `encoder_settings` and `decoder_settings` resolve a name and its
options into every keyword argument of `build_encoder` / `build_decoder`.
"""
import inspect

from common import validation
from zoo.networks.decoders import DECODER_KINDS, build_decoder
from zoo.networks.encoders import ENCODER_KINDS, build_encoder

# Encoder name -> what it fixes: the trunk (`kind`), shared or split, and settings that differ
# from build_encoder's defaults. The same as the files gin_configs/encoders/<name>.gin.
ENCODERS = {
    "conv64": {"kind": "conv64", "split": False},
    "conv64_split": {"kind": "conv64", "split": True, "branch_units": 64},
    "mlp": {"kind": "mlp", "split": False, "mlp_hidden_units": (256,), "deep_units": 256},
    "mlp_split": {"kind": "mlp", "split": True, "mlp_hidden_units": (256,), "branch_units": 32},
}
ENCODER_NAMES = tuple(ENCODERS)


def defaults_of(fn, skip=()):
  """{parameter: default} of `fn`'s parameters that have a default, but those in `skip`."""
  return {p.name: p.default for p in inspect.signature(fn).parameters.values()
          if p.name not in skip and p.default is not inspect.Parameter.empty}


# The settings a caller may override, with build_encoder's / build_decoder's defaults.
ENCODER_OPTIONS = defaults_of(build_encoder, ("kind", "split"))
DECODER_OPTIONS = defaults_of(build_decoder, ("kind",))


def encoder_settings(encoder, options=None):
  """Every keyword argument of `build_encoder` for encoder name `encoder` and its overrides.

  Args:
    encoder: one of ENCODER_NAMES.
    options: dict overriding some of ENCODER_OPTIONS (branch_units, mlp_hidden_units,
      deep_units).
  """
  validation.one_of(encoder, ENCODER_NAMES, "encoder")
  settings = dict(ENCODER_OPTIONS)
  settings.update(ENCODERS[encoder])
  settings.update(validation.options(options, ENCODER_OPTIONS, "encoder_options"))
  settings["mlp_hidden_units"] = tuple(settings["mlp_hidden_units"])
  return settings


def decoder_settings(decoder, options=None):
  """Every keyword argument of `build_decoder` (but the shape) for `decoder` and its overrides.

  Args:
    decoder: one of DECODER_KINDS ("conv64", "mlp").
    options: dict overriding some of DECODER_OPTIONS (mlp_hidden_units).
  """
  validation.one_of(decoder, DECODER_KINDS, "decoder")
  settings = dict(DECODER_OPTIONS, kind=decoder)
  settings.update(validation.options(options, DECODER_OPTIONS, "decoder_options"))
  settings["mlp_hidden_units"] = tuple(settings["mlp_hidden_units"])
  return settings


__all__ = ["DECODER_KINDS", "DECODER_OPTIONS", "ENCODERS", "ENCODER_KINDS", "ENCODER_NAMES",
           "ENCODER_OPTIONS", "build_decoder", "defaults_of", "build_encoder", "decoder_settings",
           "encoder_settings"]

"""Encoder and decoder networks (conv64 of the large-scale study, MLP, split encoder)."""
from zoo.networks.decoders import build_decoder
from zoo.networks.encoders import build_encoder

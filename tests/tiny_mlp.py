"""The smallest MLP encoder/decoder and Gaussian likelihood: models that train on the
linear_gaussian vectors in a fraction of a second per step, for tests of everything around them."""

TINY_MLP_BINDINGS = [
    "encoder.kind = 'mlp'",
    "encoder.mlp_hidden_units = (32,)",
    "encoder.deep_units = 32",
    "decoder.kind = 'mlp'",
    "decoder.mlp_hidden_units = (32,)",
    "likelihood.name = 'gaussian'",
]
